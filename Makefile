# Every command a person runs. `make help` lists them.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every target here is local development: fixed local secrets are allowed (shared/secrets.py). Compose
# (secrets from deploy/compose/.env, `make compose-env`) and the cluster run outside local mode.
export PBI_ENV ?= local
# KAFKA_BROKERS=3 (`make up KAFKA_BROKERS=3`, `make infra-up KAFKA_BROKERS=3`): a local 3-node Kafka cluster
# (deploy/local/kafka-cluster.sh, 127.0.0.1:19092-19094) instead of the single broker, used by every service
# and command this Makefile starts. The single broker (9092) keeps running; `make infra-down KAFKA_BROKERS=3`
# stops the cluster alone.
export KAFKA_BROKERS ?= 1
ifneq ($(KAFKA_BROKERS),1)
export KAFKA_BOOTSTRAP_SERVERS := $(shell KAFKA_BROKERS=$(KAFKA_BROKERS) deploy/local/kafka.sh bootstrap)
endif

.PHONY: help venv browser-deps infra-up infra-down infra-status test test-unit test-integration lint typecheck \
        up down demo bench chaos clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found (Python 3.11 is required)"; exit 1; }
	@echo "[make] creating $(VENV) and installing pinned dependencies (constraints.txt)"
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip
	@$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## create .venv with the pinned dependencies

infra-up: ## start local Kafka and PostgreSQL (installs them when missing)
	@deploy/local/infra.sh up

browser-deps: ## Debian's chromium for the browser tests
	@deploy/local/chromium.sh

infra-down: ## stop local Kafka and PostgreSQL
	@deploy/local/infra.sh down

infra-status:
	@deploy/local/infra.sh status

lint: venv ## ruff (lint + format check) and mypy on shared/ and every domain/
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy shared $$(ls -d services/*/domain 2>/dev/null)

# The suite runs on PYTEST_WORKERS processes (pytest-xdist; 0: one process): most of its time is spent waiting
# for Kafka, PostgreSQL and the running systems, not computing. Every test has its own database and topics; the
# tests of one running system share a worker (tests/conftest.py, docs/testing.md).
PYTEST_WORKERS ?= 4
test: venv infra-up browser-deps deploy-tools ## the whole suite: lint, unit, integration, e2e, browser
	@$(MAKE) --no-print-directory lint
	@$(BIN)/pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-unit: venv ## fast tests only (no infrastructure)
	@$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

test-integration: venv infra-up
	@$(BIN)/pytest -q -n $(PYTEST_WORKERS) tests/integration $(PYTEST_ARGS)

# Each service runs as an urgent and a bulk process (deploy/local/run.py); REPLICAS=2 runs two of each
# consumer role (distinct group members, ports + 200 per replica).
REPLICAS ?= 1
up: venv infra-up ## start Kafka, PostgreSQL and all services in the background (REPLICAS=2: two of each role)
	@$(BIN)/python -m deploy.local.run up --replicas $(REPLICAS)

down: ## stop what `make up` started
	@test -x $(BIN)/python && $(BIN)/python -m deploy.local.run down || true

demo: up ## play a realistic day (Tangerang Selatan wave) and print a summary
	@$(BIN)/pbi demo run

bench: venv infra-up ## benchmarks: prints a table, writes bench-results.json
	@$(BIN)/python -m bench.run

chaos: venv infra-up ## fault injection scenarios, on one broker then on a local 3-broker cluster: writes chaos-results.json
	@$(BIN)/python -m bench.chaos
	@$(BIN)/python -m bench.chaos_cluster

k8s-topics: venv ## regenerate the Strimzi KafkaTopic resources from the topic catalogue
	@$(BIN)/python -m deploy.gen_k8s_topics

asyncapi: venv ## the AsyncAPI document of every service's topics, generated from their brokers: .run/docs/asyncapi.{json,yaml}
	@PBI_ENV=$${PBI_ENV:-local} $(BIN)/pbi docs asyncapi --out .run/docs

# Built once per machine (kustomize builds in about a minute; promtool is unpacked from Debian), so `make test`
# installs them before pytest; helm (optional chart check) only with `make helm-chart`; without
# Go or a registry the deploy tests skip and say why.
deploy-tools: ## kustomize, kubeconform, promtool and the Kubernetes schemas (pinned, cached in ~/.cache/pbi/tools)
	@deploy/tools.sh all || echo "[make] warning: deploy tools could not be installed; the deploy tests will skip and say why"

k8s-rules: venv ## regenerate the PrometheusRule resources from deploy/monitoring/rules
	@$(BIN)/python -m deploy.gen_k8s_rules

helm-chart: deploy-tools ## a Helm chart made from the Kustomize base, in build/helm/pbi (not committed)
	@PBI_BUILD_HELM=1 deploy/tools.sh path helm >/dev/null
	@$(BIN)/python -m deploy.gen_helm_chart

k8s-users: venv ## regenerate the Strimzi KafkaUser resources (one per service, its ACLs) from catalogue and subscribers
	@$(BIN)/python -m deploy.gen_k8s_users

k8s-services: venv ## regenerate each service's urgent and bulk Deployments (and PriorityClasses) from the apps' role tables
	@$(BIN)/python -m deploy.gen_k8s_services

docker-build: ## build the one image for every service (needs a Docker engine)
	docker build -f deploy/Dockerfile -t pbi-reactivation:local .

compose-env: venv ## deploy/compose/.env: random passwords, pepper and provider secrets (kept if present; gitignored)
	@$(BIN)/python -m deploy.gen_compose_env

compose-up: compose-env ## the whole stack in Docker (Kafka, PostgreSQL, services, Prometheus, Grafana)
	docker compose -f deploy/compose/compose.yaml up -d --build

compose-down:
	docker compose -f deploy/compose/compose.yaml down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

bench-eligibility: venv infra-up ## eligibility: 100,000 bulk decisions/s and emergency p50/p99 during the backlog
	@$(BIN)/python -m bench.eligibility

bench-emergency: venv infra-up ## what one emergency costs each process (CPU, SQL statements, rows, records), nothing else running
	@$(BIN)/python -m bench.emergency_cost --statements
