"""Model cards: the ``README.md`` that ``jepa-kit export`` writes beside the weights.

A card says what the exported encoder is and where it came from, all read off the checkpoint
and its run folder, never typed by hand: the method and which of its encoders, the
architecture, the data, how long it trained (or, for an imported official checkpoint, which
release it came from and under what license), every evaluation result found for the run with
its random-init baseline, how to load the files in timm, transformers and jepa-kit, and the
resolved recipe. The front matter is the Hugging Face Hub's model-card metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

__all__ = ["OFFICIAL_RELEASES", "CardFacts", "card_path", "find_evaluations", "render_card"]

#: Where an imported checkpoint's method was released, and the license of that release.
OFFICIAL_RELEASES: dict[str, dict[str, str]] = {
    "ijepa": {"name": "I-JEPA", "repository": "https://github.com/facebookresearch/ijepa",
              "license": "CC BY-NC 4.0", "license_id": "cc-by-nc-4.0",
              "paper": "Assran et al. 2023, arXiv:2301.08243"},
    "vjepa": {"name": "V-JEPA", "repository": "https://github.com/facebookresearch/jepa",
              "license": "CC BY-NC 4.0", "license_id": "cc-by-nc-4.0",
              "paper": "Bardes et al. 2024, arXiv:2404.08471"},
}
_LIBRARY = {"hf": "transformers", "timm": "timm", "safetensors": "jepa-kit"}


@dataclass
class CardFacts:
    """Everything a card states; ``export`` gathers them from the checkpoint and its run."""

    method: str
    which: str
    fmt: str
    out: str  # the export's path as the user gave it (what the loading snippets open)
    encoder: dict[str, Any]  # the recipe's encoder section
    dims: dict[str, Any]  # embed_dim, depth, num_heads, mlp_ratio
    img_size: int
    in_chans: int
    num_params: int
    step: int
    epoch: int
    recipe: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    source: str | None = None  # the official file an imported checkpoint came from
    versions: dict[str, str] = field(default_factory=dict)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    name: str = ""

    @property
    def grid(self) -> int:
        return self.img_size // int(self.encoder["patch_size"])


def card_path(out: Path, fmt: str) -> Path:
    """``FOLDER/README.md`` for a folder export; ``NAME.README.md`` beside a single file, so
    an export into a folder that holds other things never overwrites its README."""
    if out.suffix == ".safetensors":
        return out.with_name(out.stem + ".README.md")
    return out / "README.md"


def find_evaluations(checkpoint: Path) -> list[dict[str, Any]]:
    """The evaluation results ``jepa-kit eval`` wrote for ``checkpoint``'s run, oldest first.

    For ``RUN/checkpoints/step_N.pt`` they are ``RUN/eval_*.json``, elsewhere
    ``<stem>_eval_*.json`` beside the checkpoint. Random-init runs are left out: their score
    is every other result's baseline."""
    if checkpoint.parent.name == "checkpoints":
        files = sorted(checkpoint.parent.parent.glob("eval_*.json"))
    else:
        files = sorted(checkpoint.parent.glob(f"{checkpoint.stem}_eval_*.json"))
    found = []
    for path in files:
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a half-written or foreign file says nothing about this encoder
        if (isinstance(result, dict) and isinstance(result.get("metrics"), dict)
                and "top1" in result["metrics"] and not result.get("random_init")):
            result["file"] = path.name
            found.append(result)
    return sorted(found, key=lambda r: (int(r.get("checkpoint_step", 0)), r["file"]))


def render_card(facts: CardFacts) -> str:
    """The card's Markdown."""
    release = OFFICIAL_RELEASES.get(facts.method) if facts.source else None
    parts = [_front_matter(facts, release), _title(facts), _summary(facts, release),
             _architecture(facts), _training(facts, release), _evaluations(facts),
             _loading(facts), _recipe(facts)]
    return "\n".join(p for p in parts if p)


def _front_matter(facts: CardFacts, release: dict[str, str] | None) -> str:
    lines = ["---", f"library_name: {_LIBRARY[facts.fmt]}"]
    if release is not None:
        lines.append(f"license: {release['license_id']}")
    lines += ["pipeline_tag: image-feature-extraction", "tags:", "- jepa-kit",
              f"- {facts.method}", "- self-supervised", "---", ""]
    return "\n".join(lines)


def _title(facts: CardFacts) -> str:
    name = facts.name or facts.method
    return f"# {name}: the {facts.which} encoder of a jepa-kit {facts.method} run\n"


def _summary(facts: CardFacts, release: dict[str, str] | None) -> str:
    d = facts.dims
    text = (f"A ViT ({d['embed_dim']} wide, {d['depth']} blocks) pre-trained with "
            f"**{facts.method}**, self-supervised, by jepa-kit; exported as `{facts.fmt}`. "
            f"It maps a {facts.img_size}x{facts.img_size} image to {facts.grid * facts.grid} "
            f"patch tokens of width {d['embed_dim']}; their mean is the image's feature.\n")
    if release is not None:
        text += (f"\nImported from the official {release['name']} release "
                 f"({release['repository']}, {release['paper']}): file "
                 f"`{Path(str(facts.source)).name}`. **License: {release['license']}** (the "
                 "license of the official weights; non-commercial use only).\n")
    return text


def _architecture(facts: CardFacts) -> str:
    d, e = facts.dims, facts.encoder
    rows = [("encoder", f"`{e['kind']}` (jepa-kit), no class token"),
            ("width x depth", f"{d['embed_dim']} x {d['depth']}"),
            ("heads", str(d["num_heads"])), ("MLP ratio", f"{d['mlp_ratio']:g}"),
            ("patch size", str(e["patch_size"])),
            ("input", f"{facts.in_chans} x {facts.img_size} x {facts.img_size}, ImageNet "
                      "mean/std normalised"),
            ("output", f"({facts.grid * facts.grid}, {d['embed_dim']}) patch tokens"),
            ("parameters", f"{facts.num_params:,}")]
    return "## Architecture\n\n" + _table(("", "value"), rows)


def _training(facts: CardFacts, release: dict[str, str] | None) -> str:
    data = facts.recipe.get("data") or {}
    described = ", ".join(f"{k}={v}" for k, v in data.items() if k not in ("kind", "num_workers"))
    lines = ["## Training", ""]
    if release is not None:
        lines.append(f"- trained by the authors of {release['name']}; the checkpoint records "
                     f"epoch {facts.epoch}, not the optimizer steps")
    else:
        lines.append(f"- method: `{facts.method}`, exported encoder: `{facts.which}`")
        lines.append(f"- data: `{data.get('kind', 'unknown')}` ({described})")
        lines.append(f"- steps: {facts.step} (epoch {facts.epoch})")
    if "loss" in facts.metrics:
        lines.append(f"- last logged loss: {facts.metrics['loss']:.4f}")
    kit = facts.versions.get("jepa-kit")
    if kit:
        lines.append(f"- jepa-kit {kit}")
    return "\n".join(lines) + "\n"


def _evaluations(facts: CardFacts) -> str:
    head = "## Evaluation\n\n"
    if not facts.evaluations:
        return head + ("No evaluation results were found beside the checkpoint (`jepa-kit "
                       "eval knn CHECKPOINT` writes them, with the random-init baseline).\n")
    rows = []
    for r in facts.evaluations:
        m = r["metrics"]
        base = (r.get("baseline") or {}).get("metrics", {}).get("top1")
        gain = r.get("gain") or {}
        verdict = ("" if not gain else " (within noise)" if gain.get("within_noise")
                   else " (beyond noise)")
        rows.append((r["protocol"], str(r.get("which", "")), str(r.get("features", "")),
                     str(r.get("checkpoint_step", r.get("step", ""))),
                     f"{100 * float(m['top1']):.2f}",
                     "-" if base is None else f"{100 * float(base):.2f}",
                     "-" if not gain else f"{100 * float(gain['top1']):+.2f}{verdict}",
                     f"{m.get('num_val', '')}"))
    table = _table(("protocol", "encoder", "features", "step", "top-1 %", "random init %",
                    "gain (points)", "val images"), rows)
    return (head + "Top-1 accuracy on the run's validation split; *random init* is the same "
            "architecture with the run's initial weights, scored the same way.\n\n" + table)


def _loading(facts: CardFacts) -> str:
    out, d = json.dumps(facts.out), facts.dims
    jk = ("```python\nimport jepa_kit\n\n"
          f"encoder = jepa_kit.load_encoder({out})  # an nn.Module: images -> (B, D)\n```\n")
    if facts.fmt == "hf":
        hf = ("```python\nfrom transformers import AutoModel\n\n"
              f"model = AutoModel.from_pretrained({out})  # IJepaModel\n"
              "tokens = model(pixel_values=images).last_hidden_state  # (B, N, D)\n```\n")
        timm = "Export the checkpoint again with `--format timm` for timm.\n"
    elif facts.fmt == "timm":
        hf = "Export the checkpoint again with `--format hf` for transformers.\n"
        timm = ("```python\nimport timm\n\n"
                f"model = timm.create_model(\"local-dir:{facts.out}\", pretrained=True)\n"
                "tokens = model.forward_features(images)  # (B, N, D); model(images): mean\n```\n")
    else:
        hf = "Export the checkpoint again with `--format hf` for transformers.\n"
        timm = ("The keys are timm's `VisionTransformer` keys:\n\n```python\nfrom functools "
                "import partial\n\nfrom safetensors.torch import load_file\nfrom "
                "timm.models.vision_transformer import VisionTransformer\nfrom torch import nn\n\n"
                f"model = VisionTransformer(img_size={facts.img_size}, "
                f"patch_size={facts.encoder['patch_size']}, in_chans={facts.in_chans}, "
                f"embed_dim={d['embed_dim']}, depth={d['depth']}, num_heads={d['num_heads']}, "
                f"mlp_ratio={d['mlp_ratio']:g}, qkv_bias={facts.encoder.get('qkv_bias', True)}, "
                "class_token=False, global_pool=\"avg\", fc_norm=False, num_classes=0, "
                "norm_layer=partial(nn.LayerNorm, eps=1e-6))\n"
                f"model.load_state_dict(load_file({out}))\n```\n")
    return ("## How to load it\n\nImages as the input row above says (pixels in [0, 1], then "
            "normalised with the ImageNet mean and std).\n\n"
            f"**jepa-kit**\n\n{jk}\n**transformers**\n\n{hf}\n**timm**\n\n{timm}")


def _recipe(facts: CardFacts) -> str:
    text = tomli_w.dumps(facts.recipe).rstrip()
    return ("## Recipe\n\n<details>\n<summary>The resolved recipe (TOML)</summary>\n\n"
            f"```toml\n{text}\n```\n\n</details>\n")


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
