# delta-hf — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := bash

CARGO ?= cargo
# A venv with the real consumers the tests check against (datasets, pyarrow, deltalake).
VENV ?= .venv
# A second venv for the consumers that need torch (trl, mosaicml-streaming).
VENV_ML ?= $(VENV)-ml
STREAMING_VERSION = 0.13.0
TORCHVISION_VERSION = 0.29.*
PYTHON ?= python3
DEMO_DIR ?= demo
BIN = $(or $(CARGO_TARGET_DIR),target)/debug/delta-hf
RELEASE_BIN = $(or $(CARGO_TARGET_DIR),target)/release/delta-hf
# `make bench`: SCALE=1 is 1,000,000 train + 100,000 eval rows; RUNS timed runs per tool.
SCALE ?= 1
RUNS ?= 3
# `make dist`: a release binary for Databricks runtimes. zig links it against glibc DIST_GLIBC
# (manylinux_2_28), so it runs on any glibc from 2.28 on (every Ubuntu-based Databricks runtime)
# rather than only on the build host's. The tools come from crates.io and PyPI and are cached
# outside the clone.
DIST_TOOLS ?= $(HOME)/.cache/delta-hf/dist-tools
DIST_TARGET = x86_64-unknown-linux-gnu
DIST_GLIBC ?= 2.28
CARGO_ZIGBUILD_VERSION = 0.24.1
ZIGLANG_VERSION = 0.15.2
DIST_BIN = dist/delta-hf-x86_64-linux-gnu
# `make wheel`: the same binary in a Python wheel (maturin, `bindings = "bin"`, jobs/wheel/).
MATURIN_VERSION = 1.16.0
WHEEL_DIR = dist/wheels

# $(call check_glibc,FILE): FILE is an x86-64 ELF whose newest glibc symbol version is not newer
# than DIST_GLIBC.
define check_glibc
	@readelf -h $(1) | grep -q 'Advanced Micro Devices X86-64' || { echo "$(1) is not an x86-64 ELF"; exit 1; }
	@need=$$(objdump -T $(1) | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV | tail -n1); \
	  echo "$(1) needs glibc $$need (limit $(DIST_GLIBC))"; \
	  test "$$(printf '%s\n' "$$need" '$(DIST_GLIBC)' | sort -V | tail -n1)" = '$(DIST_GLIBC)' || \
	  { echo "error: $(1) needs glibc $$need, newer than $(DIST_GLIBC)"; exit 1; }
endef

.PHONY: help build demo test venv venv-ml emulators lint bench dist dist-python wheel clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-8s %s\n", $$1, $$2}'

build: ## Build the delta-hf binary (debug profile)
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

$(VENV_ML)/.installed: tests/python/requirements-ml.txt
	$(PYTHON) -m venv $(VENV_ML)
	$(VENV_ML)/bin/pip install --quiet --upgrade pip
	$(VENV_ML)/bin/pip install --quiet -r tests/python/requirements-ml.txt
	$(VENV_ML)/bin/pip install --quiet --no-deps mosaicml-streaming==$(STREAMING_VERSION) torchvision==$(TORCHVISION_VERSION)
	touch $@

venv-ml: $(VENV_ML)/.installed ## Create the second venv (torch, trl, mosaicml-streaming) the SFT and MDS tests use

# Azure Blob Storage emulator (azurite, from the npm registry) for the Azure tests, pinned by
# tests/node/package-lock.json and installed beside the venv.
$(VENV)/node/.installed: tests/node/package.json tests/node/package-lock.json
	mkdir -p $(VENV)/node
	cp tests/node/package.json tests/node/package-lock.json $(VENV)/node/
	cd $(VENV)/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

emulators: $(VENV)/node/.installed ## Install the npm-based test emulators (azurite)

# A test that cannot run here (no java, no strace, no ../shared fixtures) prints `SKIPPED: ...` and
# passes; with DELTA_HF_NO_SKIP=1 in the environment (.ci/run sets it) it fails instead.
test: venv venv-ml emulators ## Run the whole test suite (unit + integration, checked with Python datasets/deltalake)
	DELTA_HF_PYTHON=$(abspath $(VENV))/bin/python \
	DELTA_HF_AZURITE=$(abspath $(VENV))/node/node_modules/.bin/azurite-blob \
	DELTA_HF_NODE_MODULES=$(abspath $(VENV))/node/node_modules \
	DELTA_HF_ML_PYTHON=$(abspath $(VENV_ML))/bin/python \
	  $(CARGO) test --locked --all-targets -- --test-threads=2

bench: venv ## Benchmark prepare vs the Python peer and a pyarrow floor, and --tokenizer vs Dataset.map (SCALE=1 RUNS=3) -> bench/*results.md
	$(CARGO) build --release --locked --bin delta-hf
	$(VENV)/bin/python bench/bench.py --scale $(SCALE) --runs $(RUNS) --bin $(RELEASE_BIN)
	$(VENV)/bin/python bench/tokenize_bench.py --scale $(SCALE) --runs $(RUNS) --bin $(RELEASE_BIN)
	@# Issue 23: --split-from --dedup near --leaks drop vs pandas + datasketch.
	$(VENV)/bin/python bench/hygiene_bench.py --scale $(SCALE) --runs $(RUNS) --bin $(RELEASE_BIN)
	$(MAKE) bench-sft

dist: ## Release binary for Databricks (Linux x86_64, glibc <= 2.28) -> dist/, with .sha256
	@# cargo-zigbuild (crates.io) drives `zig cc` (PyPI's ziglang) as linker and C compiler.
	$(DIST_TOOLS)/bin/cargo-zigbuild --version 2>/dev/null | grep -qF ' $(CARGO_ZIGBUILD_VERSION)' || \
	  $(CARGO) install --locked --root $(DIST_TOOLS) --version $(CARGO_ZIGBUILD_VERSION) cargo-zigbuild
	$(MAKE) --no-print-directory dist-python
	PATH="$(DIST_TOOLS)/bin:$$PATH" CARGO_ZIGBUILD_PYTHON_PATH=$(DIST_TOOLS)/venv/bin/python \
	  $(CARGO) zigbuild --release --locked --bin delta-hf --target $(DIST_TARGET).$(DIST_GLIBC)
	mkdir -p dist
	cp $(or $(CARGO_TARGET_DIR),target)/$(DIST_TARGET)/release/delta-hf $(DIST_BIN)
	@# The newest glibc symbol version the binary needs must not be newer than DIST_GLIBC.
	$(call check_glibc,$(DIST_BIN))
	cd dist && sha256sum $(notdir $(DIST_BIN)) > $(notdir $(DIST_BIN)).sha256
	./$(DIST_BIN) --version
	@echo "Upload: databricks fs cp $(DIST_BIN) dbfs:/Volumes/<catalog>/<schema>/<volume>/bin/delta-hf --overwrite"

# zig (PyPI's ziglang) and maturin in the dist tools' venv, for `dist` and `wheel`.
dist-python:
	test -x $(DIST_TOOLS)/venv/bin/python || $(PYTHON) -m venv $(DIST_TOOLS)/venv
	$(DIST_TOOLS)/venv/bin/python -m ziglang version 2>/dev/null | grep -qxF '$(ZIGLANG_VERSION)' || \
	  $(DIST_TOOLS)/venv/bin/pip install --quiet 'ziglang==$(ZIGLANG_VERSION)'
	$(DIST_TOOLS)/venv/bin/maturin --version 2>/dev/null | grep -qF ' $(MATURIN_VERSION)' || \
	  $(DIST_TOOLS)/venv/bin/pip install --quiet 'maturin==$(MATURIN_VERSION)'

wheel: dist-python ## Python wheel with the binary for Databricks clusters (manylinux_2_28, via zig) -> dist/wheels/
	@# maturin (jobs/wheel/pyproject.toml) builds the release binary with zig against glibc
	@# DIST_GLIBC and packs it as the wheel's `delta-hf` script; stripped, like ruff's and uv's.
	rm -rf $(WHEEL_DIR)
	cd jobs/wheel && PATH="$(DIST_TOOLS)/venv/bin:$$PATH" CARGO_ZIGBUILD_PYTHON_PATH=$(DIST_TOOLS)/venv/bin/python \
	  $(DIST_TOOLS)/venv/bin/maturin build --release --locked --strip --zig --target $(DIST_TARGET) \
	  --compatibility manylinux_$(subst .,_,$(DIST_GLIBC)) --out $(abspath $(WHEEL_DIR))
	@# The binary inside the wheel, checked like `make dist`'s.
	rm -rf $(WHEEL_DIR)/check && mkdir -p $(WHEEL_DIR)/check
	cd $(WHEEL_DIR)/check && $(PYTHON) -m zipfile -e ../delta_hf-*.whl .
	$(call check_glibc,$$(ls $(WHEEL_DIR)/check/delta_hf-*.data/scripts/delta-hf))
	chmod +x $(WHEEL_DIR)/check/delta_hf-*.data/scripts/delta-hf
	$(WHEEL_DIR)/check/delta_hf-*.data/scripts/delta-hf --version
	rm -rf $(WHEEL_DIR)/check
	@ls $(WHEEL_DIR)/delta_hf-*.whl
	@echo "Upload: databricks fs cp $$(ls $(WHEEL_DIR)/delta_hf-*.whl) dbfs:/Volumes/<catalog>/<schema>/<volume>/wheels/ --overwrite"

lint: ## rustfmt and clippy
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

clean: ## Remove build output, the venv and the demo
	$(CARGO) clean
	rm -rf $(VENV) $(DEMO_DIR)

# SFT benchmark (issue 21): 100,000 x SCALE conversations, ChatML with generation marks, a 50k BPE,
# --max-length 2048 --assistant-only-loss --packing bfd vs TRL 1.16's preparation + save_to_disk.
.PHONY: bench-sft
bench-sft: venv-ml ## Benchmark an SFT export (template, masks, packing) vs TRL's SFTTrainer preparation (SCALE=1 RUNS=3) -> bench/sft_results.md
	$(CARGO) build --release --locked --bin delta-hf
	$(VENV_ML)/bin/python bench/sft_bench.py --scale $(SCALE) --runs $(RUNS) --bin $(RELEASE_BIN)
