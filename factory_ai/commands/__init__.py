"""Subcommands of `factory-ai` (see factory_ai.cli)."""
