"""``python -m jepa_kit`` (what ``torchrun -m jepa_kit run ...`` starts on every rank)."""

import os

from jepa_kit.cli.app import main
from jepa_kit.cli.launch import LAUNCHER_ENV

if __name__ == "__main__":
    if LAUNCHER_ENV in os.environ and "LOCAL_RANK" in os.environ:
        from jepa_kit.cli.launch import run_worker

        run_worker(main)  # a worker of ``run --nproc N``: tied to its launcher
    else:
        main()
