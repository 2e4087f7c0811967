"""``python -m agents.sweep``: see :mod:`agents.sweep.run`."""

from agents.sweep.run import main

main()
