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

# --- screen env (issue 5) ---
.PHONY: bench-screen play-fishing test-screen

bench-screen: $(STAMP) $(SYSTEM_STAMP)
	$(PY) benchmarks/bench_screen.py

# the fishing minigame in a window (needs a display): hold the mouse button, C or space to reel
play-fishing: $(STAMP)
	$(PY) -m envs.games.fishing

test-screen: $(STAMP) $(SYSTEM_STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/screen

# --- bridge (issue 4) ---
.PHONY: bench-bridge serve-bridge test-bridge

# state-to-action round trip on loopback, lock-step and at 60 Hz, with and without an ONNX policy
bench-bridge: $(STAMP)
	$(PY) benchmarks/bench_bridge.py

# the reference game server in real time on 127.0.0.1:8765 (try the socket env without the game)
serve-bridge: $(STAMP)
	$(PY) -m envs.stardew.serve --realtime

test-bridge: $(STAMP) $(SYSTEM_STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/test_bridge.py tests/test_bridge_csharp.py
