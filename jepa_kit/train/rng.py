"""Capture and restore every process-global random stream, in a ``weights_only``-safe form."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def capture_rng() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any] | None) -> None:
    if not state:
        return
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state((np_state["kind"], np_state["keys"].numpy().astype(np.uint32),
                         np_state["pos"], np_state["has_gauss"], np_state["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_process_rng(seed: int, rank: int, step: int) -> None:
    """Seed this process's global torch (CPU and CUDA), NumPy and Python streams from
    ``(seed, rank, step)``: what a resume uses when the checkpoint's streams, captured by rank 0
    of another number of processes, cannot be this rank's."""
    from jepa_kit.data.loader import mix_seed

    value = mix_seed(0x52A6, seed, rank, step)
    torch.manual_seed(value)  # seeds every CUDA device too
    np.random.seed(value % 2**32)
    random.seed(value)
