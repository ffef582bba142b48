# One thin Makefile: the README and .ci/run call these targets.
SHELL := /bin/bash
PYTHON ?= python3
CACHE ?= $(HOME)/.cache/configurable-agents
export CONFIGURABLE_AGENTS_CACHE := $(CACHE)
VENV ?= $(CACHE)/venv
BIN := $(VENV)/bin
# Re-install when the dependencies or the checkout's location change.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)-$(shell pwd | sha1sum | cut -c1-8)
PYTEST_ARGS ?=

.PHONY: help dev demo test fuzz chaos test-quick lint crds kind-e2e locks cluster-build dex-build kstatus-build toxiproxy-build compose-config-build keda-build cluster-up system-packages mlflow-venv bench clean

help:
	@echo "make demo    install, then run an example workflow end to end"
	@echo "make test    install what tests need, then run the whole suite"
	@echo "make lint    ruff, mypy and import-linter"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

dev: $(STAMP)

demo: $(STAMP)
	$(BIN)/configurable-agents run examples/01-linear-chain/workflow.yaml --input topic="durable agents"

test: $(STAMP) cluster-build dex-build kstatus-build toxiproxy-build compose-config-build keda-build system-packages mlflow-venv checkov-venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Property-based fuzzing of Workflow parsing and of the gateway's API (its OpenAPI document) at
# full size (CI runs 300 examples per property and 25 per API operation).
fuzz: $(STAMP)
	CONFIGURABLE_AGENTS_FUZZ_EXAMPLES=5000 $(BIN)/python -m pytest tests/spec/test_fuzz.py $(PYTEST_ARGS)
	CONFIGURABLE_AGENTS_API_FUZZ_EXAMPLES=300 $(BIN)/python -m pytest -s tests/gateway/test_api_fuzz.py \
		$(PYTEST_ARGS)

# The chaos suite at full size (CI: 60 runs under process faults and 30 under network faults
# through Toxiproxy, a fault every 2-6 s): faults every 5-20 s, partitions of 30 s.
N ?= 5000
chaos: $(STAMP) toxiproxy-build
	CONFIGURABLE_AGENTS_CHAOS_RUNS=$(N) CONFIGURABLE_AGENTS_CHAOS_GAP_MIN=5 \
		CONFIGURABLE_AGENTS_CHAOS_GAP_MAX=20 $(BIN)/python -m pytest -s tests/chaos $(PYTEST_ARGS)

test-quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not cluster" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

crds: $(STAMP)
	$(BIN)/configurable-agents crds --output-dir crds
	cp crds/*.yaml helm/configurable-agents/crds/
	cp crds/*.yaml manifests/crds/

# For users with Docker and kind: a cluster, both images, the chart, an example run (hack/kind-e2e.sh).
kind-e2e:
	bash hack/kind-e2e.sh

# Pinned, hashed dependencies of the images (Dockerfile.agent, Dockerfile.operator, Dockerfile.ui),
# installed there with --no-deps: requirements/image.excludes leaves out what nothing needs.
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu -q
locks: $(STAMP)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile requirements/operator.in $(LOCK_FLAGS) --excludes requirements/image.excludes \
		-o requirements/operator.lock
	$(BIN)/uv pip compile requirements/ui.in $(LOCK_FLAGS) -o requirements/ui.lock
	$(BIN)/uv pip compile pyproject.toml --extra openai --extra anthropic --extra google \
		--extra ollama --extra mcp --extra a2a --extra postgres --extra s3 --extra server $(LOCK_FLAGS) \
		--excludes requirements/image.excludes -o requirements/agent.lock

cluster-build:
	$(PYTHON) hack/controlplane.py build

# Dex, the OpenID provider of the dashboard's sign-in tests (hack/build-dex.sh; cached, idempotent).
dex-build:
	bash hack/build-dex.sh >/dev/null

# kstatus (sigs.k8s.io/cli-utils, as Flux computes health), which the operator's tests check our
# status conditions with (hack/build-kstatus.sh from hack/kstatus/go.mod; cached, idempotent).
kstatus-build:
	bash hack/build-kstatus.sh >/dev/null

# Toxiproxy, the TCP proxy the chaos suite's network faults go through (hack/build-toxiproxy.sh;
# cached, idempotent).
toxiproxy-build:
	bash hack/build-toxiproxy.sh >/dev/null

# compose-config: `docker compose config` on compose-go (Compose v2's loader), which the compose
# tests validate generated files with besides Debian's docker-compose (hack/build-compose-config.sh).
compose-config-build:
	bash hack/build-compose-config.sh >/dev/null

# KEDA's operator and metrics API server, which the queue-autoscaling tests run against the test
# control plane (hack/build-keda.sh; cached, idempotent; cold: 16 min on 2 busy cores, 4 GB of Go caches).
keda-build:
	bash hack/build-keda.sh >/dev/null

# Chromium, Prometheus and the other programs tests run (Debian packages; a no-op once installed).
system-packages:
	bash hack/system-packages.sh

# The MLflow tracking server the trace-backend test starts: heavy, so in a venv of its own, made once.
MLFLOW_VENV := $(CACHE)/mlflow-venv
mlflow-venv:
	@test -x $(MLFLOW_VENV)/bin/mlflow || ($(PYTHON) -m venv $(MLFLOW_VENV) && \
		$(MLFLOW_VENV)/bin/pip install -q 'mlflow>=3.6')

# checkov, which tests/deploy/test_checkov.py runs on the chart, the manifests and the operator's
# workloads: in a venv of its own, as it pins boto3, packaging and cachetools below our own pins.
# Pinned: a new checkov brings new checks, which would fail that test until judged.
CHECKOV_VENV := $(CACHE)/checkov-venv
CHECKOV_VERSION := 3.3.30
checkov-venv:
	@ls -d $(CHECKOV_VENV)/lib/python3*/site-packages/checkov-$(CHECKOV_VERSION).dist-info \
		>/dev/null 2>&1 || \
		($(PYTHON) -m venv $(CHECKOV_VENV) && \
		$(CHECKOV_VENV)/bin/pip install -q 'checkov==$(CHECKOV_VERSION)')

cluster-up: $(STAMP) cluster-build
	$(BIN)/python hack/controlplane.py up

# The comparison tools of the benchmarks: DBOS here, langgraph dev in a venv of its own (its
# uvloop and httptools would otherwise change how our servers run).
BENCH_VENV := $(CACHE)/bench-langgraph-venv
bench: $(STAMP)
	$(BIN)/pip install -q 'dbos>=3' 'langgraph-checkpoint-postgres>=3.2,<4' 'langgraph-checkpoint-sqlite>=3,<4' 'matplotlib>=3.8'
	@test -x $(BENCH_VENV)/bin/langgraph || ($(PYTHON) -m venv $(BENCH_VENV) && \
		$(BENCH_VENV)/bin/pip install -q 'langgraph-cli[inmem]')
	$(BIN)/python bench/step_overhead.py
	$(BIN)/python bench/http_runs.py
	$(BIN)/python bench/submissions.py --runs 1500
	$(BIN)/python bench/queue_fairness.py --big 2000
	$(BIN)/python bench/store_overhead.py --runs 30
	$(BIN)/python bench/operator_pools.py --pools 1000
	$(BIN)/python bench/auth_overhead.py --requests 1000
	$(BIN)/python bench/token_stream.py
	$(BIN)/python bench/cli_startup.py --rounds 30
	$(BIN)/pip install -q uv
	$(BIN)/python bench/image_sizes.py

clean:
	rm -rf build dist *.egg-info
