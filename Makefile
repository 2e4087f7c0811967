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
# What a virtual environment needs before pip runs: a Python with ensurepip (Debian's own python3 has it only with
# python3-venv) and what pip compiles evdev with (pynput's Linux dependency; PyPI has no wheel of it): gcc, the
# Python headers and the kernel's input.h. Checked before every venv is made; on a machine that lacks any, the
# Debian packages are installed as root, or named.
BUILD_PACKAGES := python3-venv python3-dev gcc linux-libc-dev

# Runs only in the order written, even under `make -j`: training runs, pip installs and test suites that run side
# by side on 2 cores fight over them (and the side-by-side training make train-dqn wants, it starts itself).
.NOTPARALLEL:

# $(call apt_install,PACKAGES): install the missing Debian packages when root (CI, fresh machines); else name them
define apt_install
missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
if [ -n "$$missing" ]; then \
  if [ "$$(id -u)" = 0 ]; then \
    echo "installing Debian packages: $$missing"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
  else echo "missing Debian packages (install them as root): $$missing"; exit 1; fi; \
fi
endef

# $(call build_check): what BUILD_PACKAGES provide, present for $(PYTHON) (a pyenv or python.org Python brings its
# own ensurepip and headers: then nothing is installed)
define build_check
@if ! $(PYTHON) -c "import ensurepip, os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" 2>/dev/null \
  || ! command -v gcc >/dev/null || [ ! -f /usr/include/linux/input.h ]; then \
  $(call apt_install,$(BUILD_PACKAGES)); \
fi
endef

.PHONY: venv system-deps test test-gym1 test-oldest lint bench bench-compare help

help:
	@echo "set-up and checks"
	@echo "  make test              set up everything (venv, Debian packages as root), ruff, the test suite"
	@echo "  make lint              ruff"
	@echo "  make venv              only the virtual environment .venv (every target below makes it first)"
	@echo "  make system-deps       only the Debian packages the tests use (Xvfb, xdotool, Mono; as root)"
	@echo "  make test-screen / test-bridge   only the screen env's / the bridge's tests"
	@echo "  make test-gym1         only the envs' tests on Gymnasium 1.4, numpy 2.0, numba 0.60 (.venv-gym1; make test runs them)"
	@echo "  make test-oldest       only the envs' tests on the oldest versions pyproject.toml allows (.venv-oldest; make test too)"
	@echo "StardewFishing-v0 and the DQN"
	@echo "  make train-dqn         train the DQN policies on the embedded simulator (about 26 min on 2 cores)"
	@echo "  make train-dqn-smoke   a 15-second DQN run (runs/dqn/smoke): is the training stack working?"
	@echo "  make export-onnx       exported/*.onnx from the training output, every export verified"
	@echo "  make evaluate          the population protocol on 5,000 held-out seeds -> reports/"
	@echo "  make bench             simulator speed beside CartPole-v1"
	@echo "  make bench-compare REF=<commit>   batched simulator speed, this tree against a commit"
	@echo "  make bench-inference   ONNX latency per call"
	@echo "  make perfect-bound     the perfect-catch rate no policy can pass"
	@echo "the live-game bridge"
	@echo "  make serve-bridge      the reference game server at 60 Hz on 127.0.0.1:8765"
	@echo "  make bench-bridge      state-to-action round trip on loopback"
	@echo "ScreenGame-v0 and the hybrid agent"
	@echo "  make play-fishing      the fishing minigame in a window"
	@echo "  make bench-screen      capture + preprocessing speed, input-to-pixel latency"
	@echo "  make record-demos      record a person playing the window into demos/"
	@echo "  make demos-scripted    the scripted controller's demonstrations (shipped in demos/scripted)"
	@echo "  make train-bc / train-ppo / train-bc-ppo / train-bc-ppo-noq / train-ppo-state / hybrid-eval / hybrid-window"
	@echo "  make hybrid-plots / hybrid-gif   learning curves, and a GIF of the agent on the window"
	@echo "  make hybrid-q-seeds    BC then PPO with the Q head on and off, over more training seeds (about 40 min)"
	@echo "  make train-bc DEMOS=demos/human   BC on other demonstrations (default demos/scripted)"

# the Makefile too: the extras installed are written here
$(STAMP): pyproject.toml Makefile
	$(call build_check)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e ".[render,screen,agents,advisor,dev]"
	touch $(STAMP)

venv: $(STAMP)

# Installs missing Debian packages when run as root (CI, fresh machines); otherwise says what is missing. Checked
# again after the Makefile changes (a package added to the list).
$(SYSTEM_STAMP): Makefile | $(STAMP)
	@$(call apt_install,$(SYSTEM_PACKAGES))
	touch $(SYSTEM_STAMP)

system-deps: $(SYSTEM_STAMP)

test: $(STAMP) $(SYSTEM_STAMP) test-gym1 test-oldest
	$(VENV)/bin/ruff check envs agents tests benchmarks
	$(PY) -m pytest -q -p no:cacheprovider

# The envs alone, at the other ends of the ranges they declare (.venv has the newest numpy and numba, pinned by
# the agents, on Gymnasium 0.29.1), without torch, SB3 or imitation, each running the tests of envs/ (the
# controllers' use agents.population, which is numpy only):
#   .venv-gym1    Gymnasium 1.x, which other RL code is on, with the oldest numpy 2 and numba for it, and the
#                 screen extras
#   .venv-oldest  the lowest versions pyproject.toml allows: Gymnasium 0.29.1, numpy 1.26, numba 0.59, and the
#                 screen extras at theirs (OpenCV 4.8, mss 9, pynput 1.7.7, pygame 2.5.2)
# Each keeps its compiled kernels in its own NUMBA_CACHE_DIR: a cache written by another numba version is
# thrown away, so sharing __pycache__ would recompile the simulator in every venv on every run.
VENV_GYM1 ?= .venv-gym1
VENV_OLDEST ?= .venv-oldest
GYM1_STAMP := $(VENV_GYM1)/.installed-stamp
OLDEST_STAMP := $(VENV_OLDEST)/.installed-stamp
$(GYM1_STAMP): PINS := gymnasium==1.4.0 numpy==2.0.2 numba==0.60.0
$(OLDEST_STAMP): PINS := gymnasium==0.29.1 numpy==1.26.4 numba==0.59.1 opencv-python-headless==4.8.1.78 \
  mss==9.0.2 pynput==1.7.7 pygame==2.5.2
ENVS_TESTS := tests/test_stardew_env.py tests/test_stardew_env_smoke.py tests/test_stardew_rules.py \
  tests/test_controllers.py tests/test_jit_cache.py tests/test_bridge.py tests/test_bridge_remote.py \
  tests/test_bridge_csharp.py tests/test_optional_dependencies.py tests/test_readme_examples.py \
  tests/test_serve_and_window_cli.py tests/screen
# $(call envs_tests,VENV): the tests above in that venv, with its own numba cache
envs_tests = NUMBA_CACHE_DIR=$(1)/numba-cache $(1)/bin/python -m pytest -q -p no:cacheprovider $(ENVS_TESTS)

$(GYM1_STAMP) $(OLDEST_STAMP): %/.installed-stamp: pyproject.toml Makefile
	$(call build_check)
	$(PYTHON) -m venv $*
	$*/bin/pip install -q -e ".[screen,dev]" $(PINS)
	touch $@

test-gym1: $(GYM1_STAMP) $(SYSTEM_STAMP)
	$(call envs_tests,$(VENV_GYM1))

test-oldest: $(OLDEST_STAMP) $(SYSTEM_STAMP)
	$(call envs_tests,$(VENV_OLDEST))

lint: $(STAMP)
	$(VENV)/bin/ruff check envs agents tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_env.py

# alternating runs of this working tree and commit REF (in a temporary git worktree), and their ratio
REF ?= HEAD
bench-compare: $(STAMP)
	$(PY) benchmarks/bench_compare.py --ref $(REF)

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
	$(PY) -m pytest -q -p no:cacheprovider tests/test_bridge.py tests/test_bridge_remote.py tests/test_bridge_csharp.py \
	  tests/test_serve_and_window_cli.py \
	  tests/test_mod_policy_contract.py

# --- hybrid agent (issue 6) ---
# Bounded runs on 2 shared CPU cores; the seeds and budgets the README reports. HYBRID_STEPS: PPO's budget.
HYBRID_RUNS ?= runs/hybrid
HYBRID_STEPS ?= 50000
# the demonstrations train-bc learns from, e.g. `make train-bc DEMOS=demos/human` after `make record-demos`
DEMOS ?= demos/scripted
HYBRID_SEED ?= 0
HYBRID := PYTHONPATH=$(CURDIR) nice -n 10 $(PY) -W ignore -m agents.hybrid.train
# Pixel PPO scales rewards by the return's running std (--norm-reward): the critic shares the CNN+LSTM with the
# policy, and unscaled returns (tens) let its loss overwrite the features BC learnt (see the README's figures).
HYBRID_PPO := --norm-reward --lr 2.5e-4 --clip 0.2 --eval-every 10000 --eval-episodes 48
HYBRID_BCPPO := $(HYBRID_PPO) --ent-coef 0.0 --critic-warmup 3

.PHONY: record-demos demos-scripted train-bc train-ppo train-bc-ppo train-bc-ppo-noq train-ppo-state hybrid-q-seeds \
	hybrid-eval hybrid-window hybrid-plots hybrid-gif

record-demos: $(STAMP) $(SYSTEM_STAMP)  ## a person plays the game window (start it first: make play-fishing)
	PYTHONPATH=$(CURDIR) $(PY) -m agents.hybrid.record --out demos/human

demos-scripted: $(STAMP)  ## the scripted controller's demonstrations shipped in demos/scripted
	$(HYBRID) demos-scripted --out demos/scripted --episodes 60

train-bc: $(STAMP)
	$(HYBRID) bc --demos $(DEMOS) --out $(HYBRID_RUNS)/bc --epochs 12 --seed $(HYBRID_SEED)

train-ppo: $(STAMP)
	$(HYBRID) ppo --env pixels --steps $(HYBRID_STEPS) $(HYBRID_PPO) --ent-coef 0.01 \
	  --out $(HYBRID_RUNS)/ppo --seed $(HYBRID_SEED)

train-bc-ppo: $(STAMP)
	test -f $(HYBRID_RUNS)/bc/policy.pt || $(MAKE) train-bc
	$(HYBRID) ppo --env pixels --steps $(HYBRID_STEPS) --init $(HYBRID_RUNS)/bc/policy $(HYBRID_BCPPO) \
	  --q-coef 0.5 --out $(HYBRID_RUNS)/bc_ppo --seed $(HYBRID_SEED)

train-bc-ppo-noq: $(STAMP)  ## the Q-head ablation: the same run with the Q loss off
	test -f $(HYBRID_RUNS)/bc/policy.pt || $(MAKE) train-bc
	$(HYBRID) ppo --env pixels --steps $(HYBRID_STEPS) --init $(HYBRID_RUNS)/bc/policy $(HYBRID_BCPPO) \
	  --q-coef 0 --out $(HYBRID_RUNS)/bc_ppo_noq --seed $(HYBRID_SEED)

# The Q-head comparison over more training seeds: BC then PPO with the Q loss on and off, each seed from the same BC
# weights, each run evaluated on the 200 held-out fish into eval_200.json. About 40 min for two seeds.
HYBRID_Q_SEEDS ?= 1 2
hybrid-q-seeds: $(STAMP)
	test -f $(HYBRID_RUNS)/bc/policy.pt || $(MAKE) train-bc
	for s in $(HYBRID_Q_SEEDS); do for arm in "bc_ppo 0.5" "bc_ppo_noq 0"; do set -- $$arm; \
	  out=$(HYBRID_RUNS)/seeds/$${1}_s$$s; \
	  $(HYBRID) ppo --env pixels --steps $(HYBRID_STEPS) --init $(HYBRID_RUNS)/bc/policy $(HYBRID_BCPPO) \
	    --q-coef $$2 --out $$out --seed $$s || exit 1; \
	  $(HYBRID) eval --policy $$out/policy --episodes 200 --record $(HYBRID_RUNS)/eval_200.json || exit 1; \
	done; done

train-ppo-state: $(STAMP)  ## the same agent code on the state-based StardewFishing-v0 (MLP variant)
	$(HYBRID) ppo --env state --steps 1000000 --n-steps 1024 --batch-size 1024 --lr 3e-4 --ent-coef 0.0 \
	  --eval-every 250000 --eval-episodes 2000 --out $(HYBRID_RUNS)/ppo_state --seed $(HYBRID_SEED)
	mkdir -p exported/ppo_state && cp $(HYBRID_RUNS)/ppo_state/policy.pt $(HYBRID_RUNS)/ppo_state/policy.json exported/ppo_state/

hybrid-eval: $(STAMP)  ## every pixel policy and the demonstrator on the same 200 held-out seeds
	for p in scripted $(HYBRID_RUNS)/bc/policy $(HYBRID_RUNS)/ppo/policy $(HYBRID_RUNS)/bc_ppo/policy \
	  $(HYBRID_RUNS)/bc_ppo_noq/policy; do \
	  $(HYBRID) eval --policy $$p --episodes 200 --record $(HYBRID_RUNS)/eval_200.json || exit 1; done

hybrid-window: $(STAMP) $(SYSTEM_STAMP)  ## the policies play the real window (Xvfb) through ScreenGame-v0
	for p in scripted $(HYBRID_RUNS)/bc/policy $(HYBRID_RUNS)/bc_ppo/policy; do \
	  PYTHONPATH=$(CURDIR) $(PY) -W ignore -m agents.hybrid.play --policy $$p --episodes 20 --xvfb; done

hybrid-plots: $(STAMP)
	PYTHONPATH=$(CURDIR) $(PY) -m agents.hybrid.plots curves --runs $(HYBRID_RUNS) --out docs/hybrid --demonstrator-episodes 48

hybrid-gif: $(STAMP) $(SYSTEM_STAMP)
	PYTHONPATH=$(CURDIR) $(PY) -W ignore -m agents.hybrid.plots gif --window --policy $(HYBRID_RUNS)/bc_ppo/policy \
	  --fish Carp --level 10 --seed 3 --episodes 2 --out docs/hybrid/agent_bc_ppo_window.gif

# --- DQN, evaluation, export (issue 3) ---
.PHONY: train-dqn train-dqn-smoke evaluate export-onnx bench-inference perfect-bound
# Trains the two runs of the best recipe side by side into runs/dqn/{best,best_s2}/ (resumable), then distils them
# (agents/dqn/config.py: BEST_ENSEMBLE) into one network, runs/dqn/best_distilled/, while the seed-contract run
# trains on the core the distillation leaves free (it uses one thread), into runs/dqn/seed/; last it improves the
# distilled network by simulator rollouts into runs/dqn/best_improved/: the best policy. About 26 min on 2 cores.
# DQN_SEED_LEVELS chooses the seed-contract model's fishing levels, e.g. `make train-dqn DQN_SEED_LEVELS=5,10`.
DQN_SEED_LEVELS ?= 0,10
train-dqn: $(STAMP)
	@# the settings and resume compatibility of all three runs, before any starts
	$(PY) -m agents.dqn.train --preset seed --set level=$(DQN_SEED_LEVELS) --check
	$(PY) -m agents.dqn.train --preset best_s2 --check
	$(PY) -m agents.dqn.train --preset best --check
	mkdir -p runs/dqn
	@echo "training runs/dqn/best_s2 in the background (log: runs/dqn/best_s2.log) and runs/dqn/best here;" \
	  "then runs/dqn/seed in the background (log: runs/dqn/seed.log) while the distillation runs here"
	@# Ctrl-C reaches only the foreground job (a background job ignores SIGINT), and make quits at once: the trap
	@# stops the background run too, with a checkpoint to resume from, so none trains on unseen
	trap 'kill -TERM $$s2_pid $$seed_pid 2>/dev/null; wait; exit 130' INT TERM; \
	nice -n 10 $(PY) -m agents.dqn.train --preset best_s2 --no-progress > runs/dqn/best_s2.log 2>&1 & s2_pid=$$!; \
	nice -n 10 $(PY) -m agents.dqn.train --preset best; best_rc=$$?; \
	wait $$s2_pid; s2_rc=$$?; tail -n 25 runs/dqn/best_s2.log; \
	test $$best_rc = 0 && test $$s2_rc = 0 || exit 1; \
	nice -n 10 $(PY) -m agents.dqn.train --preset seed --set level=$(DQN_SEED_LEVELS) --no-progress \
	  > runs/dqn/seed.log 2>&1 & seed_pid=$$!; \
	$(PY) -m agents.dqn.distill; distill_rc=$$?; \
	wait $$seed_pid; seed_rc=$$?; tail -n 25 runs/dqn/seed.log; \
	test $$distill_rc = 0 && test $$seed_rc = 0
	$(PY) -m agents.dqn.improve

train-dqn-smoke: $(STAMP)
	$(PY) -m agents.dqn.train --preset smoke --fresh

# Writes exported/*.onnx from runs/dqn/{seed,best_improved}/best.pt (trains first when there is no training output).
export-onnx: $(STAMP)
	@if [ ! -f runs/dqn/best_improved/best.pt ] || [ ! -f runs/dqn/seed/best.pt ]; then $(MAKE) train-dqn; fi
	$(PY) -m agents.dqn.export

evaluate: $(STAMP)
	$(PY) -m agents.evaluate

perfect-bound: $(STAMP)  ## the perfect-catch rate no policy can pass, on the 5,000 held-out seeds
	$(PY) -m agents.perfect_bound

bench-inference: $(STAMP)
	$(PY) benchmarks/bench_inference.py

ADVISOR_EPISODES ?= 100
advisor-measure: $(STAMP)  ## the advisor against oracle, noisy and adversarial advice servers on held-out fish
	$(PY) -m agents.advisor.measure --episodes $(ADVISOR_EPISODES)
