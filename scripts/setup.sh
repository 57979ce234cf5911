#!/usr/bin/env bash
# Create .venv (once) and install jepa-kit with its dev and docs extras and the bundled plugins.
# CPU-only machines elsewhere may prefer the CPU wheels of torch: install them first, e.g.
#   .venv/bin/pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,docs]'
for plugin in plugins/*/; do
    if [ -f "$plugin/pyproject.toml" ]; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$plugin"
    fi
done
