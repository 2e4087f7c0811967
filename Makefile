# One entry point for everything. Every target that needs Python creates the virtual environment
# first, so on a fresh machine `make test` (or `make train-dqn`) alone sets everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Debian packages the tests use: an X server for the screen env, xdotool/xset/xwininfo to drive it,
# and Mono's C# compiler for the bridge's C# protocol program.
SYSTEM_PACKAGES := xvfb xdotool x11-xserver-utils x11-utils mono-mcs mono-runtime
SYSTEM_STAMP := $(VENV)/.system-stamp

.PHONY: venv system-deps test test-fast lint bench help

help:
	@echo "make train-dqn     train the DQN on the embedded simulator (about 30 min on 2 cores)"
	@echo "make test          set up everything and run the test suite"
	@echo "make bench         simulator speed beside CartPole-v1"
	@echo "make lint          ruff"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e ".[render,screen,agents,dev]"
	touch $(STAMP)

venv: $(STAMP)

# Installs missing Debian packages when run as root (CI, fresh machines); otherwise says what is missing.
$(SYSTEM_STAMP): | $(STAMP)
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing Debian packages (install them as root): $$missing"; exit 1; fi; \
	fi
	touch $(SYSTEM_STAMP)

system-deps: $(SYSTEM_STAMP)

test: $(STAMP) $(SYSTEM_STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check envs agents tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_env.py

# --- DQN, evaluation, export (issue 3) ---
.PHONY: train-dqn train-dqn-smoke evaluate export-onnx bench-inference
# Trains both policies into runs/dqn/{best,seed}/ (resumable; about 30 min on 2 cores).
# DQN_SEED_LEVELS chooses the seed-contract model's fishing levels, e.g. `make train-dqn DQN_SEED_LEVELS=5,10`.
DQN_SEED_LEVELS ?= 0,10
train-dqn: $(STAMP)
	mkdir -p runs/dqn
	@echo "training runs/dqn/seed in the background (log: runs/dqn/seed.log) and runs/dqn/best here"
	nice -n 10 $(PY) -m agents.dqn.train --preset seed --set level=$(DQN_SEED_LEVELS) --no-progress \
	  > runs/dqn/seed.log 2>&1 & seed_pid=$$!; \
	nice -n 10 $(PY) -m agents.dqn.train --preset best; best_rc=$$?; \
	wait $$seed_pid; seed_rc=$$?; tail -n 25 runs/dqn/seed.log; \
	test $$best_rc = 0 && test $$seed_rc = 0

train-dqn-smoke: $(STAMP)
	$(PY) -m agents.dqn.train --preset smoke --fresh

# Writes exported/*.onnx from runs/dqn/{seed,best}/best.pt (trains first when there is no training output).
export-onnx: $(STAMP)
	@if [ ! -f runs/dqn/best/best.pt ] || [ ! -f runs/dqn/seed/best.pt ]; then $(MAKE) train-dqn; fi
	$(PY) -m agents.dqn.export

evaluate: $(STAMP)
	$(PY) -m agents.evaluate

bench-inference: $(STAMP)
	$(PY) benchmarks/bench_inference.py
