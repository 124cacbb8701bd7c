"""Subcommands of the ``hrcam`` command line (see hrcam/cli.py)."""
