# The two commands of the README: `make run` (the viewer on the precomputed gallery) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
THREE := frontend/node_modules/three/package.json
# Exact versions of every package (pyproject.toml holds the ranges users get); `make lock` rewrites it.
CONSTRAINTS := constraints.txt

.PHONY: setup run lint test test-frontend test-lower chromium bench wheel lock

$(BIN)/lossatlas: pyproject.toml $(CONSTRAINTS)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -c $(CONSTRAINTS) --upgrade pip
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[test]'
	touch $@

# three.js for the viewer and Swagger UI for /docs (served from node_modules, so both work offline) and eslint,
# exactly as pinned in frontend/package-lock.json; no package's install scripts run (none is needed).
$(THREE): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

setup: $(BIN)/lossatlas $(THREE)

# The browser tests drive Debian's chromium (DESIGN.md section 5); install it only when it is missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y chromium)

run: setup
	$(BIN)/lossatlas serve

# ruff (checks and format, configured in pyproject.toml) and eslint (frontend/eslint.config.mjs: not a .js, so the wheel's frontend/*.js glob leaves it out), before the tests.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd frontend && npx --no-install eslint .

# One pytest-xdist worker per core (at most 4), a module's tests on one worker (tests/conftest.py says why).
test: lint chromium
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist loadgroup

test-frontend: setup chromium
	$(BIN)/python -m pytest -q tests/frontend

# The declared lower bounds (constraints-lower.txt: torch and torchvision, the web stack, numpy, h5py, the
# helpers and what the tests import) in their own venv, with lossatlas installed in it as a user would
# (editable, its `lossatlas` command): the engine, the CLI and the server at the oldest versions it accepts.
LOWER := .venv-lower
test-lower: $(THREE)
	rm -rf $(LOWER)
	$(PY) -m venv $(LOWER)
	$(LOWER)/bin/pip install -q -r constraints-lower.txt
	$(LOWER)/bin/pip install -q --no-deps -e .
	$(LOWER)/bin/python -m pytest -q -p no:cacheprovider -W error::UserWarning -W default::DeprecationWarning \
		tests/server/test_api_surfaces.py tests/server/test_openapi_page.py tests/server/test_notebook.py \
		tests/workers/test_h5io.py tests/workers/test_surface.py tests/workers/test_objective.py \
		tests/workers/test_directions*.py tests/workers/test_pointeval.py tests/workers/test_fastmode*.py \
		tests/workers/test_hessian.py tests/workers/test_pca.py tests/workers/test_trajectory.py \
		tests/workers/test_provenance.py tests/workers/test_checkpoints.py tests/workers/test_compute_cli*.py \
		tests/workers/test_plot.py tests/workers/test_export.py tests/workers/test_progress.py

# A wheel with the viewer (and the three.js files it loads) and the gallery in it: dist/lossatlas-*.whl
wheel: setup
	$(BIN)/pip wheel --no-deps --no-build-isolation -w dist .

lock: $(BIN)/lossatlas
	{ sed -n '1,2p' $(CONSTRAINTS); $(BIN)/pip freeze --all --exclude-editable | grep -v '^lossatlas'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

bench: setup
	$(BIN)/python bench/bench_engine.py
