"""Helpers for the project's command lines: argparse value types that name the option they check, and the checks
that a run's output paths can be written before the run starts."""
