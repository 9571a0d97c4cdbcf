# Backprop Playground — every target creates or updates .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the shared/ folder beside the repository (its container check)
SHARED ?= ../shared

.PHONY: run test bench lint trace clean container-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test,dev]'
	touch $(STAMP)

run: $(STAMP)  ## serve the playground and the API on http://127.0.0.1:8000 (SQLite store)
	$(BIN)/backprop-playground serve

trace: $(STAMP)  ## print one step of the origin network as the question's tables
	$(BIN)/backprop-playground trace --example origin

test: $(STAMP)  ## install what the tests need (pip and Debian packages) and run every test
	scripts/system-deps.sh
	$(BIN)/python -m pytest -q

container-check: $(STAMP)  ## build the Dockerfile, run the image, test it at APP_URL (root, podman)
	$(SHARED)/container/check.sh $(BIN)/pytest tests/deploy tests/web -k 'container or smoke'

bench: $(STAMP)  ## run the benchmarks; results in bench/results/*.json
	$(BIN)/python -m bench

lint: $(STAMP)  ## ruff, mypy and the layers' import contracts
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
