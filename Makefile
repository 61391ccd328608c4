# nixos-hetzner: the two commands are `make run` (the main job) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
COLL := .collections/ansible_collections/nixos_hetzner/vps
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: all deps setup run test test-unit test-integration test-nix test-vm lab-up lab-down clean

all: test

deps:
	@scripts/install-deps.sh

$(BIN)/.stamp: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q -e .
	touch $@

$(COLL):
	mkdir -p $(dir $(COLL))
	ln -sfn ../../.. $(COLL)

setup: deps $(BIN)/.stamp $(COLL)

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
	rm -rf $(VENV) .collections .pytest_cache
