"""Transformer pieces shared by the I-JEPA encoder and predictor, built from timm's blocks.

timm's ``Block`` is the reference block (pre-norm, fused ``[q | k | v]`` Linear, exact-erf GELU
MLP) with the same parameter names, so reference state dicts load without renaming. What this
module adds is the reference's choices: LayerNorm eps 1e-6, a linear stochastic-depth ramp, the
initialisation the reference effectively trains from, and attention forced through
``F.scaled_dot_product_attention``.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

import torch
import torch.nn.functional as F
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Attention as TimmAttention
from timm.models.vision_transformer import Block
from torch import nn
from torch.utils.checkpoint import checkpoint

#: The reference's norm layer: torch LayerNorm with eps 1e-6 (not the 1e-5 default).
norm_layer = partial(nn.LayerNorm, eps=1e-6)

#: Std of the reference's truncated-normal init. Its truncation bounds are absolute +-2, i.e.
#: 100 sigma: effectively an untruncated normal.
INIT_STD = 0.02


class Attention(TimmAttention):
    """timm's ``Attention`` (same parameters, same fp32 numerics) with one CPU-only change:
    under bf16 autocast on the CPU, SDPA runs in fp32.

    torch's CPU flash-attention backward is about twice as slow in bf16 as in fp32 at I-JEPA's
    shapes (predictor, ViT-S: (64, 6, 116, 64), 101 vs 49 ms per layer) and its forward gains
    nothing from bf16, so casting q, k, v up and the output back costs less than it saves (see
    docs/performance.md). Everywhere else, including CUDA's bf16 flash kernels, this is timm's
    forward unchanged.
    """

    #: Set to False on an instance to measure the plain bf16 path (benchmarks/bench_levers.py).
    upcast_on_cpu: bool = True

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None,
                is_causal: bool = False) -> torch.Tensor:
        if not (self.upcast_on_cpu and self.fused_attn and self.gate is None
                and x.device.type == "cpu" and torch.is_autocast_enabled("cpu")):
            return super().forward(x, attn_mask=attn_mask, is_causal=is_causal)
        b, n, _ = x.shape
        qkv = self.qkv(x)  # (B, N, 3C) in the autocast dtype
        # One cast for q, k and v, before the permute: the same layout as timm's path.
        q, k, v = qkv.float().reshape(b, n, 3, self.num_heads, self.head_dim).permute(
            2, 0, 3, 1, 4).unbind(0)  # (B, H, N, hd) each
        q, k = self.q_norm(q), self.k_norm(k)
        with torch.autocast("cpu", enabled=False):
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                dropout_p=self.attn_drop.p if self.training else 0.0,
            )
        # One copy: back to the autocast dtype straight into the (B, N, H, hd) layout.
        out = out.transpose(1, 2).to(qkv.dtype, memory_format=torch.contiguous_format)
        x = self.norm(out.reshape(b, n, self.attn_dim))
        return self.proj_drop(self.proj(x))


def make_blocks(
    dim: int,
    depth: int,
    num_heads: int,
    mlp_ratio: float,
    qkv_bias: bool = True,
    drop_path_rate: float = 0.0,
) -> nn.ModuleList:
    """``depth`` pre-norm blocks; drop-path rises linearly from 0 to ``drop_path_rate``."""
    if dim % num_heads:
        raise ValueError(f"width {dim} is not divisible by num_heads={num_heads}")
    rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()  # reference ramp
    blocks = nn.ModuleList(
        Block(
            dim=dim,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            drop_path=rate,
            norm_layer=norm_layer,
            act_layer=nn.GELU,  # exact (erf) GELU, as the reference
            attn_layer=Attention,
        )
        for rate in rates
    )
    use_fused_attention(blocks)
    return blocks


def use_fused_attention(module: nn.Module) -> None:
    """Route every timm attention layer in ``module`` through SDPA.

    timm decides at construction from ``TIMM_FUSED_ATTN`` / export flags; SDPA is what makes the
    encoder fast and memory-lean on GPUs (flash / memory-efficient kernels), and it matches the
    reference's explicit softmax to < 1e-6 in fp32.
    """
    for sub in module.modules():
        if hasattr(sub, "fused_attn"):
            sub.fused_attn = True


def make_patch_embed(img_size: int, patch_size: int, in_chans: int, dim: int) -> PatchEmbed:
    """Conv patchifier, kernel = stride = patch; tokens come out row-major (``t = r*W + c``).

    Built for ``img_size``; other sizes divisible by the patch (multi-crop's local views) pass.
    """
    if img_size % patch_size:
        raise ValueError(f"image size {img_size} is not a multiple of the patch size {patch_size}")
    return PatchEmbed(img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=dim,
                      strict_img_size=False)


@torch.no_grad()
def reference_init_(module: nn.Module) -> None:
    """Initialise ``module`` as the reference's training effectively starts.

    Linear and Conv2d weights: normal, std 0.02, truncated at absolute +-2; biases 0; LayerNorm
    weight 1, bias 0. Deliberately **no** depth-dependent rescaling of ``attn.proj`` /
    ``mlp.fc2``: the reference's constructor applies one, but ``helper.init_model`` overwrites it
    with a second pass, so official runs train without it.
    """
    for sub in module.modules():
        if isinstance(sub, (nn.Linear, nn.Conv2d)):
            nn.init.trunc_normal_(sub.weight, std=INIT_STD, a=-2.0, b=2.0)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.LayerNorm):
            if sub.weight is not None:
                nn.init.ones_(sub.weight)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)


def run_blocks(blocks: Iterable[nn.Module], x: torch.Tensor, *, checkpointed: bool = False,
               attn_mask: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` through each block in turn; with ``checkpointed`` (and gradients on) every block's
    activations are recomputed in the backward pass instead of stored (activation
    checkpointing: memory for compute). ``attn_mask`` (boolean, True = may attend, broadcast
    to (B, heads, N, N) by SDPA) goes to every block's attention; None calls ``block(x)`` as
    before, so blocks without the argument still run."""
    recompute = checkpointed and torch.is_grad_enabled()
    args = (x,) if attn_mask is None else (x, attn_mask)
    for block in blocks:
        x = checkpoint(block, *args, use_reentrant=False) if recompute else block(*args)
        args = (x,) if attn_mask is None else (x, attn_mask)
    return x
