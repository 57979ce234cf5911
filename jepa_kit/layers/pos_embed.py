"""Fixed 2-D sine-cosine positional tables, laid out exactly as the I-JEPA reference.

For width D the first D/2 channels encode the patch **column** and the last D/2 the **row**
(the reference helper calls the first half "h" but feeds it the column coordinate). Each half is
``[sin(p * w_k) for k < D/4] ++ [cos(p * w_k) for k < D/4]`` with ``w_k = 10000^(-k / (D/4))``.
The table is computed in float64 and cast to float32 once, which reproduces the reference's
table bit for bit (its helper works in NumPy float64).

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
- [1]: MAE, He et al. 2021, arXiv:2111.06377 (where the helper comes from)
"""

from __future__ import annotations

import torch


def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """Float64 table (P, dim) for float64 ``positions`` (P,): ``[sin | cos]`` halves."""
    if dim % 2:
        raise ValueError(f"1-D sin-cos width must be even, got {dim}")
    # Same operation order as the reference: k / (dim/2) first, then 10000^x, then 1 / that.
    omega = torch.arange(dim // 2, dtype=torch.float64, device=positions.device) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = positions.reshape(-1, 1) * omega.reshape(1, -1)  # (P, dim/2)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def sincos_2d(dim: int, grid: tuple[int, int], device: torch.device | str | None = None
              ) -> torch.Tensor:
    """Float32 table (H * W, dim) for a (rows, cols) patch grid, row-major (``t = r * W + c``)."""
    if dim % 4:
        raise ValueError(f"2-D sin-cos width must be a multiple of 4, got {dim}")
    rows, cols = grid
    r = torch.arange(rows, dtype=torch.float64, device=device)
    c = torch.arange(cols, dtype=torch.float64, device=device)
    rr, cc = torch.meshgrid(r, c, indexing="ij")  # (H, W) each
    col_half = sincos_1d(dim // 2, cc.reshape(-1))  # first half: the column
    row_half = sincos_1d(dim // 2, rr.reshape(-1))  # second half: the row
    return torch.cat([col_half, row_half], dim=1).float()
