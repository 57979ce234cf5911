"""A run directory's files, read and written in one place below training and evaluation.

``recipe.toml`` and ``run.json`` (what ran), ``metrics.jsonl`` (``metrics``) and
``finished.json`` (``finished``); checkpoints are ``jepa_kit.checkpoint``'s.
Training, evaluation, interop, sweeps and the CLI import these modules; they import none of
those.
"""
