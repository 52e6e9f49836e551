# paycore developer commands. On a fresh Linux machine with Python 3.11+ (and venv):
#
#   make run      start paycore on 127.0.0.1:50051 (embedded PostgreSQL and Redis
#                 under .data/ unless PAYCORE_POSTGRES_DSN / PAYCORE_REDIS_URL are set)
#   make test     the whole test suite (lint included, as a test)
#
# Both create .venv and install into it exactly the committed lock first
# (requirements/run.txt for make run, requirements/dev.txt for the rest; again only
# when a lock changes). Other targets:
#
#   make lint     ruff check, ruff format --check, mypy, buf lint
#   make fmt      ruff format + ruff check --fix
#   make proto    regenerate clients/python/paycore/v1 from protos/ (buf generate)
#   make breaking check protos/ for breaking changes against branch main of this
#                 clone (.git#branch=main); BASE=release compares with the last
#                 release (protos/last-release.txt, as `make test` does),
#                 BASE=<git ref> with another branch, tag or commit (BASE=HEAD~1),
#                 and BASE may be any buf input (BASE='../other-clone/.git#branch=main')
#   make migrate  apply pending migrations to the configured or embedded database
#   make lock     update the locks requirements/*.txt to the newest versions pyproject.toml
#                 allows (then `make proto` if grpcio-tools moved, and `make test`)
#   make clean    remove .venv and caches (keeps .data; `make clean-data` removes it)
#   make locust   headless locust load test against a running paycore (LOCUST_ARGS,
#                 TARGET; needs PAYCORE_SUPERADMIN_KEY, see bench/locustfile.py); fails
#                 on any error or an unusual decline rate. make locust-ui: the web UI
#   make bench    the throughput harness (bench/harness.py): paycore vs the gRPC
#                 echo per RPC in alternating rounds, costs per request, open-loop
#                 latency at half of peak; rows in bench/RESULTS.md and
#                 bench/harness_latency.png (BENCH_ARGS: --workers 1 2, --curve)
#   make faults   the fault-injection suite (tests/faults) in its LONG profile: more
#                 clients, every fault injected several times (make test runs it short)
#
# Pass arguments with ARGS (paycore) or PYTEST_ARGS (pytest):
#   make run ARGS='--port 6000 --workers 2'
#   make test PYTEST_ARGS='-k embedded -x'
# PAYCORE_* environment variables are read by paycore itself (docs/CONFIGURATION.md).

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Creates the venv: python3.11 if on PATH, else python3; override with `make PYTHON=...`.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell command -v python3.11 || command -v python3)
endif
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# What gets installed comes from the committed locks in requirements/ (every package
# pinned with its hashes, for every platform; `make lock` writes them): run.txt is what
# the service needs (make run), dev.txt adds the tools and tests (make test, lint...).
# Each is installed again when its lock changes or a top-level package appears (the
# editable install maps each top-level package when it is installed).
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
PACKAGE_INPUTS := pyproject.toml $(wildcard */__init__.py clients/python/*/__init__.py)
PIP := $(VENV)/bin/python -m pip --disable-pip-version-check --quiet
# The venv's tools first: buf.gen.yaml runs `python` and `protoc-gen-mypy` by name.
export PATH := $(BIN):$(PATH)

HASH := \#
BASE ?=
# The full commit of the last release: a fresh clone has it without tags.
RELEASE_REF := $(shell awk '!/^$(HASH)/ && NF {print $$2; exit}' protos/last-release.txt)
# A plain git ref becomes the buf input .git#ref=<ref>; an input with '#' is used as is.
BASE_REF = $(if $(filter release,$(BASE)),$(RELEASE_REF),$(BASE))
AGAINST = $(if $(BASE),$(if $(findstring $(HASH),$(BASE)),$(BASE),.git$(HASH)ref=$(BASE_REF)),.git$(HASH)branch=main)
DATA_DIR ?= .data
ARGS ?=
PYTEST_ARGS ?=

.PHONY: help run test chromium lint fmt proto breaking migrate clean clean-data dev-certs locust locust-ui bench \
	faults lock $(VENV)

help:
	@sed -n '1,/^$$/p' $(MAKEFILE_LIST) | sed 's/^# \{0,1\}//'

$(VENV): $(DEV_STAMP)

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
		{ echo "paycore needs Python >= 3.11; found '$(PYTHON)'. Try: make PYTHON=python3.11 ..." >&2; exit 1; }
	@$(PYTHON) -m venv $(VENV) || \
		{ echo "could not create $(VENV); on Debian/Ubuntu: apt-get install python3-venv" >&2; exit 1; }

# --require-hashes: a package missing from the lock, or a file whose hash differs, fails
# the install instead of bringing in whatever is newest today. paycore itself goes in
# editable, with no dependencies of its own resolution and the locked setuptools.
define install_lock
	$(PIP) install --require-hashes -r $(1)
	$(PIP) install --no-deps --no-build-isolation -e .
	@touch $(2)
endef

$(RUN_STAMP): requirements/run.txt $(PACKAGE_INPUTS) | $(VENV)/bin/python
	$(call install_lock,requirements/run.txt,$@)

$(DEV_STAMP): requirements/dev.txt $(PACKAGE_INPUTS) | $(VENV)/bin/python
	$(call install_lock,requirements/dev.txt,$@)
	@touch $(RUN_STAMP)

# Writes requirements/dev.txt from pyproject.toml (newest versions its ranges allow),
# then run.txt as the service's subset of it, so both agree on every shared package.
# Then `make proto` if grpcio-tools moved (tests/contract checks the generated code).
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock'
lock: $(DEV_STAMP)
	$(UV_COMPILE) --upgrade pyproject.toml requirements/build.in --extra dev \
		-o requirements/dev.txt
	$(UV_COMPILE) pyproject.toml requirements/build.in -c requirements/dev.txt \
		-o requirements/run.txt

run: $(RUN_STAMP)
	$(BIN)/paycore run $(ARGS)

CHROMIUM := /usr/bin/chromium

# The browser tests (tests/three_ds/test_browser.py, tests/redirects/test_browser.py) drive
# Debian's chromium through Playwright: installed here when missing and we may (root, with
# apt-get); otherwise those tests skip, saying why.
chromium:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y chromium || { apt-get update && apt-get install -y chromium; } || \
		echo "could not install chromium: the browser tests will skip" >&2; \
	fi

test: $(VENV) chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

migrate: $(RUN_STAMP)
	$(BIN)/paycore migrate $(ARGS)

lint: $(VENV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/buf lint

fmt: $(VENV)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

proto: $(VENV)
	$(BIN)/buf generate

breaking: $(VENV)
	$(BIN)/buf breaking --against '$(AGAINST)'

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . \( -path ./.git -o -path ./$(DATA_DIR) \) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

# Run it with paycore stopped: a PostgreSQL or Redis still running on these files
# would lose them (paycore stops its embedded servers when it exits).
clean-data:
	rm -rf $(DATA_DIR)

# A local CA, a server certificate and a client certificate for TLS and mutual TLS, in
# $(DATA_DIR)/certs (CERTS_DIR=... elsewhere; HOSTS=a,b for other server names than
# 127.0.0.1,localhost). For development and tests only.
# Locust against a running paycore (see bench/locustfile.py); needs PAYCORE_SUPERADMIN_KEY
# (from `paycore keys bootstrap --out .data/superadmin.key`). `make locust` runs headless, writes CSVs to bench/out/
# and exits 1 when a request failed or more payments were declined than a shop sees;
# `make locust-ui` serves locust's web UI on http://127.0.0.1:8089.
LOCUST_ARGS ?= -u 50 -r 10 -t 60s
LOCUST = PYTHONPATH=$(CURDIR):$(CURDIR)/clients/python $(BIN)/locust -f bench/locustfile.py \
	-H $(or $(TARGET),127.0.0.1:50051)
locust: $(VENV)
	@mkdir -p bench/out
	$(LOCUST) --headless --csv bench/out/locust $(LOCUST_ARGS)

locust-ui: $(VENV)
	$(LOCUST) --web-host 127.0.0.1 $(LOCUST_UI_ARGS)

# Starts its own PostgreSQL and Redis (or PAYCORE_BENCH_POSTGRES_DSN / _REDIS_URL) and
# both servers; nothing else needs to run. --h2load only when h2load is installed.
# The defaults (1 worker, 3 rounds of 4 s windows, every scenario) take about 5 minutes;
# BENCH_ARGS='--workers 1 2 --curve' adds 2 workers and the load curve (about 15).
BENCH_ARGS ?= $(if $(shell command -v h2load),--h2load)
bench: $(VENV)
	PYTHONPATH=clients/python:. $(BIN)/python -m bench.harness $(BENCH_ARGS)

# A local CA, a server certificate and a client certificate for TLS and mutual TLS, in
# $(DATA_DIR)/certs (CERTS_DIR=... elsewhere; HOSTS=a,b for other server names than
# 127.0.0.1,localhost). For development and tests only.
dev-certs: $(VENV)
	$(BIN)/python tools/make_dev_certs.py $(or $(CERTS_DIR),$(DATA_DIR)/certs) $(if $(HOSTS),--hosts $(HOSTS))

# The fault scenarios of docs/RELIABILITY.md with PAYCORE_FAULTS_PROFILE=long; each
# prints its books as a BOOKS line (-s). PYTEST_ARGS='-k kill' runs one of them.
faults: $(VENV)
	PAYCORE_FAULTS_PROFILE=long $(BIN)/python -m pytest tests/faults -s -p no:cacheprovider \
		--timeout 1800 $(PYTEST_ARGS)
