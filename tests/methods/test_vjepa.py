"""The vjepa method: tubelet tokens, its loss, its EMA, and recipes that refuse what cannot work."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from jepa_kit.build import build_method
from jepa_kit.data.loader import Batch
from jepa_kit.encoders.vit_video import VideoViTEncoder, sincos_video, table_widths
from jepa_kit.maskers.base import Masks
from jepa_kit.maskers.multiblock3d import MultiMasks
from jepa_kit.methods.vjepa import VJEPA, feature_loss, vjepa_forward
from jepa_kit.recipe import RecipeError, validate_recipe

TINY = {"kind": "vit_video", "size": "tiny", "embed_dim": 48, "depth": 1, "num_heads": 2,
        "patch_size": 8, "num_frames": 4}


def recipe(**sections: dict) -> dict:
    raw = {"method": {"kind": "vjepa"},
           "data": {"kind": "synthetic_video", "img_size": 32, "num_frames": 4,
                    "train_size": 8, "val_size": 4, "num_workers": 0},
           "encoder": dict(TINY), "predictor": {"embed_dim": 32, "depth": 1},
           "train": {"batch_size": 4, "epochs": 1}, "optim": {"warmup_epochs": 0}}
    raw.update(sections)
    return raw


def test_tubelets_are_tokens_in_time_row_column_order() -> None:
    torch.manual_seed(0)
    enc = VideoViTEncoder(VideoViTEncoder.Config(**{**TINY, "kind": "vit_video"}),
                          img_size=32)
    assert enc.grid == (2, 4, 4)
    conv = enc.patch_embed.proj
    assert isinstance(conv, nn.Conv3d) and conv.kernel_size == (2, 8, 8)
    clip = torch.zeros(1, 3, 4, 32, 32)
    clip[0, :, 2:4, 8:16, 24:32] = 1.0  # tubelet f=1, row 1, column 3
    tokens = enc.patch_embed(clip)[0]  # (32, D)
    moved = (tokens - conv.bias).abs().sum(1) > 0
    assert moved.nonzero().flatten().tolist() == [(1 * 4 + 1) * 4 + 3]
    assert torch.equal(enc.pos_embed[0], sincos_video(48, (2, 4, 4), uniform_power=True))
    with pytest.raises(ValueError, match=r"takes \(B, C, T, H, W\) clips with C=3, got shape "
                       r"\(1, 4, 3, 32, 32\)"):
        enc(clip.transpose(1, 2))


def test_sincos_widths_follow_the_official_split() -> None:
    assert table_widths(1024, 3, True) == [342, 342, 342]  # cut to 1024 at the end
    assert table_widths(64, 3, False) == [32, 16, 16]
    table = sincos_video(64, (2, 3, 3))
    assert table.shape == (18, 64)
    # time first: tokens of one tubelet share their first 32 channels
    assert torch.equal(table[0, :32], table[8, :32]) and not torch.equal(table[0], table[8])
    with pytest.raises(ValueError, match="multiple of 8"):
        sincos_video(36, (2, 3, 3))


def test_loss_is_the_official_mean_over_generators() -> None:
    class Encoder(nn.Module):
        def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
            tokens = x.flatten(2).transpose(1, 2)  # (B, N, C): one token per voxel
            return tokens if keep is None else torch.gather(
                tokens, 1, keep[..., None].expand(-1, -1, tokens.shape[-1]))

    class Predictor(nn.Module):
        def forward(self, z: torch.Tensor, c: torch.Tensor, t: torch.Tensor,
                    mask_index: int = 0) -> torch.Tensor:
            return torch.full((t.shape[0] * t.shape[1], t.shape[2], z.shape[-1]),
                              float(mask_index))

    clips = torch.randn(2, 4, 2, 2, 2)  # 8 tokens of width 4
    a = Masks(torch.tensor([[0, 1], [2, 3]]), torch.tensor([[[4, 5, 6], [0, 5, 7]]]))
    b = Masks(torch.tensor([[7], [6]]), torch.tensor([[[0, 1], [2, 3]]]))
    masks = MultiMasks.join([a, b])
    h = torch.nn.functional.layer_norm(clips.flatten(2).transpose(1, 2), (4,))
    for p in (1.0, 2.0):
        out = vjepa_forward(Encoder(), Predictor(), Encoder(), clips, masks, loss_exp=p)
        want = []
        for g, m in enumerate((a, b)):
            t = torch.stack([h[i, m.targets[0, i]] for i in range(2)])
            want.append((torch.abs(g - t) ** p).mean() / p)
        assert out.loss.item() == pytest.approx(float(sum(want) / 2), rel=1e-6)
        assert out.metrics["target_len1"] == 2 and out.metrics["context_len0"] == 2
    assert feature_loss(torch.ones(3), torch.zeros(3), 1.0).item() == 1.0


def test_training_lowers_the_loss_and_the_ema_follows() -> None:
    r = validate_recipe(recipe())
    torch.manual_seed(0)
    method = build_method(r)
    assert isinstance(method, VJEPA) and method.indexed
    clips = torch.randn(4, 3, 4, 32, 32)
    masks = method.masker.sample(4, 0, torch.Generator().manual_seed(0))
    batch = Batch([clips], torch.zeros(4, dtype=torch.long), masks, 0, 0)
    params = [p for n in method.trainable for p in method.networks[n].parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3)
    target = method.networks["target_encoder"]
    target_before = {k: v.clone() for k, v in target.state_dict().items()}
    losses = []
    for step in range(1, 13):
        out = method.forward(batch, method.networks)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        logged = method.after_step(step)
        losses.append(out.loss.item())
    assert losses[-1] < 0.85 * losses[0]
    assert logged == {"momentum": method.updater.value(12)}
    after = target.state_dict()
    moved = [k for k in after if not torch.equal(after[k], target_before[k])]
    assert "blocks.0.attn.qkv.weight" in moved
    assert method.networks["predictor"].mask_tokens[1].abs().sum() > 0  # both tokens trained
    assert out.features.shape == (4, 32, 48) and out.predictions.dim() == 3


def test_recipes_refuse_what_cannot_work() -> None:
    with pytest.raises(RecipeError, match=r"predictor.num_mask_tokens=1 is fewer than the "
                       r"masker's 2 generators"):
        validate_recipe(recipe(predictor={"embed_dim": 32, "depth": 1, "num_mask_tokens": 1}))
    with pytest.raises(RecipeError, match=r"data.num_frames=8 but the encoder is built for clips "
                       r"of encoder.num_frames=4"):
        validate_recipe(recipe(data={"kind": "synthetic_video", "img_size": 32,
                                     "num_frames": 8}))
    with pytest.raises(RecipeError, match="not a multiple of encoder.tubelet_size=2"):
        validate_recipe(recipe(encoder={**TINY, "num_frames": 5}))
    assert validate_recipe(recipe()).grid == (2, 4, 4)
