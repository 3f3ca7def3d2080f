"""Subcommands of the ``forcelab`` CLI, one module each (see forcelab.cli)."""
