# flarekube — the README's two commands are `make demo` and `make test`.
# Everything lives in a venv outside the clone (keyed by the dependency list), so a warm machine is fast.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CACHE ?= $(HOME)/.cache/flarekube
PYTHON310 := $(shell ls -d $(HOME)/.pyenv/versions/3.10*/bin/python3.10 2>/dev/null | tail -n1)
PYTHON ?= $(or $(PYTHON310),$(shell command -v python3.10),$(shell command -v python3))
DEPS_KEY := $(shell sed -n '/^dependencies = \[/,/^\[project.scripts\]/p' pyproject.toml | sha256sum | cut -c1-12)
VENV ?= $(CACHE)/venv-$(DEPS_KEY)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
# The venv is shared by every clone on this machine (it lives in the cache); this clone's own code
# comes first for everything make runs, whichever clone last did the editable install.
export PYTHONPATH := $(CURDIR)/operator:$(CURDIR)/workloads$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: help venv install demo test lint unit federation-tests

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP):
	@mkdir -p $(CACHE)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]' 2>&1 | grep -vE 'Warning|^ *$$|\*\*|!!|corresp|return|with strategy|Please|By 20|See https|name as your|precedence' || true
	@touch $(STAMP)

venv: $(STAMP) ## create the venv (once per dependency list) and install flarekube into it
	@$(BIN)/pip install -q --no-deps -e . >/dev/null 2>&1

install: ## put `flarekube` on PATH for this user (pipx if there, else pip --user); same as `pip install .`
	@if command -v pipx >/dev/null; then pipx install --force .; else $(PYTHON) -m pip install --user .; fi

demo: venv ## run the 4-hospital CRC federation (real NVFlare, mTLS) on this machine
	$(BIN)/flarekube run examples/crc-fedavg.yaml

lint: venv ## ruff + mypy
	$(BIN)/ruff check operator workloads tests bench infra
	$(BIN)/mypy operator workloads tests/cluster/clustertool infra

unit: venv cluster-build ## fast tests: specs, builders, kit store, workloads, the chart (helm from cluster-build)
	$(BIN)/pytest -q tests/unit

federation-tests: venv ## real NVFlare federations on this machine (flarekube run, kits, Ctrl-C)
	$(BIN)/pytest -q tests/federation

-include mk/*.mk

# Cheapest first; everything that needs Kubernetes builds it itself (cluster-build is cached).
# cluster-tests ends by tearing the cluster down and bringing it up again, so e2e runs after it.
test: lint unit infra-tests federation-tests monitoring-tests apiserver-tests operator-tests cluster-tests e2e ## everything CI runs
