# One entry point for everything. Every target that needs Python creates the virtual environment first, so on a
# fresh machine `make test` (or `make train-dqn`) alone sets everything up. `make help` lists the targets: each
# one's `##` comment is its help line.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
EXTRAS := render,screen,agents,advisor,distributed,platform,dev,docs
# Debian packages the tests use: an X server for the screen env, xdotool/xset/xwininfo to drive it, Mono's C#
# compiler and runtime for the mod's C# programs, and xjump (86 KB), the second real game the screen env and the
# hybrid agent are tested on (XJumpScreen-v0).
SYSTEM_PACKAGES := xvfb xdotool x11-xserver-utils x11-utils mono-mcs mono-runtime xjump
SYSTEM_STAMP := $(VENV)/.system-stamp
# What a virtual environment needs before pip runs: a Python with ensurepip (Debian's own python3 has it only with
# python3-venv) and what pip compiles evdev with (pynput's Linux dependency; PyPI has no wheel of it): gcc, the
# Python headers and the kernel's input.h. Checked before every venv is made; on a machine that lacks any, the
# Debian packages are installed as root, or named.
BUILD_PACKAGES := python3-venv python3-dev gcc linux-libc-dev
LINTED := envs agents analysis tests benchmarks docs
comma := ,

# Runs only in the order written, even under `make -j`: training runs, pip installs and test suites that run side
# by side on 2 cores fight over them (the side-by-side training that train-dqn wants, it starts itself).
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

.PHONY: help test lint docs docs-serve train-dqn export-onnx evaluate bench bench-compare perfect-bound serve-bridge \
	play-fishing record-demos demos-scripted train-hybrid hybrid-eval hybrid-plots sweep

help:  ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# --- set-up: the venv with every extra, the Debian packages, and two venvs at the ends of the envs' ranges ---
# the Makefile too: the extras installed are written here
$(STAMP): pyproject.toml Makefile
	$(call build_check)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

# Installs missing Debian packages when run as root (CI, fresh machines); otherwise says what is missing. Checked
# again after the Makefile changes (a package added to the list).
$(SYSTEM_STAMP): Makefile | $(STAMP)
	@$(call apt_install,$(SYSTEM_PACKAGES))
	touch $(SYSTEM_STAMP)

# The envs alone, at the other ends of the ranges they declare (.venv has the newest numpy and numba, pinned by
# the agents, on Gymnasium 0.29.1), without torch, SB3 or imitation, each running tests/envs:
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
$(GYM1_STAMP) $(OLDEST_STAMP): %/.installed-stamp: pyproject.toml Makefile
	$(call build_check)
	$(PYTHON) -m venv $*
	$*/bin/pip install -q -e ".[screen,dev]" $(PINS)
	touch $@
# $(call envs_tests,VENV): the envs' tests in that venv, with its own numba cache
envs_tests = NUMBA_CACHE_DIR=$(1)/numba-cache $(1)/bin/python -m pytest -q -p no:cacheprovider tests/envs

# --- checks ---
test: $(STAMP) $(SYSTEM_STAMP) $(GYM1_STAMP) $(OLDEST_STAMP)  ## set up everything, then ruff and every test (docs build included)
	$(call envs_tests,$(VENV_GYM1))
	$(call envs_tests,$(VENV_OLDEST))
	$(VENV)/bin/ruff check $(LINTED)
	$(PY) -m pytest -q -p no:cacheprovider

lint: $(STAMP)  ## ruff
	$(VENV)/bin/ruff check $(LINTED)

docs: $(STAMP)  ## the docs site in site/: results pages from reports/*.json, then mkdocs build --strict
	$(PY) docs/gen_results.py
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

docs-serve: $(STAMP)  ## the docs site on http://127.0.0.1:8000, rebuilt as files change
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve

# --- StardewFishing-v0 and the DQN ---
# DQN_SEED_LEVELS chooses the seed-contract model's fishing levels, e.g. `make train-dqn DQN_SEED_LEVELS=5,10`;
# SMOKE=1 runs a 15-second training run instead (runs/dqn/smoke): is the training stack working?
DQN_SEED_LEVELS ?= 0,10
SMOKE ?=
train-dqn: $(STAMP)  ## the DQN models on the embedded simulator, every stage (~26 min; SMOKE=1: 15 s)
ifeq ($(SMOKE),1)
	$(PY) -m agents.dqn.train --preset smoke --fresh
else
	$(PY) -m agents.dqn.pipeline --seed-levels $(subst $(comma), ,$(DQN_SEED_LEVELS))
endif

# Writes exported/*.onnx from the training output (trains first when there is none), every export verified.
export-onnx: $(STAMP)  ## exported/*.onnx from the training output, every export checked by onnxruntime
	@if [ ! -f runs/dqn/best_improved/best.pt ] || [ ! -f runs/dqn/seed/best.pt ]; then $(MAKE) train-dqn; fi
	$(PY) -m agents.dqn.export

# VERSIONS=1: the shipped DQNs under the rules of game 1.5.4 and 1.6, same seeds -> reports/evaluation_versions.json
VERSIONS ?=
evaluate: $(STAMP)  ## every policy on the 5,000 held-out seeds -> reports/ and the model card (VERSIONS=1: 1.5.4 vs 1.6)
ifeq ($(VERSIONS),1)
	$(PY) -m agents.evaluation.versions
else
	$(PY) -m agents.evaluation
endif

perfect-bound: $(STAMP)  ## the perfect-catch rate no policy can pass, on the 5,000 held-out seeds
	$(PY) -m analysis.perfect_bound

# BENCH=env (simulator speed beside CartPole), inference (ONNX latency), bridge (socket round trip), screen
# (capture and preprocessing, input-to-pixel latency), pixels (where the time of a pixel training step goes)
BENCH ?= env
bench: $(STAMP) $(SYSTEM_STAMP)  ## a benchmark: BENCH=env|inference|bridge|screen|pixels (default env)
	@case "$(BENCH)" in env|inference|bridge|screen|pixels) ;; \
	  *) echo "make bench: BENCH must be env, inference, bridge, screen or pixels, not '$(BENCH)'"; exit 2;; esac
	$(PY) benchmarks/bench_$(BENCH).py

# alternating runs of this working tree and commit REF (in a temporary git worktree), and their ratio
REF ?= HEAD
bench-compare: $(STAMP)  ## the batched simulator's speed, this tree against commit REF
	$(PY) benchmarks/bench_compare.py --ref $(REF)

# --- the live-game bridge and the fishing window ---
serve-bridge: $(STAMP)  ## the reference game server at 60 Hz on 127.0.0.1:8765 (the socket env without the game)
	$(PY) -m envs.stardew.serve --realtime

play-fishing: $(STAMP)  ## the fishing minigame in a window: hold the mouse button, C or space to reel
	$(PY) -m envs.games.fishing

# --- the hybrid agent (bounded runs on 2 shared CPU cores; the seeds and budgets the docs report) ---
HYBRID_RUNS ?= runs/hybrid
# RUN: which training run; STEPS: PPO's budget; SEED: the training seed; DEMOS: the demonstrations BC learns from
RUN ?= bc
STEPS ?= 50000
SEED ?= 0
DEMOS ?= demos/scripted
# the Q-head comparison's training seeds (RUN=q-seeds: about 40 min for two)
Q_SEEDS ?= 1 2
HYBRID := PYTHONPATH=$(CURDIR) nice -n 10 $(PY) -W ignore -m agents.hybrid.train
# The published pixel figures (docs/hybrid.md) were made with minibatches of single steps and the CNN on every frame:
# their runs keep that path, so they reproduce exactly. The commands' defaults are faster (make bench BENCH=pixels).
PUBLISHED := --chunk 1 --no-share-frames
# Pixel PPO scales rewards by the return's running std (--norm-reward): the critic shares the CNN+LSTM with the
# policy, and unscaled returns (tens) let its loss overwrite the features BC learnt.
HYBRID_PPO := --norm-reward --lr 2.5e-4 --clip 0.2 --eval-every 10000 --eval-episodes 48
HYBRID_BCPPO := --env pixels --steps $(STEPS) --init $(HYBRID_RUNS)/bc/policy $(HYBRID_PPO) $(PUBLISHED) --ent-coef 0.0 \
  --critic-warmup 3
NEED_BC := test -f $(HYBRID_RUNS)/bc/policy.pt || $(MAKE) train-hybrid RUN=bc

record-demos: $(STAMP) $(SYSTEM_STAMP)  ## record a person playing the window into demos/human (start it first: make play-fishing)
	PYTHONPATH=$(CURDIR) $(PY) -m agents.hybrid.record --out demos/human

demos-scripted: $(STAMP)  ## the scripted controller's demonstrations shipped in demos/scripted
	$(HYBRID) demos-scripted --out demos/scripted --episodes 60

# RUN=platform: the same policy, distribution and PPO classes (MLP variant) on PlatformHybrid-v0
# (agents/hybrid/platform.py: Platform-v0 with the goal in info and the parameters on [-1, 1]); one training run per
# seed, one at a time, then every run on the same 1,000 held-out episodes of Platform-v0 itself, the best shipped to
# exported/hybrid_platform. A constant --lr 1e-3 and the default spread (std 1 on [-1, 1]): an annealed rate, and a
# smaller initial spread, each left seed 0 in the second gap for 70,000 steps (docs/hybrid-platform.md).
# --target-kl 0.03: without it single updates reached an approximate KL of 0.5-1.1 and seed 1 collapsed (0% success).
PLATFORM_RUNS ?= runs/platform_kl
PLATFORM_SEEDS ?= 0 1 2
PLATFORM_STEPS ?= 100000
PLATFORM_PPO := --env PlatformHybrid-v0 --gym-packages agents.hybrid.platform --n-envs 8 --n-steps 64 \
  --batch-size 128 --n-epochs 10 --lr 1e-3 --target-kl 0.03 --ent-coef 0.001 --q-coef 0 --eval-every 10000 --eval-episodes 100

# RUN=dagger: the pixel policy taught by the state DQN (agents/hybrid/teacher.py) with imitation's DAgger, each round
# labelling the states the policy itself visits; then the teacher and the policy on 1,000 held-out fish, the policy
# copied to exported/hybrid_pixels with the figures in its results.json. The teacher's own demonstrations:
# python -m agents.hybrid.train demos-teacher --out demos/teacher
DAGGER_ROUNDS ?= 10
PIXELS_OUT := exported/hybrid_pixels

train-hybrid: $(STAMP)  ## the hybrid agent: RUN=bc|ppo|bc-ppo|bc-ppo-noq|ppo-state|q-seeds|platform|dagger (SEED=, STEPS=, DEMOS=)
	@case "$(RUN)" in bc|ppo|bc-ppo|bc-ppo-noq|ppo-state|q-seeds|platform|dagger) ;; \
	  *) echo "make train-hybrid: RUN must be bc, ppo, bc-ppo, bc-ppo-noq, ppo-state, q-seeds, platform or dagger, not '$(RUN)'"; \
	     exit 2;; esac
ifeq ($(RUN),bc)
	@# --balance none: the published fishing figures were trained on the demonstrations as recorded (BC's default
	@# resamples action types to equal shares; the scripted fishing demos are not dominated by one action)
	$(HYBRID) bc --demos $(DEMOS) --out $(HYBRID_RUNS)/bc --epochs 12 --balance none --no-share-frames --seed $(SEED)
else ifeq ($(RUN),ppo)
	$(HYBRID) ppo --env pixels --steps $(STEPS) $(HYBRID_PPO) $(PUBLISHED) --ent-coef 0.01 --out $(HYBRID_RUNS)/ppo --seed $(SEED)
else ifeq ($(RUN),bc-ppo)
	$(NEED_BC)
	$(HYBRID) ppo $(HYBRID_BCPPO) --q-coef 0.5 --out $(HYBRID_RUNS)/bc_ppo --seed $(SEED)
else ifeq ($(RUN),bc-ppo-noq)
	@# the Q-head ablation: the same run with the Q loss off
	$(NEED_BC)
	$(HYBRID) ppo $(HYBRID_BCPPO) --q-coef 0 --out $(HYBRID_RUNS)/bc_ppo_noq --seed $(SEED)
else ifeq ($(RUN),ppo-state)
	@# the same agent code on the state-based StardewFishing-v0 (MLP variant), copied to exported/ppo_state
	$(HYBRID) ppo --env state --steps 1000000 --n-steps 1024 --batch-size 1024 --lr 3e-4 --ent-coef 0.0 \
	  --eval-every 250000 --eval-episodes 2000 --out $(HYBRID_RUNS)/ppo_state --seed $(SEED)
	mkdir -p exported/ppo_state && cp $(HYBRID_RUNS)/ppo_state/policy.pt $(HYBRID_RUNS)/ppo_state/policy.json exported/ppo_state/
else ifeq ($(RUN),q-seeds)
	@# BC then PPO with the Q loss on and off over more training seeds, each from the same BC weights, each run
	@# evaluated on the 200 held-out fish into eval_200.json
	$(NEED_BC)
	for s in $(Q_SEEDS); do for arm in "bc_ppo 0.5" "bc_ppo_noq 0"; do set -- $$arm; \
	  out=$(HYBRID_RUNS)/seeds/$${1}_s$$s; \
	  $(HYBRID) ppo $(HYBRID_BCPPO) --q-coef $$2 --out $$out --seed $$s || exit 1; \
	  $(HYBRID) eval --policy $$out/policy --episodes 200 --record $(HYBRID_RUNS)/eval_200.json || exit 1; \
	done; done
else ifeq ($(RUN),platform)
	for s in $(PLATFORM_SEEDS); do \
	  $(HYBRID) ppo $(PLATFORM_PPO) --steps $(PLATFORM_STEPS) --seed $$s --out $(PLATFORM_RUNS)/s$$s || exit 1; done
	PYTHONPATH=$(CURDIR) nice -n 10 $(PY) -W ignore -m agents.hybrid.platform --episodes 1000 \
	  --runs $(foreach s,$(PLATFORM_SEEDS),$(PLATFORM_RUNS)/s$(s)) --out exported/hybrid_platform \
	  --plot docs/hybrid/platform_curves.png
else ifeq ($(RUN),dagger)
	$(HYBRID) dagger --rounds $(DAGGER_ROUNDS) --round-steps 4000 --beta-rounds 3 --batches-per-round 600 \
	  $(PUBLISHED) --out $(HYBRID_RUNS)/dagger --seed $(SEED)
	mkdir -p $(PIXELS_OUT) && rm -f $(PIXELS_OUT)/results.json
	cp $(HYBRID_RUNS)/dagger/policy.pt $(HYBRID_RUNS)/dagger/policy.json $(HYBRID_RUNS)/dagger/curve.csv \
	  $(HYBRID_RUNS)/dagger/run.json $(PIXELS_OUT)/
	$(HYBRID) eval --policy teacher --episodes 1000 --record $(PIXELS_OUT)/results.json
	$(HYBRID) eval --policy $(PIXELS_OUT)/policy --episodes 1000 --record $(PIXELS_OUT)/results.json
endif

# WINDOW=1: the policies play the real window (Xvfb) through ScreenGame-v0, 20 fish each
WINDOW ?=
hybrid-eval: $(STAMP) $(SYSTEM_STAMP)  ## every pixel policy and the demonstrator on 200 held-out fish (WINDOW=1: the real window)
ifeq ($(WINDOW),1)
	for p in scripted $(HYBRID_RUNS)/bc/policy $(HYBRID_RUNS)/bc_ppo/policy; do \
	  PYTHONPATH=$(CURDIR) $(PY) -W ignore -m agents.hybrid.play --policy $$p --episodes 20 --xvfb || exit 1; done
	PYTHONPATH=$(CURDIR) $(PY) -W ignore -m agents.hybrid.play --policy exported/hybrid_pixels/policy --episodes 60 \
	  --xvfb --out exported/hybrid_pixels/window.json
else
	for p in scripted $(HYBRID_RUNS)/bc/policy $(HYBRID_RUNS)/ppo/policy $(HYBRID_RUNS)/bc_ppo/policy \
	  $(HYBRID_RUNS)/bc_ppo_noq/policy; do \
	  $(HYBRID) eval --policy $$p --episodes 200 --record $(HYBRID_RUNS)/eval_200.json || exit 1; done
endif

# GIF=1: a GIF of the BC-then-PPO agent on the real window (Xvfb) instead of the learning curves
GIF ?=
hybrid-plots: $(STAMP) $(SYSTEM_STAMP)  ## the hybrid agent's learning curves in docs/hybrid (GIF=1: a GIF of it playing)
ifeq ($(GIF),1)
	PYTHONPATH=$(CURDIR) $(PY) -W ignore -m analysis.hybrid_plots gif --window --policy $(HYBRID_RUNS)/bc_ppo/policy \
	  --fish Carp --level 10 --seed 3 --episodes 2 --out docs/hybrid/agent_bc_ppo_window.gif
else
	PYTHONPATH=$(CURDIR) $(PY) -m analysis.hybrid_plots curves --runs $(HYBRID_RUNS) --out docs/hybrid \
	  --demonstrator-episodes 48
endif

# --- sweeps on Ray Tune (local Ray sized to this machine; RAY_ADDRESS=host:port and STORAGE=a shared path: a cluster) ---
# SWEEP: which search space (agents/sweep/spaces/<SWEEP>.yaml), PRESET: its preset; TRIALS, MINUTES: override the
# preset's budget; RESUME=1: carry on the sweep NAME from its checkpoints. Results in STORAGE/NAME (docs/sweeps.md).
SWEEP ?= dqn
PRESET ?= main
TRIALS ?=
MINUTES ?=
STORAGE ?=
NAME ?=
RESUME ?=
sweep: $(STAMP)  ## hyperparameters and training seeds on Ray Tune: SWEEP=dqn|hybrid-state|hybrid-pixels (TRIALS=, MINUTES=, RESUME=1)
	@case "$(SWEEP)" in dqn|hybrid-state|hybrid-pixels) ;; \
	  *) echo "make sweep: SWEEP must be dqn, hybrid-state or hybrid-pixels, not '$(SWEEP)'"; exit 2;; esac
	PYTHONPATH=$(CURDIR) $(PY) -m agents.sweep $(SWEEP) --preset $(PRESET) $(if $(TRIALS),--trials $(TRIALS)) \
	  $(if $(MINUTES),--minutes $(MINUTES)) $(if $(STORAGE),--storage $(STORAGE)) $(if $(NAME),--name $(NAME)) \
	  $(if $(filter 1,$(RESUME)),--resume)

# the advisor against oracle, noisy and adversarial advice servers (docs/advisor.md)
ADVISOR_EPISODES ?= 200
advisor-measure: $(STAMP)  ## the advisor against oracle, noisy and adversarial advice servers on held-out fish
	$(PY) -m agents.advisor.measure --episodes $(ADVISOR_EPISODES)
