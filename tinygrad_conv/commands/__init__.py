"""Subcommands of the ``tinygrad-conv`` command (see cli.py)."""
