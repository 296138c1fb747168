# The two commands of the README: `make run` (the viewer on the precomputed gallery) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
THREE := frontend/node_modules/three/package.json

.PHONY: setup run test test-frontend chromium bench

$(BIN)/lossatlas: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# three.js for the viewer, exactly as pinned in frontend/package-lock.json (served from node_modules).
$(THREE): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

setup: $(BIN)/lossatlas $(THREE)

# The browser tests drive Debian's chromium (DESIGN.md section 5); install it only when it is missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y chromium)

run: setup
	$(BIN)/lossatlas serve

test: setup chromium
	$(BIN)/python -m pytest -q

test-frontend: setup chromium
	$(BIN)/python -m pytest -q tests/frontend

bench: setup
	$(BIN)/python bench/bench_engine.py
