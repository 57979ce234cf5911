"""Seeds drawn from what a sample is: integers mixed into one 64-bit seed, per stream.

Every random draw of the data pipeline (augmentations, masks, shard order) is seeded from
integers that name it, e.g. ``(AUGMENT_TAG, seed, epoch, index)``, never from which worker
made it; the domain tags keep the streams apart for equal integer tuples.
"""

from __future__ import annotations

import torch

_MASK64 = (1 << 64) - 1
#: Domain tags of the loader's augmentation and mask streams.
AUGMENT_TAG = 0xA06
MASK_TAG = 0x3A5C


def mix_seed(*values: int) -> int:
    """A 64-bit seed from integers (splitmix64 folded over ``values``); cheap and stable."""
    state = 0x9E3779B97F4A7C15
    for value in values:
        state = ((state ^ (value & _MASK64)) + 0x9E3779B97F4A7C15) & _MASK64
        state = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        state = ((state ^ (state >> 27)) * 0x94D049BB133111EB) & _MASK64
        state ^= state >> 31
    return state


def seeded(*values: int) -> torch.Generator:
    """A CPU generator seeded with ``mix_seed(*values)``."""
    return torch.Generator().manual_seed(mix_seed(*values))
