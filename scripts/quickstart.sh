#!/usr/bin/env bash
# Install into .venv, pre-train the quickstart recipe on the built-in synthetic dataset (about two
# minutes on a 2-core CPU), then evaluate the target encoder with a kNN probe. Re-running resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/jepa-kit run recipes/quickstart.toml --output-dir runs/quickstart --resume "$@"
