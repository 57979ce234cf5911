#!/usr/bin/env bash
# Install what the tests need into .venv, then lint, check the layering, run the whole suite (slow tests included)
# and build the documentation site with warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/lint-imports  # the layering contract in pyproject.toml [tool.importlinter]
.venv/bin/python -m pytest "$@"
# The site goes to a temporary folder: the check is that it builds, not what it leaves behind.
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$site"
