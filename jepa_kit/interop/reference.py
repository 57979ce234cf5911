"""Official I-JEPA checkpoints in: read, infer the architecture, rebuild or re-save as jepa-kit.

The reference training script saves ``{encoder, predictor, target_encoder, opt, scaler, epoch,
loss, batch_size, world_size, lr}``, its state dicts taken from DDP wrappers (every key starts
with ``module.``). Module names already equal ours, so importing is: strip the prefix, read the
architecture off the tensor shapes, and check that the modules load with ``strict=True``.

What shapes cannot say is the number of attention heads. It is taken from the reference's named
sizes when the width is one of theirs (192: 3, 384: 6, 768: 12, 1024/1280/1408: 16), otherwise
heads of width 32 are assumed (the tiny test fixture: width 96, 3 heads); pass ``num_heads`` to
override. The predictor uses the encoder's head count, as the reference does.

Every bad input is a ``ReferenceCheckpointError`` (a user error) naming the file and saying what
it is instead: missing, truncated, not a PyTorch file, a safetensors export, a jepa-kit
checkpoint already, a dict without the reference's state dicts, or a pickle asking for Python
objects (read with ``weights_only=True``: jepa-kit never unpickles code).

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import codecs
import math
import pickle
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from jepa_kit.encoders.vit import VIT_SIZES, ViTEncoder
from jepa_kit.errors import UserError
from jepa_kit.layers import sincos_2d
from jepa_kit.maskers.multiblock import MultiBlockMasker
from jepa_kit.predictors.vit_predictor import ViTPredictor

StateDict = dict[str, torch.Tensor]

#: Reference width -> heads, from its named sizes.
HEADS_BY_WIDTH: dict[int, int] = {d.embed_dim: d.num_heads for d in VIT_SIZES.values()}
#: Head width assumed for widths that are not a named size.
FALLBACK_HEAD_DIM = 32

_BLOCK = re.compile(r"^(?:predictor_)?blocks\.(\d+)\.")
#: What the reference script saves (I-JEPA's ``src/train.py``), for messages.
_EXPECTED = "an I-JEPA training checkpoint (the official code saves a dict of 'encoder', " \
    "'predictor' and 'target_encoder' state dicts and training counters)"


class ReferenceCheckpointError(UserError):
    """A file given as an official I-JEPA checkpoint is missing, damaged or something else."""


@dataclass
class ReferenceWeights:
    """The three state dicts of a reference checkpoint (our keys) and the architecture behind them.

    ``encoder_config`` / ``predictor_config`` are plain recipe sections (``kind`` included);
    ``recipe_fragment()`` gathers them with ``data.img_size`` for the recipe model to merge.
    """

    encoder: StateDict
    target_encoder: StateDict
    predictor: StateDict
    encoder_config: dict[str, Any]
    predictor_config: dict[str, Any]
    img_size: int
    in_chans: int = 3
    epoch: int = 0
    loss: float | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def recipe_fragment(self) -> dict[str, Any]:
        """The partial recipe stored with an imported checkpoint.

        A masker section is included only when the default multi-block masker cannot mask this
        patch grid (small checkpoints), so that the fragment validates as a recipe on its own.
        """
        fragment: dict[str, Any] = {
            "encoder": dict(self.encoder_config),
            "predictor": dict(self.predictor_config),
            "data": {"img_size": self.img_size},
        }
        side = self.img_size // int(self.encoder_config["patch_size"])
        masker = masker_for_grid((side, side))
        if masker:
            fragment["masker"] = masker
        return fragment

    def build_modules(self) -> tuple[ViTEncoder, ViTEncoder, ViTPredictor]:
        """(encoder, target encoder, predictor) holding these weights, loaded ``strict=True``.

        Built on the meta device and filled by assignment, so no time goes into a random init
        that is thrown away; each module owns copies of the tensors (the dicts here stay intact).
        """
        enc_cfg = ViTEncoder.Config(**self.encoder_config)
        pred_cfg = ViTPredictor.Config(**self.predictor_config)
        modules = []
        for weights in (self.encoder, self.target_encoder):
            with torch.device("meta"):
                enc = ViTEncoder(enc_cfg, img_size=self.img_size, in_chans=self.in_chans)
            enc.load_state_dict(_clone(weights), strict=True, assign=True)
            modules.append(enc)
        encoder = modules[0]
        with torch.device("meta"):
            predictor = ViTPredictor(
                pred_cfg, grid=encoder.grid, embed_dim=encoder.embed_dim,
                encoder_heads=encoder.num_heads,
            )
        predictor.load_state_dict(_clone(self.predictor), strict=True, assign=True)
        return encoder, modules[1], predictor


def masker_for_grid(grid: tuple[int, int]) -> dict[str, Any]:
    """Overrides of the default multi-block masker that let it mask ``grid``; {} if none needed.

    The defaults (min_keep 10) cannot mask small grids; the largest ``min_keep`` that works in
    the default mode is kept, trying the other mode only when no ``min_keep`` works.
    """
    default = MultiBlockMasker.Config()
    try:
        default.check_grid(grid)
        return {}
    except ValueError:
        pass
    for mode in sorted(("uniform", "reference"), key=lambda m: m != default.mode):
        for min_keep in range(default.min_keep - 1, 0, -1):  # masker.min_keep >= 1
            overrides: dict[str, Any] = {"kind": "multiblock", "mode": mode, "min_keep": min_keep}
            try:
                MultiBlockMasker.Config(**overrides).check_grid(grid)
            except ValueError:
                continue
            return overrides
    return {"kind": "multiblock", "mode": "uniform", "min_keep": 0}


def load_reference_checkpoint(path: str | Path, num_heads: int | None = None) -> ReferenceWeights:
    """Read an official I-JEPA checkpoint (``torch.load(weights_only=True)``) into our layout.

    ``num_heads`` overrides the head-count rule in the module docstring. Raises
    ``ReferenceCheckpointError`` naming the file when it is not such a checkpoint, a state dict
    is missing or its shapes are not an I-JEPA ViT.
    """
    path = Path(path)
    raw = _check_layout(_load(path), path)
    encoder = _strip(raw["encoder"], "encoder", path)
    predictor = _strip(raw["predictor"], "predictor", path)
    if "target_encoder" in raw:
        target = _strip(raw["target_encoder"], "target_encoder", path)
    else:
        warnings.warn(f"{path}: no target_encoder; using the encoder's weights", stacklevel=2)
        target = encoder

    enc_cfg, img_size, in_chans = _encoder_arch(encoder, num_heads, path)
    pred_cfg = _predictor_arch(predictor, enc_cfg, path)
    _check_table(encoder["pos_embed"], path)
    return ReferenceWeights(
        encoder=encoder,
        target_encoder=target,
        predictor=predictor,
        encoder_config=enc_cfg,
        predictor_config=pred_cfg,
        img_size=img_size,
        in_chans=in_chans,
        epoch=int(_number(raw.get("epoch")) or 0),
        loss=_number(raw.get("loss")),
        source=str(path),
        extra={k: raw[k] for k in ("batch_size", "world_size", "lr") if k in raw},
    )


def import_reference(
    path: str | Path, out_dir: str | Path, num_heads: int | None = None
) -> Path:
    """Convert an official checkpoint into a jepa-kit checkpoint in ``out_dir``; returns its path.

    The result holds the three state dicts, no optimizer or RNG state, and a partial recipe
    (``encoder``, ``predictor``, ``data.img_size``) that the recipe loader merges with defaults.
    ``step`` is 0: the reference does not record optimizer steps, only the epoch.
    """
    from jepa_kit import __version__
    from jepa_kit.checkpoint import CheckpointRecord, checkpoint_name, write_checkpoint
    from jepa_kit.interop import vjepa_reference

    if vjepa_reference.is_vjepa_file(path):  # V-JEPA's layout: its own importer
        return vjepa_reference.import_vjepa_reference(path, out_dir, num_heads=num_heads)
    weights = load_reference_checkpoint(path, num_heads=num_heads)
    try:  # fail here, not at training time, if the weights do not fit
        weights.build_modules()
    except (RuntimeError, ValueError) as exc:
        raise ReferenceCheckpointError(
            f"{path}: the weights do not fit the I-JEPA ViT read off their shapes "
            f"({_brief(exc)})") from None
    record = CheckpointRecord(
        step=0, epoch=weights.epoch, method="ijepa",
        networks={"encoder": weights.encoder, "target_encoder": weights.target_encoder,
                  "predictor": weights.predictor},
        recipe=weights.recipe_fragment(), versions={"jepa-kit": __version__},
        metrics={"loss": weights.loss} if weights.loss is not None else {},
        source=weights.source,
    )
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        return write_checkpoint(out_dir / checkpoint_name(0), record)
    except OSError as exc:
        raise UserError(f"--out {out_dir}: cannot write the checkpoint there "
                        f"({exc.strerror or exc})") from None


# -- architecture from shapes --------------------------------------------------------------------
def _encoder_arch(sd: StateDict, num_heads: int | None, path: Path
                  ) -> tuple[dict[str, Any], int, int]:
    needed = {"patch_embed.proj.weight": 4, "pos_embed": 3, "blocks.0.mlp.fc1.weight": 2}
    _require(sd, needed, "encoder", path)
    width, in_chans, patch, patch_w = sd["patch_embed.proj.weight"].shape
    if patch != patch_w:
        raise ReferenceCheckpointError(
            f"{path}: non-square patches {patch}x{patch_w} are not supported")
    n = sd["pos_embed"].shape[1]
    side = math.isqrt(n)
    if side * side != n:
        raise ReferenceCheckpointError(
            f"{path}: encoder pos_embed has {n} positions, not a square grid")
    if num_heads is None:
        try:
            num_heads = infer_num_heads(width)
        except ValueError as exc:
            raise ReferenceCheckpointError(f"{path}: {exc}") from None
    elif num_heads < 1 or width % num_heads:
        raise UserError(f"num_heads={num_heads} does not divide the encoder width {width} of "
                        f"{path}")
    hidden = sd["blocks.0.mlp.fc1.weight"].shape[0]
    cfg: dict[str, Any] = {
        "kind": "vit",
        "embed_dim": width,
        "depth": _count_blocks(sd),
        "num_heads": num_heads,
        "mlp_ratio": _mlp_ratio(width, hidden),
        "patch_size": patch,
        "qkv_bias": "blocks.0.attn.qkv.bias" in sd,
    }
    for name, dims in VIT_SIZES.items():  # name the size when it is a standard one
        if (width, cfg["depth"], num_heads, hidden) == (
            dims.embed_dim, dims.depth, dims.num_heads, int(dims.embed_dim * dims.mlp_ratio)
        ):
            cfg = {"kind": "vit", "size": name, **{k: v for k, v in cfg.items() if k != "kind"}}
    return cfg, side * patch, in_chans


def _predictor_arch(sd: StateDict, enc_cfg: dict[str, Any], path: Path) -> dict[str, Any]:
    _require(sd, {"predictor_embed.weight": 2, "predictor_blocks.0.mlp.fc1.weight": 2},
             "predictor", path)
    width, enc_width = sd["predictor_embed.weight"].shape
    if enc_width != enc_cfg["embed_dim"]:
        raise ReferenceCheckpointError(
            f"{path}: predictor reads width {enc_width} but the encoder is {enc_cfg['embed_dim']}"
        )
    hidden = sd["predictor_blocks.0.mlp.fc1.weight"].shape[0]
    return {
        "kind": "vit_predictor",
        "embed_dim": width,
        "depth": _count_blocks(sd),
        "num_heads": enc_cfg["num_heads"],  # the reference builds the predictor with these
        "mlp_ratio": _mlp_ratio(width, hidden),
        "qkv_bias": "predictor_blocks.0.attn.qkv.bias" in sd,
        "targets": "per_block",  # the reference runs one predictor pass per target block
    }


def infer_num_heads(width: int) -> int:
    """Heads of a reference encoder of ``width``: its named sizes, else heads of width 32."""
    if width in HEADS_BY_WIDTH:
        return HEADS_BY_WIDTH[width]
    if width % FALLBACK_HEAD_DIM == 0:
        return width // FALLBACK_HEAD_DIM
    raise ValueError(
        f"cannot infer the head count of width {width} from tensor shapes; pass num_heads"
    )


def _mlp_ratio(width: int, hidden: int) -> float:
    """A ratio r with ``int(width * r) == hidden`` (how timm and the reference size the MLP)."""
    ratio = hidden / width
    if int(width * ratio) != hidden:  # e.g. 88 * (120 / 88) == 119.99999999999999
        ratio = math.nextafter(ratio, math.inf)
    return ratio


def _count_blocks(sd: StateDict) -> int:
    found = {int(m.group(1)) for k in sd if (m := _BLOCK.match(k))}
    return max(found) + 1 if found else 0


def _check_table(table: torch.Tensor, path: Path) -> None:
    """Warn when the stored table is not the fixed sin-cos one (fine-tuned or foreign weights)."""
    _, n, width = table.shape
    side = math.isqrt(n)
    if width % 4:  # the 2-D sin-cos table needs a width divisible by 4; nothing to compare
        return
    expected = sincos_2d(width, (side, side))
    gap = (table[0].float() - expected).abs().max().item()
    if gap > 1e-4:
        warnings.warn(
            f"{path}: encoder pos_embed differs from the 2-D sin-cos table by {gap:.3g}; "
            f"the stored table is used as is",
            stacklevel=3,
        )


# -- plumbing ------------------------------------------------------------------------------------
def _load(path: Path) -> Any:
    """``torch.load(weights_only=True)`` of ``path``; every failure says what the file is."""
    if path.is_dir():
        raise ReferenceCheckpointError(f"{path}: a directory, not a checkpoint file")
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except FileNotFoundError:
        raise ReferenceCheckpointError(f"{path}: no such checkpoint file") from None
    except OSError as exc:
        raise ReferenceCheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    zipped = head.startswith(b"PK\x03\x04")  # torch.save's format since PyTorch 1.6
    if not zipped and not head.startswith(b"\x80"):  # else the legacy pickle-first format
        raise ReferenceCheckpointError(f"{path}: {_not_torch(head)}, not {_EXPECTED}")
    if zipped and not zipfile.is_zipfile(path):
        raise ReferenceCheckpointError(
            f"{path}: a truncated or damaged PyTorch file (its zip directory is missing or "
            f"unreadable); download or copy it again")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            # mmap keeps the (large) optimizer state on disk; only the weights are read and
            # copied. Legacy (non-zip) files cannot be memory-mapped.
            return torch.load(path, map_location="cpu", weights_only=True, mmap=zipped)
    except pickle.UnpicklingError as exc:
        if "weights_only" not in str(exc) and "Weights only" not in str(exc):
            raise ReferenceCheckpointError(
                f"{path}: a damaged PyTorch file ({_brief(exc)})") from None
        raise ReferenceCheckpointError(f"{path}: {_refused(exc)}") from None
    except Exception as exc:  # torch reports damage as RuntimeError, OSError, KeyError, ...
        raise ReferenceCheckpointError(
            f"{path}: a damaged or truncated PyTorch file ({_named(exc)}); download or copy "
            f"it again") from None


def _refused(exc: Exception) -> str:
    """Why a weights-only load refused the file, without torch's advice to turn it off."""
    from jepa_kit.checkpoint.failures import refused_pickle

    what = refused_pickle(exc) or "is a pickle of more than tensors"
    return (f"refused: the file {what}, and jepa-kit never unpickles code; it is not an "
            f"official I-JEPA checkpoint of plain tensors (those load with weights_only=True)")


def _not_torch(head: bytes) -> str:
    """What a file that is not ``torch.save`` output looks like, from its first bytes."""
    if len(head) >= 9 and head[8:9] == b"{":  # 8-byte header length, then its JSON
        return "a safetensors file (bare weights, e.g. from jepa-kit export)"
    if head.startswith((codecs.BOM_UTF8, b"{", b"[", b"#")) or (head and all(
            32 <= b < 127 or b in b"\t\r\n" for b in head)):
        return "a text file"
    if not head:
        return "an empty file"
    return "not a PyTorch file (it does not start as torch.save output does)"


def _check_layout(raw: Any, path: Path) -> dict[str, Any]:
    """The loaded object, checked to be the reference's dict of state dicts."""
    from jepa_kit.checkpoint import FORMAT

    if not isinstance(raw, dict):
        raise ReferenceCheckpointError(
            f"{path}: holds a {type(raw).__name__}, not {_EXPECTED}")
    if raw.get("format") == FORMAT:
        raise ReferenceCheckpointError(
            f"{path}: is a jepa-kit checkpoint already; use it directly (jepa-kit eval / "
            f"export, or --set train.init_from={path})")
    missing = [k for k in ("encoder", "predictor") if k not in raw]
    if missing:
        keys = ", ".join(repr(k) for k in list(raw)[:4]) + (", ..." if len(raw) > 4 else "")
        if raw and all(isinstance(v, torch.Tensor) for v in raw.values()):
            what = f"a single network's state dict (keys: {keys})"
        else:
            lacks = " or ".join(repr(k) for k in missing)
            what = f"a dict without {lacks} (keys: {keys or 'none'})"
        raise ReferenceCheckpointError(f"{path}: {what}, not {_EXPECTED}")
    return raw


def _strip(sd: Any, what: str, path: Path) -> StateDict:
    """Drop the DDP ``module.`` prefix and copy into float32 tensors we own (not the mmap)."""
    if not isinstance(sd, dict) or not sd:
        given = "an empty dict" if isinstance(sd, dict) else f"of type {type(sd).__name__}"
        raise ReferenceCheckpointError(
            f"{path}: '{what}' is {given}, not a state dict of tensors")
    out: StateDict = {}
    for key, value in sd.items():
        if not isinstance(value, torch.Tensor):
            raise ReferenceCheckpointError(
                f"{path}: '{what}' entry {key!r} is of type {type(value).__name__}, not a "
                f"tensor")
        key = str(key).removeprefix("module.")
        floating = value.is_floating_point()
        out[key] = value.to(torch.float32, copy=True) if floating else value.clone()
    return out


def _number(value: Any) -> float | None:
    """A counter or loss stored as a number or a one-element tensor; None otherwise."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _named(exc: Exception) -> str:
    brief, name = _brief(exc), type(exc).__name__
    return name if brief == name else f"{name}: {brief}"


def _brief(exc: Exception, limit: int = 300) -> str:
    """An exception's message on one line: pydantic's first problem, torch's lines joined."""
    if isinstance(exc, ValidationError) and exc.errors():
        return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    text = text.replace(":;", ":")
    if len(text) > limit:
        text = text[:limit] + "..."
    return text or type(exc).__name__


def _clone(sd: StateDict) -> StateDict:
    return {k: v.clone() for k, v in sd.items()}


def _require(sd: StateDict, ndims: dict[str, int], what: str, path: Path) -> None:
    """``sd`` holds each key of ``ndims`` as a tensor of that many dimensions."""
    missing = [k for k in ndims if k not in sd]
    if missing:
        raise ReferenceCheckpointError(
            f"{path}: the {what} state dict lacks {', '.join(missing)}; not an I-JEPA ViT")
    for key, ndim in ndims.items():
        if sd[key].ndim != ndim:
            raise ReferenceCheckpointError(
                f"{path}: {what} {key} has shape {tuple(sd[key].shape)}, not the {ndim} "
                f"dimensions of an I-JEPA ViT")
