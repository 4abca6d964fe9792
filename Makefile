# delta-hf — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := bash

CARGO ?= cargo
# A venv with the real consumers the tests check against (datasets, pyarrow, deltalake).
VENV ?= .venv
PYTHON ?= python3
DEMO_DIR ?= demo
BIN = $(or $(CARGO_TARGET_DIR),target)/debug/delta-hf
RELEASE_BIN = $(or $(CARGO_TARGET_DIR),target)/release/delta-hf
# `make bench`: SCALE=1 is 1,000,000 train + 100,000 eval rows; RUNS timed runs per tool.
SCALE ?= 1
RUNS ?= 3

.PHONY: help build demo test venv lint bench clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-8s %s\n", $$1, $$2}'

build: ## Build the delta-hf binary (debug profile; dependencies optimised)
	$(CARGO) build --locked --bin delta-hf

demo: build ## Generate demo Delta tables and run `delta-hf prepare` on them
	$(BIN) demo-data --dir $(DEMO_DIR)/tables --rows 5000
	$(BIN) prepare \
	  --split train=$(DEMO_DIR)/tables/train \
	  --split test=$(DEMO_DIR)/tables/eval \
	  --text-col text --label-col label --keep-col rating \
	  --output $(DEMO_DIR)/dataset --overwrite \
	  --label-table $(DEMO_DIR)/label_map
	@echo
	@echo "Load it with:  python -c \"import datasets; print(datasets.load_from_disk('$(DEMO_DIR)/dataset'))\""

$(VENV)/.installed: tests/python/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r tests/python/requirements.txt
	touch $@

venv: $(VENV)/.installed ## Create the Python venv the tests use

test: venv ## Run the whole test suite (unit + integration, checked with Python datasets/deltalake)
	DELTA_HF_PYTHON=$(abspath $(VENV))/bin/python $(CARGO) test --locked --all-targets -- --test-threads=2

bench: venv ## Benchmark prepare vs the Python peer and a pyarrow floor (SCALE=1 RUNS=3) -> bench/results.md
	$(CARGO) build --release --locked --bin delta-hf
	$(VENV)/bin/python bench/bench.py --scale $(SCALE) --runs $(RUNS) --bin $(RELEASE_BIN)

lint: ## rustfmt and clippy
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

clean: ## Remove build output, the venv and the demo
	$(CARGO) clean
	rm -rf $(VENV) $(DEMO_DIR)
