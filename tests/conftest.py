"""Puts ``tests/`` on ``sys.path`` (pytest's default import mode inserts the directory of every conftest.py
without an ``__init__.py``), so that every test folder imports the shared helpers as ``from support import``; and the fixtures of every folder."""

import signal

import pytest


@pytest.fixture
def python_sigint():
    """Python's own Ctrl-C handling (``KeyboardInterrupt``) in this process while a test raises SIGINT here, also
    where pytest was started with SIGINT ignored (a shell's background job): a command leaves an ignored SIGINT
    ignored."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)
