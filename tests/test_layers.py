"""The seams between the layers: the engine never imports the server, and the server uses only what the
engine's package re-exports (``workers/__init__.py``), not its modules."""

from __future__ import annotations

import ast

from support import REPO

import workers


def imports(package: str) -> list[tuple[str, str, list[str]]]:
    """``(file, module, names)`` of every import statement under ``package``, absolute ones resolved."""
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((path.relative_to(REPO).as_posix(), node.module, [a.name for a in node.names]))
            elif isinstance(node, ast.Import):
                found += [(path.relative_to(REPO).as_posix(), a.name, []) for a in node.names]
    return found


def test_the_engine_never_imports_the_server():
    assert [i for i in imports("workers") if i[1].split(".")[0] == "server"] == []


def test_the_server_imports_the_engine_through_its_package():
    engine = [i for i in imports("server") if i[1].split(".")[0] == "workers"]
    assert engine, "the server imports nothing of the engine: this test reads the wrong files"
    assert [i for i in engine if i[1] != "workers"] == []
    exported = set(workers.__all__) | {"__version__", "cli"}  # the CLI module: the server's commands extend it
    assert [(f, n) for f, _, names in engine for n in names if n not in exported] == []
