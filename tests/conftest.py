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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist's ``--dist loadgroup`` (``make test`` runs the suite on every core), one worker runs a
    whole module, so its module-scoped fixtures (a Ray instance, a server) start once; and one worker runs every
    module that starts Ray (``test_ray_*``): they count this machine's Ray actors and a ``ray start`` records
    itself as the machine's cluster, which another module's Ray would join or count."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        module = item.path.stem
        item.add_marker(pytest.mark.xdist_group("ray" if module.startswith("test_ray_") else str(item.path)))
