"""Frozen features for evaluation: pooled patch tokens, the last blocks' outputs, or the tokens.

I-JEPA evaluates the *target* encoder and reads its patch tokens out in two ways ([0], Sec. 5
and App. B): the **average pool of the last layer**, and the **concatenation of the average
pools of the last 4 blocks** (each block's output through the encoder's final norm, as DINO's
``get_intermediate_layers`` does, [1]). The attentive probe of V-JEPA ([2]) reads the **tokens**
themselves. ``pool`` picks one: ``"avg"`` (B, D), ``"last4"`` (B, 4 D; any ``"lastK"``), or
``"tokens"`` (B, N, D). Images go through ``EvalTransform`` (resize, centre crop, normalise).

Intermediate blocks are read with forward hooks on the blocks ``Encoder.block_modules()``
names (``jepa_kit.encoders.tap_blocks``, the public API plug-ins use too); block outputs of a
timm model carry its prefix (class, register) tokens first, and only the last N (the patch
tokens the encoder returns) are kept.

Extraction is batched on ``device`` and, in a job of several processes, sharded: rank ``r``
encodes images ``r, r + W, ...``, the shares are all-gathered and put back in dataset order, so
every rank holds the features of every image (``FeatureExtractor``; the in-training kNN uses the
same class).

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
- [1]: DINO, Caron et al. 2021, arXiv:2104.14294 (``eval_linear.py``, ``n_last_blocks``)
- [2]: V-JEPA, Bardes et al. 2024, arXiv:2404.08471
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from jepa_kit.build import build_dataset
from jepa_kit.config import ComponentConfig
from jepa_kit.data.base import Dataset
from jepa_kit.data.loader import build_eval_loader
from jepa_kit.data.transforms import EvalTransform
from jepa_kit.data.video_transforms import VideoEvalTransform
from jepa_kit.encoders.blocks import encoder_blocks as _encoder_blocks
from jepa_kit.encoders.blocks import tap_blocks as _tap_blocks
from jepa_kit.errors import UserError

_LAST = re.compile(r"last(\d+)$")


def pool_tokens(tokens: torch.Tensor) -> torch.Tensor:
    """Average-pool patch tokens (B, N, D) -> (B, D), in float32."""
    return tokens.float().mean(dim=1)


def last_blocks(pool: str) -> int:
    """How many final blocks ``pool`` concatenates: 0 for ``avg`` / ``tokens``, K for
    ``lastK``; ``UserError`` for anything else."""
    if pool in ("avg", "tokens"):
        return 0
    found = _LAST.fullmatch(pool)
    if found is None or int(found.group(1)) < 1:
        raise UserError(f"--features {pool!r}: expected avg, tokens or lastK (e.g. last4)")
    return int(found.group(1))


def encoder_blocks(encoder: nn.Module) -> Sequence[nn.Module]:
    """The encoder's transformer blocks (``jepa_kit.encoders.blocks.encoder_blocks``);
    ``UserError`` when it has none."""
    try:
        return _encoder_blocks(encoder)
    except UserError as exc:
        raise UserError(f"{exc}; use --features avg or tokens with this encoder") from None


@contextlib.contextmanager
def tap_blocks(encoder: nn.Module, k: int) -> Iterator[list[torch.Tensor]]:
    """Deprecated: use ``jepa_kit.encoders.tap_blocks`` (or ``block_outputs``); kept for one
    release. Within the block, each forward of ``encoder`` fills the yielded list with the
    outputs of its last ``k`` blocks, in order."""
    warnings.warn("jepa_kit.eval.features.tap_blocks is deprecated; use "
                  "jepa_kit.encoders.block_outputs or jepa_kit.encoders.tap_blocks",
                  DeprecationWarning, stacklevel=3)
    with _last_blocks_tapped(encoder, k) as outputs:
        yield outputs


def _last_blocks_tapped(encoder: nn.Module, k: int
                        ) -> contextlib.AbstractContextManager[list[torch.Tensor]]:
    blocks = encoder_blocks(encoder)
    if k > len(blocks):
        raise UserError(f"--features last{k}: the encoder has only {len(blocks)} blocks")
    return _tap_blocks(encoder, k)


def encode(encoder: nn.Module, images: torch.Tensor, pool: str = "avg") -> torch.Tensor:
    """Features of ``images`` as ``pool`` asks: (B, D), (B, K D) or (B, N, D), float32."""
    k = last_blocks(pool)
    if k == 0:
        tokens = encoder(images)  # (B, N, D)
        return tokens.float() if pool == "tokens" else pool_tokens(tokens)
    with _last_blocks_tapped(encoder, k) as outputs:
        tokens = encoder(images)
        n = tokens.shape[1]
        # The encoder's own final norm on every tapped block, so the last block's part of
        # the feature is exactly the "avg" feature; prefix tokens (timm) come first: drop them.
        norm = getattr(encoder, "norm", None)
        norm = norm if isinstance(norm, nn.Module) else nn.Identity()
        pooled = [pool_tokens(norm(o)[:, -n:]) for o in outputs[:-1]]
    return torch.cat([*pooled, pool_tokens(tokens)], dim=-1)  # (B, K D)


@torch.no_grad()
def extract_features(
    encoder: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device | str = "cpu",
    *,
    precision: str = "fp32",
    pool: str = "avg",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of every image in ``loader``: ``(feats float32, labels (N,))``, ``feats`` as
    ``pool`` gives them ((N, D) for the default ``avg``).

    The encoder runs in eval mode without gradients (its previous mode is restored afterwards,
    so this can run in the middle of training). ``precision="bf16"`` runs the forward pass under
    autocast; the returned features are float32 either way. Features come back on the CPU, in
    loader order.
    """
    device = torch.device(device)
    was_training = encoder.training
    encoder.eval()
    amp = (torch.autocast(device_type=device.type, dtype=torch.bfloat16)
           if precision == "bf16" else contextlib.nullcontext())
    feats: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    try:
        for images, targets in loader:
            with amp:
                feats.append(encode(encoder, images.to(device, non_blocking=True), pool).cpu())
            labels.append(torch.as_tensor(targets, dtype=torch.int64))
    finally:
        encoder.train(was_training)
    if not feats:
        raise ValueError("the evaluation loader yielded no images")
    return torch.cat(feats), torch.cat(labels)


def gather_shares(feats: torch.Tensor, labels: torch.Tensor, world_size: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Every rank's share of a split on every rank, back in dataset order.

    Rank ``r`` holds images ``r, r + W, ...`` (``build_eval_loader``); the gathered rows are
    interleaved so row ``i`` is image ``i`` whatever the number of ranks (low-shot subsets and
    hold-outs are drawn by index)."""
    if world_size == 1:
        return feats, labels
    import torch.distributed as dist

    shares: list[Any] = [None] * world_size
    dist.all_gather_object(shares, (feats.cpu(), labels.cpu()))
    n = sum(int(f.shape[0]) for f, _ in shares)
    out_x = feats.new_empty((n, *feats.shape[1:]), device="cpu")
    out_y = labels.new_empty((n,), device="cpu")
    for r, (f, y) in enumerate(shares):
        out_x[r::world_size] = f
        out_y[r::world_size] = y
    return out_x, out_y


@dataclass
class EvalSplits:
    """The train and val datasets of one data config, as the evaluation protocols read them."""

    config: ComponentConfig
    train: Dataset
    val: Dataset

    def loaders(self, *, batch_size: int, num_workers: int | None = None,
                pin_memory: bool = False, rank: int = 0, world_size: int = 1
                ) -> tuple[DataLoader, DataLoader]:
        """Eval-transformed, unshuffled ``(train, val)`` loaders; with ``world_size > 1`` rank
        ``r`` reads every ``world_size``-th image from ``r`` (a share, no padding)."""
        transform = (VideoEvalTransform(self.config.img_size)  # type: ignore[attr-defined]
                     if getattr(self.train, "modality", "image") == "video"
                     else EvalTransform(self.config))  # type: ignore[arg-type]
        workers = num_workers if num_workers is not None else \
            getattr(self.config, "num_workers", 0)
        return tuple(  # type: ignore[return-value]
            build_eval_loader(split, transform, batch_size=batch_size, num_workers=workers,
                              pin_memory=pin_memory, rank=rank, world_size=world_size)
            for split in (self.train, self.val)
        )


class FeatureExtractor:
    """``FeatureExtractor(splits, device, ...)(encoder) -> {"train": (x, y), "val": (x, y)}``.

    Keeps the loaders of both splits (this rank's share of each); every call encodes the share
    in batches of ``batch_size`` on ``device`` under ``precision``, gathers the shares of all
    ``world_size`` ranks in dataset order and checks the labels. Every rank must call it.
    """

    def __init__(self, splits: EvalSplits, device: torch.device | str, *, batch_size: int = 128,
                 precision: str = "fp32", pool: str = "avg", num_workers: int | None = None,
                 rank: int = 0, world_size: int = 1) -> None:
        last_blocks(pool)  # a bad name fails before any image is read
        self.splits = splits
        self.device = torch.device(device)
        self.precision = precision
        self.pool = pool
        self.world_size = world_size
        self._loaders = splits.loaders(batch_size=batch_size, num_workers=num_workers,
                                       pin_memory=self.device.type == "cuda", rank=rank,
                                       world_size=world_size)

    def __call__(self, encoder: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        out = {}
        for name, loader in zip(("train", "val"), self._loaders, strict=True):
            feats, labels = gather_shares(*extract_features(
                encoder, loader, self.device, precision=self.precision, pool=self.pool),
                self.world_size)
            check_labels(labels, f"{describe_data(self.splits.config)} ({name} split)")
            out[name] = (feats, labels)
        return out


def describe_data(config: ComponentConfig) -> str:
    """``data.root = '...'`` for a folder dataset, else ``data.kind = '...'`` (for messages)."""
    root = getattr(config, "root", None)
    return f"data.root = {root!r}" if root is not None else f"data.kind = {config.kind!r}"


def build_eval_splits(config: ComponentConfig, *, seed: int = 0) -> EvalSplits:
    """Train and val datasets of ``config``; ``UserError`` when either is unlabelled.

    kNN and linear probes need labels in both splits; a flat image folder has none.
    """
    train = build_dataset(config, train=True, seed=seed)
    val = build_dataset(config, train=False, seed=seed)
    for name, split in (("train", train), ("val", val)):
        if not getattr(split, "classes", None):
            raise UserError(
                f"{describe_data(config)}: the {name} split is unlabelled; kNN and linear "
                "evaluation need labelled images (one sub-folder per class)"
            )
    return EvalSplits(config, train, val)


def check_labels(labels: torch.Tensor, what: str) -> None:
    """Raise ``UserError`` when ``labels`` hold the unlabelled marker -1."""
    if labels.numel() and int(labels.min()) < 0:
        raise UserError(f"{what}: some images are unlabelled (label -1); kNN and linear "
                        "evaluation need a label for every image")


def split_features(encoder: nn.Module, splits: EvalSplits, device: torch.device | str, *,
                   batch_size: int = 128, precision: str = "fp32", pool: str = "avg",
                   num_workers: int | None = None, rank: int = 0, world_size: int = 1
                   ) -> dict[str, Any]:
    """``{"train": (feats, labels), "val": (feats, labels)}`` for ``splits`` (one call of a
    ``FeatureExtractor``)."""
    return FeatureExtractor(splits, device, batch_size=batch_size, precision=precision,
                            pool=pool, num_workers=num_workers, rank=rank,
                            world_size=world_size)(encoder)
