"""Hyperparameter sweeps and training seeds on Ray Tune, on this machine or on a cluster.

Ray Tune was chosen because it runs the same code embedded on one machine (``ray.init()`` starts Ray here) and
on a cluster (``RAY_ADDRESS``), schedules trials by resources (a ``game_window`` resource keeps trials that play
a live game on the nodes that have one), and brings Optuna (the search algorithm the RL Zoo uses) and ASHA early
stopping; it resolves beside the project's pins (RLlib does not: it needs Gymnasium 1.x). Installed with the
``distributed`` extra: ``pip install -e ".[distributed]"``.

| Part | What it is |
|---|---|
| ``spaces/<algorithm>.yaml`` | search spaces, budgets and resources, a named preset each (``main``, ``tiny``) |
| :mod:`agents.sweep.space` | reading and checking a preset (:class:`~agents.sweep.space.Plan`) |
| :mod:`agents.sweep.trainables` | the DQN and the hybrid agent (state, pixels) as Tune trainables, chunk by chunk |
| :mod:`agents.sweep.run` | the Tuner (OptunaSearch + ASHA), results table, best configuration |

| Algorithm | Trains | Reports after each chunk | Best configuration |
|---|---|---|---|
| ``dqn`` | agents.dqn.train, each training seed a resumable run | dev catch / perfect of each seed's best.pt | ``best_config.json`` for ``--config-file`` |
| ``hybrid-state`` | agents.hybrid PPO on StardewFishing-v0 | dev catch / perfect of the current policy | ``best_command.txt`` |
| ``hybrid-pixels`` | agents.hybrid PPO on FishingPixels-v0 | dev catch of the current policy | ``best_command.txt`` |

Usage: ``python -m agents.sweep dqn --trials 12 --minutes 40`` (``make sweep``); docs/sweeps.md has the rest.
"""
