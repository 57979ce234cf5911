#!/usr/bin/env bash
# Install into .venv, pre-train the quickstart recipe on the built-in synthetic dataset (about a
# minute on a 2-core CPU), then score the run with a kNN probe against its own random init.
# Re-running resumes (a finished run is left as it is and evaluated again).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
run=runs/quickstart
.venv/bin/jepa-kit run recipes/quickstart.toml --output-dir "$run" --resume "$@"
checkpoint=$(ls "$run"/checkpoints/step_*.pt | tail -n 1)
# Each score is printed beside the random init of the same architecture, with the gain.
.venv/bin/jepa-kit eval knn "$checkpoint"                  # the EMA target encoder (I-JEPA's)
.venv/bin/jepa-kit eval knn "$checkpoint" --which context  # the trained online encoder
