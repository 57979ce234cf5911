"""Index gymnastics on token tensors, shared by encoders, predictors and the trainer."""

from __future__ import annotations

import torch


def gather_tokens(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Select tokens per sample: ``x`` (B, N, D), ``idx`` (B, K) int64 -> (B, K, D)."""
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def apply_masks(x: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Gather ``x`` (B, N, D) with M index sets ``masks`` (M, B, K) -> (M * B, K, D).

    Mask-major, as the reference ``apply_masks``: row ``i * B + b`` is sample b under mask i.
    """
    m, b, k = masks.shape
    rows = torch.arange(b, device=x.device).view(1, b, 1)
    # Advanced indexing gathers straight from x instead of first tiling it M times.
    return x[rows, masks].reshape(m * b, k, x.shape[-1])


def repeat_batch(x: torch.Tensor, times: int) -> torch.Tensor:
    """Tile ``x`` (B, ...) ``times`` along the batch -> (times * B, ...), row ``j * B + b``."""
    return x.repeat(times, *([1] * (x.dim() - 1)))


def join_blocks(x: torch.Tensor, blocks: int) -> torch.Tensor:
    """Block-major rows to one sequence per sample: (M * B, K, D) -> (B, M * K, D).

    Row ``j * B + b`` becomes tokens ``j * K .. (j + 1) * K - 1`` of sample b; ``split_blocks``
    is the inverse."""
    mb, k, d = x.shape
    return x.view(blocks, mb // blocks, k, d).transpose(0, 1).reshape(mb // blocks, blocks * k, d)


def split_blocks(x: torch.Tensor, blocks: int) -> torch.Tensor:
    """One sequence per sample back to block-major rows: (B, M * K, D) -> (M * B, K, D)."""
    b, mk, d = x.shape
    k = mk // blocks
    return x.view(b, blocks, k, d).transpose(0, 1).reshape(blocks * b, k, d)


def isolated_blocks_mask(n_context: int, blocks: int, block_len: int,
                         device: torch.device | str | None = None) -> torch.Tensor:
    """Attention mask (L, L), L = n_context + blocks * block_len, True where a query may attend.

    Tokens are laid out [context | block 0 | ... | block M-1]: context queries see the context
    only; block j's queries see the context and block j. So the context is encoded as if alone
    and each block is predicted from it independently of the other blocks.
    """
    owner = torch.arange(blocks, device=device).repeat_interleave(block_len)
    owner = torch.cat([torch.full((n_context,), -1, device=device), owner])  # (L,), -1: context
    return (owner.unsqueeze(0) == -1) | (owner.unsqueeze(1) == owner.unsqueeze(0))


def bucket_length(length: int, multiple: int, cap: int) -> int:
    """``length`` rounded up to a multiple of ``multiple``, at most ``cap`` (the grid's size):
    the padded length of the fixed-shape path (``method.length_bucket``)."""
    return min(-(-length // multiple) * multiple, max(cap, length))


def pad_indices(idx: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad the last dim of ``idx`` (..., K) to ``length`` -> (padded (..., length), valid
    (length,) bool). Padding repeats each row's last index: a real position, so gathers stay in
    range and the padded tokens are ordinary values that attention masks then ignore."""
    k = idx.shape[-1]
    valid = torch.arange(length, device=idx.device) < k
    if length == k:
        return idx, valid
    fill = idx[..., -1:].expand(*idx.shape[:-1], length - k)
    return torch.cat([idx, fill], dim=-1), valid


def key_padding_mask(valid: torch.Tensor) -> torch.Tensor:
    """Attention mask (1, L) from key validity (L,): every query may attend to the real tokens
    only. Broadcasts to (B, heads, L, L) in SDPA; padded queries still see real keys, so their
    (discarded) outputs stay finite."""
    return valid.view(1, -1)
