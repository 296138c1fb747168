# The two commands of the README: `make run` (the viewer on the precomputed gallery) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test bench

$(BIN)/lossatlas: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/lossatlas

run: setup
	$(BIN)/lossatlas serve

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/bench_engine.py
