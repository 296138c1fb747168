"""Puts ``tests/`` on ``sys.path`` (pytest's default import mode inserts the directory of every conftest.py
without an ``__init__.py``), so that every test folder imports the shared helpers as ``from support import``;
leaves no lossatlas setting of the environment in place; holds the fixtures every folder uses."""

import os
import signal

import pytest

# The tests set the lossatlas settings they use: none comes from the shell that runs them (an operator's
# LOSSATLAS_HOST=0.0.0.0, LOSSATLAS_TOKEN or LOSSATLAS_RAY_ADDRESS changed what serve, workers and jobs do)
for _name in [name for name in os.environ if name.startswith("LOSSATLAS_")]:
    del os.environ[_name]


@pytest.fixture
def python_sigint():
    """Python's own Ctrl-C handling (``KeyboardInterrupt``) in this process while a test raises SIGINT here, also
    where pytest was started with SIGINT ignored (a shell's background job): a command leaves an ignored SIGINT
    ignored."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)
