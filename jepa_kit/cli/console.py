"""The command line's error console: one, so a launched worker can redirect all its messages."""

from __future__ import annotations

from rich.console import Console

err = Console(stderr=True, highlight=False, soft_wrap=True)
