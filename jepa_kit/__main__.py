"""``python -m jepa_kit`` (what ``torchrun -m jepa_kit run ...`` starts on every rank)."""

from jepa_kit.cli.app import main

if __name__ == "__main__":
    main()
