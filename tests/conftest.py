"""Puts ``tests/`` on ``sys.path`` (pytest's default import mode inserts the directory of every conftest.py
without an ``__init__.py``), so that every test folder imports the shared helpers as ``from support import``."""
