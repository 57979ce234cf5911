"""Per-block outputs of an encoder: what data2vec-style teachers and multi-layer probes read.

data2vec builds its regression target from "the output of the top K blocks of the teacher
network" ([0], Sec. 3.3), and I-JEPA's linear probes concatenate the last 4 blocks' average
pools ([1], App. B, after DINO's ``get_intermediate_layers``, [2]). Both need the tokens
between the encoder's blocks, which ``Encoder.forward`` does not return.

``block_outputs(encoder, images, layers)`` runs the encoder's own ``forward`` once, with
forward hooks on the blocks that ``Encoder.block_modules()`` names, and returns each chosen
block's output: the residual stream *before* the encoder's final norm, patch tokens only
(prefix tokens of a timm model dropped), in the order of ``forward``'s output. For the
built-in ``vit``, ``vit_video`` and ``timm`` encoders ``encoder.norm(outputs[-1])`` equals
``encoder(images)``. ``tap_blocks`` is the same as a context manager, for a caller that also
wants the encoder's own output from the same forward pass.

- [0]: data2vec, Baevski et al. 2022, arXiv:2202.03555
- [1]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
- [2]: DINO, Caron et al. 2021, arXiv:2104.14294
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from jepa_kit.errors import UserError


def describe_encoder(encoder: nn.Module) -> str:
    """``encoder.kind='vit' (ViTEncoder)`` when the module has a config, else its class."""
    kind = getattr(getattr(encoder, "config", None), "kind", None)
    name = type(encoder).__name__
    return f"encoder.kind={kind!r} ({name})" if kind is not None else name


def encoder_blocks(encoder: nn.Module) -> Sequence[nn.Module]:
    """The transformer blocks of ``encoder``, first to last.

    An ``Encoder`` answers through ``block_modules()``; any other module through its
    ``blocks`` (or a wrapped model's ``model.blocks``). ``UserError`` naming the encoder kind
    when there are none."""
    own = getattr(encoder, "block_modules", None)
    if callable(own):
        return own()  # type: ignore[no-any-return]
    for owner in (encoder, getattr(encoder, "model", None)):
        blocks = getattr(owner, "blocks", None)
        if isinstance(blocks, (nn.ModuleList, nn.Sequential)) and len(blocks):
            return list(blocks)
    raise UserError(no_blocks_message(encoder))


def no_blocks_message(encoder: nn.Module) -> str:
    return (f"{describe_encoder(encoder)} has no `blocks` to read block outputs from; an "
            "encoder plug-in exposes its transformer blocks by overriding "
            "Encoder.block_modules()")


def resolve_layers(num_blocks: int, layers: int | Sequence[int] | None,
                   what: str = "encoder") -> list[int]:
    """Block indices (ascending, 0-based) from ``layers``: None = every block, an int K = the
    last K blocks, a sequence = those indices (negative ones count from the end)."""
    if layers is None:
        return list(range(num_blocks))
    if isinstance(layers, int):
        if not 1 <= layers <= num_blocks:
            raise UserError(f"layers={layers}: the {what} has {num_blocks} blocks; ask for "
                            f"the last 1 to {num_blocks}")
        return list(range(num_blocks - layers, num_blocks))
    chosen = []
    for index in layers:
        if not -num_blocks <= index < num_blocks:
            raise UserError(f"layers={list(layers)}: block {index} does not exist; the {what} "
                            f"has {num_blocks} blocks (0 to {num_blocks - 1}, or -1 for the last)")
        chosen.append(index % num_blocks)
    if not chosen or len(set(chosen)) != len(chosen):
        raise UserError(f"layers={list(layers)}: give one or more distinct block indices")
    return sorted(chosen)


@contextlib.contextmanager
def tap_blocks(encoder: nn.Module, layers: int | Sequence[int] | None = None
               ) -> Iterator[list[torch.Tensor]]:
    """Within the block, each forward of ``encoder`` appends the output of each chosen block
    (``layers`` as in ``block_outputs``) to the yielded list, in block order; the tokens are
    as the block returned them (a timm model's prefix tokens first). Hooks removed on exit."""
    blocks = encoder_blocks(encoder)
    chosen = resolve_layers(len(blocks), layers, describe_encoder(encoder))
    outputs: list[torch.Tensor] = []

    def hook(_module: nn.Module, _args: Any, output: Any) -> None:
        outputs.append(output[0] if isinstance(output, tuple) else output)

    handles = [blocks[i].register_forward_hook(hook) for i in chosen]
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def block_outputs(encoder: nn.Module, images: torch.Tensor,
                  layers: int | Sequence[int] | None = None, *,
                  keep: torch.Tensor | None = None) -> list[torch.Tensor]:
    """The outputs of ``encoder``'s blocks for ``images``: one (B, N, D) tensor per chosen
    block ((B, K, D) with ``keep`` (B, K)), in block order.

    ``layers``: None for every block, an int K for the last K, or block indices (negative
    ones count from the end). Tokens are before the encoder's final norm and are patch tokens
    only. Gradients flow as through ``encoder(images)``; call it under ``torch.no_grad()``
    for a teacher. ``UserError`` naming the encoder kind when it has no blocks to read."""
    prefix = int(getattr(encoder, "num_prefix_tokens", 0))
    with tap_blocks(encoder, layers) as outputs:
        out = encoder(images) if keep is None else encoder(images, keep)
    n = out.shape[1]  # N, or K with keep
    # A block runs on [prefix | patch tokens] (timm's class and register tokens first).
    return [o[:, prefix:prefix + n] for o in outputs]
