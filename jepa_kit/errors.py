"""Errors that are the user's to fix: the CLI prints them without a traceback and exits 2."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input: a recipe, a flag, a missing or broken file. The message says what to change."""
