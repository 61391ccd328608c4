# nixos-hetzner: the two commands are `make run` (the main job) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The new end of the supported range: ansible-core 2.21 needs Python >= 3.12.
PYTHON_NEW ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13.*/bin/python3 $(HOME)/.pyenv/versions/3.12.*/bin/python3) $(shell command -v python3.13 python3.12 2>/dev/null))
VENV_NEW := .venv-2.21
COLL := .collections/ansible_collections/nixos_hetzner/vps
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: all deps setup setup-2.21 run test test-nix lab-up lab-down clean

all: test

deps:
	@scripts/install-deps.sh

$(BIN)/.stamp: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q -e .
	touch $@

$(VENV_NEW)/bin/.stamp: requirements.txt requirements-2.21.txt pyproject.toml
	@test -n "$(PYTHON_NEW)" || { echo "no Python 3.12/3.13 found for $(VENV_NEW) (set PYTHON_NEW)"; exit 1; }
	$(PYTHON_NEW) -m venv $(VENV_NEW)
	$(VENV_NEW)/bin/pip install -q --upgrade pip
	$(VENV_NEW)/bin/pip install -q -r requirements-2.21.txt
	$(VENV_NEW)/bin/pip install -q -e .
	touch $@

$(COLL):
	mkdir -p $(dir $(COLL))
	ln -sfn ../../.. $(COLL)

setup: deps $(BIN)/.stamp $(COLL)

# The ansible-core 2.21 venv. scripts/test.sh makes it at the start of its 2.21 job, so
# that its download overlaps with the other phase-1 jobs instead of delaying them.
setup-2.21: $(VENV_NEW)/bin/.stamp

# The main job.
run: setup
	scripts/main.sh

# Every test: unit, API integration, Nix, lab VMs.
test: setup
	scripts/test.sh

# The flake's offline tests (parse, lib evaluation, schema cross-checks).
test-nix: setup
	python -m pytest tests/nix -q

lab-up: setup
	scripts/lab.sh up

lab-down:
	scripts/lab.sh down

clean:
	-scripts/lab.sh down
	rm -rf $(VENV) $(VENV_NEW) .collections .pytest_cache
