"""The checks catch the bugs they exist for: each broken component fails with a clear message."""

from __future__ import annotations

import copy
import re
from typing import Any, ClassVar, Literal

import pytest
import torch
from pydantic import ConfigDict, Field
from torch import nn

from jepa_kit.data.base import Dataset, DatasetConfig
from jepa_kit.encoders.base import Encoder, EncoderConfig
from jepa_kit.encoders.vit import ViTEncoder
from jepa_kit.losses.base import Loss, LossConfig
from jepa_kit.maskers.base import Masker, MaskerConfig, Masks
from jepa_kit.ops.masks import gather_tokens
from jepa_kit.predictors.vit_predictor import ViTPredictor
from jepa_kit.target_updaters.ema import EMATargetUpdater
from jepa_kit.testing import (
    check_component,
    check_config,
    check_dataset,
    check_encoder,
    check_loss,
    check_masker,
    check_masks,
    check_predictor,
    check_target_updater,
)

TINY_VIT = {"size": "tiny", "embed_dim": 48, "depth": 1, "num_heads": 2, "patch_size": 8}
TINY_PREDICTOR = {"embed_dim": 32, "depth": 1}


def make(base: type, name: str, **attrs: Any) -> type:
    """A module-level subclass (picklable, as data-loader workers need components to be)."""
    cls = type(name, (base,), {"__module__": __name__, "__qualname__": name, **attrs})
    globals()[name] = cls
    return cls


# -- maskers ---------------------------------------------------------------------------------
class GoodMasker(Masker):
    class Config(MaskerConfig):
        kind: Literal["good_masker"] = "good_masker"

    def __init__(self, config: Config, *, grid: tuple[int, int]) -> None:
        self.n = grid[0] * grid[1]

    def order(self, b: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(b, self.n, generator=generator).argsort(dim=1)

    def sample(self, batch_size: int, step: int, generator: torch.Generator) -> Masks:
        order = self.order(batch_size, generator)
        half = self.n // 2
        return Masks(order[:, :half].sort(1).values, order[:, half:].sort(1).values[None])


def broken_masker(sample: Any) -> type:
    return make(GoodMasker, f"Broken_{sample.__name__}", sample=sample)


def overlapping(self: GoodMasker, b: int, step: int, g: torch.Generator) -> Masks:
    order = self.order(b, g)
    return Masks(order[:, : self.n // 2].sort(1).values, order[:, 2:6].sort(1).values[None])


def unsorted(self: GoodMasker, b: int, step: int, g: torch.Generator) -> Masks:
    order = self.order(b, g)
    return Masks(order[:, : self.n // 2], order[:, self.n // 2 :].sort(1).values[None])


def int32(self: GoodMasker, b: int, step: int, g: torch.Generator) -> Masks:
    m = GoodMasker.sample(self, b, step, g)
    return Masks(m.context.int(), m.targets)


def global_rng(self: GoodMasker, b: int, step: int, g: torch.Generator) -> Masks:
    order = torch.rand(b, self.n).argsort(dim=1)
    return Masks(order[:, :4].sort(1).values, order[:, 4:8].sort(1).values[None])


def stateful(self: GoodMasker, b: int, step: int, g: torch.Generator) -> Masks:
    self.calls = getattr(self, "calls", 0) + 1
    m = GoodMasker.sample(self, b, step, g)
    return Masks(m.context.roll(self.calls, dims=0), m.targets.roll(self.calls, dims=1))


def out_of_range(self: GoodMasker, b: int, step: int, g: torch.Generator) -> Masks:
    m = GoodMasker.sample(self, b, step, g)
    return Masks(m.context, m.targets + 1)


@pytest.mark.parametrize(("sample", "message"), [
    (overlapping, "also appear in the context"),
    (unsorted, "sorted ascending"),
    (int32, "torch.int64"),
    (global_rng, "global torch RNG"),
    (stateful, "different masks"),
    (out_of_range, "outside [0, 64)"),
])
def test_masker_bugs_are_caught(sample: Any, message: str) -> None:
    check_masker(GoodMasker)
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_masker(broken_masker(sample))


class Unpicklable(GoodMasker):
    def __init__(self, config: GoodMasker.Config, *, grid: tuple[int, int]) -> None:
        super().__init__(config, grid=grid)
        self.pick = lambda x: x  # a lambda cannot travel to a spawned worker


def test_unpicklable_masker_is_caught() -> None:
    with pytest.raises(AssertionError, match="cannot be pickled"):
        check_masker(Unpicklable)


def test_overlap_is_fine_when_the_config_allows_it() -> None:
    class Overlapping(GoodMasker):
        class Config(MaskerConfig):
            kind: Literal["overlapping"] = "overlapping"
            allow_overlap: bool = True

        sample = overlapping  # type: ignore[assignment]

    with pytest.raises(AssertionError, match="options without a description"):
        check_masker(Overlapping)
    masks = Overlapping(Overlapping.Config(), grid=(8, 8)).sample(2, 0, torch.Generator())
    check_masks(masks, grid=(8, 8), batch_size=2, allow_overlap=True)


# -- configs ---------------------------------------------------------------------------------
def test_config_problems_are_named() -> None:
    class Renamed(GoodMasker):
        class Config(MaskerConfig):
            kind: Literal["other"] = "other"

    with pytest.raises(AssertionError, match="must be the same string"):
        check_config(Renamed, "masker", name="renamed")

    class Loose(GoodMasker):
        class Config(MaskerConfig):
            model_config = ConfigDict(extra="allow")
            kind: Literal["loose"] = "loose"

    with pytest.raises(AssertionError, match="forbid unknown keys"):
        check_masker(Loose)
    with pytest.raises(AssertionError, match="not a subclass of Encoder"):
        check_config(GoodMasker, "encoder")


# -- encoders and predictors -----------------------------------------------------------------
class UnusedParameter(ViTEncoder):
    def __init__(self, config: Any, **kw: Any) -> None:
        super().__init__(config, **kw)
        self.spare = nn.Linear(2, 2)


class IgnoresKeep(ViTEncoder):
    def forward(self, images: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(images)


class Noisy(ViTEncoder):
    def forward(self, images: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        out = super().forward(images, keep)
        return out + 1e-3 * torch.randn_like(out)


class WrongGrid(ViTEncoder):
    def __init__(self, config: Any, **kw: Any) -> None:
        super().__init__(config, **kw)
        self.grid = (self.grid[0] + 1, self.grid[1])


@pytest.mark.parametrize(("cls", "message"), [
    (UnusedParameter, "no gradient reached these trainable parameters: spare.weight"),
    (IgnoresKeep, r"forward\(images, keep \(B, K\)\): expected shape"),
    (Noisy, "two eval forwards differ"),
    (WrongGrid, "grid is"),
])
def test_encoder_bugs_are_caught(cls: type, message: str) -> None:
    check_encoder(ViTEncoder, TINY_VIT)
    with pytest.raises(AssertionError, match=message):
        check_encoder(cls, TINY_VIT)


class ConvThenGather(Encoder):
    """A ConvNet over the whole image, tokens gathered afterwards: the context sees the target."""

    class Config(EncoderConfig):
        kind: Literal["conv_then_gather"] = "conv_then_gather"
        patch_size: int = Field(8, ge=1, description="Side of one square patch in pixels.")

        def resolved_patch_size(self) -> int:
            return self.patch_size

    def __init__(self, config: Config, *, img_size: int, in_chans: int = 3) -> None:
        super().__init__()
        self.embed_dim, self.num_heads = 16, 2
        self.grid = (img_size // config.patch_size,) * 2
        self.stem = nn.Conv2d(in_chans, 16, 3, padding=1)  # crosses patch borders
        self.patchify = nn.Conv2d(16, 16, config.patch_size, stride=config.patch_size)

    def forward(self, images: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        x = self.patchify(torch.relu(self.stem(images))).flatten(2).transpose(1, 2)  # (B, N, D)
        return x if keep is None else gather_tokens(x, keep)


class BatchNormed(ViTEncoder):
    """BatchNorm on the tokens: samples mix in train mode only (eval uses running stats)."""

    def __init__(self, config: Any, **kw: Any) -> None:
        super().__init__(config, **kw)
        self.bn = nn.BatchNorm1d(self.embed_dim)

    def forward(self, images: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        out = super().forward(images, keep)
        return self.bn(out.transpose(1, 2)).transpose(1, 2)


def test_conv_then_gather_is_caught() -> None:
    with pytest.raises(AssertionError, match="pixels of dropped patches") as caught:
        check_encoder(ConvThenGather)
    assert "ConvThenGather" in str(caught.value) and "patch size 8, grid (4, 4)" in str(
        caught.value)


def test_batchnorm_in_train_mode_is_caught() -> None:
    with pytest.raises(AssertionError, match="in train mode the tokens of sample 0 changed") as e:
        check_encoder(BatchNormed, TINY_VIT)
    assert "BatchNorm" in str(e.value)


def test_gathering_first_passes_the_pixel_check() -> None:
    """The same network with a per-pixel stem (nothing crosses a patch border) passes."""

    class Local(ConvThenGather):
        def __init__(self, config: Any, **kw: Any) -> None:
            super().__init__(config, **kw)
            self.stem = nn.Conv2d(3, 16, 1)  # per pixel: nothing crosses a patch border

    check_encoder(Local)


@pytest.mark.parametrize("name", ["vit", "timm"])
def test_builtin_encoders_pass_the_new_checks(name: str) -> None:
    check_component("encoder", name)


class SampleMajor(ViTPredictor):
    def forward(self, context: torch.Tensor, context_idx: torch.Tensor,
                target_idx: torch.Tensor) -> torch.Tensor:
        out = super().forward(context, context_idx, target_idx)
        m, b = target_idx.shape[:2]
        return out.view(m, b, *out.shape[1:]).transpose(0, 1).reshape(out.shape)


class DetachesContext(ViTPredictor):
    def forward(self, context: torch.Tensor, context_idx: torch.Tensor,
                target_idx: torch.Tensor) -> torch.Tensor:
        return super().forward(context.detach(), context_idx, target_idx)


@pytest.mark.parametrize(("cls", "message"), [
    (SampleMajor, "block-major"),
    (DetachesContext, "no gradient reached the context tokens"),
])
def test_predictor_bugs_are_caught(cls: type, message: str) -> None:
    check_predictor(ViTPredictor, TINY_PREDICTOR)
    with pytest.raises(AssertionError, match=message):
        check_predictor(cls, TINY_PREDICTOR)


# -- losses ----------------------------------------------------------------------------------
class BadLoss(Loss):
    mode: ClassVar[str] = ""

    class Config(LossConfig):
        kind: Literal["bad_loss"] = "bad_loss"

    def __init__(self, config: Config) -> None:
        super().__init__()

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        diff = (predictions - targets).pow(2)
        if self.mode == "per_token":
            return diff.mean(dim=-1)
        if self.mode == "detached":
            return diff.mean().detach()
        if self.mode == "nan":
            return diff.mean() * float("nan")
        if self.mode == "in_place":
            targets.sub_(1.0)  # e.g. an in-place normalisation of the caller's tensor
            return (predictions - targets).pow(2).mean()
        return diff.mean()


@pytest.mark.parametrize(("mode", "message"), [
    ("per_token", "0-dim tensor"),
    ("detached", "differentiable"),
    ("nan", "NaN or inf"),
    ("in_place", "in place"),
])
def test_loss_bugs_are_caught(mode: str, message: str) -> None:
    check_loss(BadLoss)
    broken = make(BadLoss, f"BadLoss_{mode}", mode=mode, Config=BadLoss.Config)
    with pytest.raises(AssertionError, match=message):
        check_loss(broken)


# -- target updaters -------------------------------------------------------------------------
class Away(EMATargetUpdater):
    @torch.no_grad()
    def update(self, online: nn.Module, target: nn.Module, step: int) -> None:
        for t, o in zip(target.parameters(), online.parameters(), strict=True):
            t.add_(t - o)


class Replaces(EMATargetUpdater):
    def update(self, online: nn.Module, target: nn.Module, step: int) -> None:
        target.load_state_dict(online.state_dict())
        for name, module in list(target.named_children()):
            setattr(target, name, copy.deepcopy(module))


class Frozen(EMATargetUpdater):
    def update(self, online: nn.Module, target: nn.Module, step: int) -> None:
        return


class Grad(EMATargetUpdater):
    def update(self, online: nn.Module, target: nn.Module, step: int) -> None:
        for t, o in zip(target.parameters(), online.parameters(), strict=True):
            t.copy_(0.5 * t + 0.5 * o)  # outside no_grad: the target joins the graph


class TouchesOnline(EMATargetUpdater):
    @torch.no_grad()
    def update(self, online: nn.Module, target: nn.Module, step: int) -> None:
        super().update(online, target, step)
        next(online.parameters()).mul_(0.5)


@pytest.mark.parametrize(("cls", "message"), [
    (Away, "moved the target away"),
    (Replaces, "replaced the target's parameters"),
    (Frozen, "did not move the target"),
    (Grad, "require grad or carry a grad_fn"),
    (TouchesOnline, "modified the online"),
])
def test_updater_bugs_are_caught(cls: type, message: str) -> None:
    check_target_updater(EMATargetUpdater)
    with pytest.raises(AssertionError, match=message):
        check_target_updater(cls)


# -- datasets --------------------------------------------------------------------------------
class NoiseSet(Dataset):
    mode: ClassVar[str] = ""

    class Config(DatasetConfig):
        kind: Literal["noise_set"] = "noise_set"

    def __init__(self, config: Config, train: bool = True, seed: int = 0) -> None:
        self.classes = ["a", "b"]

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int) -> tuple[object, int]:
        g = torch.Generator().manual_seed(index)
        image = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8, generator=g)
        if self.mode == "unseeded":
            image = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)
        if self.mode == "float":
            return image.float() / 255, index % 2
        if self.mode == "label":
            return image, 2
        return image, index % 2


@pytest.mark.parametrize(("mode", "message"), [
    ("unseeded", "differs between two instances"),
    ("float", "uint8 (3, H, W)"),
    ("label", "does not fit classes"),
])
def test_dataset_bugs_are_caught(mode: str, message: str) -> None:
    check_dataset(NoiseSet)
    broken = make(NoiseSet, f"NoiseSet_{mode}", mode=mode, Config=NoiseSet.Config)
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_dataset(broken)
