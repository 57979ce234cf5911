"""Conformance checks for methods and for the components only methods use (views, projectors).

``check_method`` trains the method for real at a tiny size: it validates a recipe made of the
method's slot defaults (small configs from ``SMALL_CONFIGS``), builds the method as the engine
does, runs loader batches through ``forward``, backward and ``after_step``, and round-trips the
networks through a checkpoint-style state dict.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any

import torch
from PIL import Image
from torch import nn

from jepa_kit.encoders.base import Encoder
from jepa_kit.registry import GROUPS, registry
from jepa_kit.testing.base import (
    ConfigLike,
    built,
    check_config,
    check_finite,
    check_gradients,
    check_shape,
    expect,
    generator,
    label,
    seeded,
)

#: Data of the method check: a few synthetic images, drawn in the main process.
_DATA = {"kind": "synthetic", "img_size": 64, "train_size": 16, "val_size": 4,
         "native_size": 64, "num_workers": 0}
#: Data of the method check when its views take clips (modality "video").
_VIDEO_DATA = {"kind": "synthetic_video", "img_size": 32, "train_size": 16, "val_size": 4,
               "num_frames": 4, "native_size": 32, "num_workers": 0}


def _recipe(cls: type, cfg: Any, sections: Mapping[str, Mapping[str, Any]] | None,
            batch_size: int, configs: Mapping[tuple[str, str], Any] | None = None) -> Any:
    from jepa_kit.recipe import validate_recipe
    from jepa_kit.testing.small_configs import SMALL_CONFIGS, small_config

    who = f"method {label(cls)}"
    slots = getattr(cls, "slots", None)
    expect(isinstance(slots, dict) and all(isinstance(k, str) for k in slots),
           f"{who}: slots must be a dict of section -> default kind, got {slots!r}")
    unknown = [s for s in slots if s not in GROUPS or s in ("method", "dataset")]
    expect(not unknown, f"{who}: slots {unknown} are not component sections; sections are "
           f"named after their kind: {', '.join(k for k in GROUPS if k != 'method')}")
    choices = getattr(cls, "eval_encoders", None)
    expect(isinstance(choices, dict) and choices,
           f"{who}: eval_encoders must map at least one --which choice to a network name")
    raw: dict[str, Any] = {"method": cfg.model_dump(mode="json"), "data": dict(_DATA),
                           "train": {"batch_size": batch_size, "epochs": 1},
                           "optim": {"warmup_epochs": 0}}
    given = dict(sections or {})
    for slot, default in slots.items():
        body = dict(given.pop(slot, {}))
        kind = body.get("kind", default)
        expect(kind is not None, f"{who}: slot {slot!r} has no default kind; pass "
               f"sections={{{slot!r}: {{'kind': ...}}}}")
        # Entries of ``configs`` over SMALL_CONFIGS: a caller names only what it changes.
        small = small_config(slot, kind, {**SMALL_CONFIGS, **(configs or {})}) or {}
        raw[slot] = {"kind": kind, **small, **body}
    expect(not given, f"{who}: sections {sorted(given)} are not slots of the method")
    views = raw.get("views", {}).get("kind")
    if views and getattr(registry("views").load(views), "modality", "image") == "video":
        raw["data"] = dict(_VIDEO_DATA)
    data_kind = getattr(cls, "dataset_kind", None)  # a method that reads one kind of data
    if data_kind is not None:
        raw["data"] = {"kind": data_kind, **(small_config("dataset", data_kind) or {})}
    return built(lambda: validate_recipe(raw, f"<check_method {label(cls)}>"), who,
                 "validating its tiny recipe")


def check_method(cls: type, config: ConfigLike = None, *,
                 sections: Mapping[str, Mapping[str, Any]] | None = None,
                 configs: Mapping[tuple[str, str], Any] | None = None,
                 batch_size: int = 4, seed: int = 0, name: str | None = None) -> None:
    """Build ``cls`` from a tiny recipe and train it for two steps; checks the whole contract.

    Each slot section is its kind's small config (``configs``, entries over ``SMALL_CONFIGS``:
    a one-block tiny ViT, ...) updated by ``sections[slot]``, which sets options (e.g.
    ``{"encoder": {"depth": 4}}`` for a method that reads several blocks) or the kind of a
    slot without a default. A recipe that does not validate, or a method that does not
    build, raises ``AssertionError`` naming the method, with the error as its cause.
    """
    from jepa_kit.build import build_dataset, build_method
    from jepa_kit.data.loader import Batch, build_loader
    from jepa_kit.methods.base import RESERVED_NAMES, Method, StepOutput
    from jepa_kit.optim.adamw import AdamW
    from jepa_kit.views.base import Views

    cfg = check_config(cls, "method", config, name)
    who = f"method {label(cls)}"
    recipe = _recipe(cls, cfg, sections, batch_size, configs)
    recipe.method = cfg
    method: Method = built(lambda: seeded(lambda: build_method(recipe), seed), who,
                           "building it from its tiny recipe")
    expect(isinstance(method, cls), f"{who}: build_method returned {type(method).__name__}")

    nets = method.networks
    expect(isinstance(nets, dict) and nets and
           all(isinstance(n, nn.Module) for n in nets.values()),
           f"{who}: networks must be a non-empty dict of name -> nn.Module")
    clash = RESERVED_NAMES & set(nets)
    expect(not clash, f"{who}: network names {sorted(clash)} are reserved checkpoint keys")
    expect(method.trainable and set(method.trainable) <= set(nets),
           f"{who}: trainable {method.trainable!r} must name some of its networks {list(nets)}")
    for choice, net in method.eval_encoders.items():
        expect(isinstance(nets.get(net), Encoder),
               f"{who}: eval_encoders[{choice!r}] = {net!r} is not one of its Encoder networks")
    again = seeded(lambda: build_method(recipe), seed)
    for net, module in nets.items():
        state, other = module.state_dict(), again.networks[net].state_dict()
        expect(all(torch.equal(state[k], other[k]) for k in state),
               f"{who}: network {net!r} differs between two builds with the same seed; draw "
               "initial weights from the global RNG only (the engine seeds it)")

    expect(isinstance(method.views, Views), f"{who}: views must be a jepa_kit Views")
    collate = method.collator(seed=seed, rank=0)
    try:
        pickle.dumps(collate)
    except Exception as exc:
        raise AssertionError(f"{who}: its collator does not pickle (loader workers need it): "
                             f"{type(exc).__name__}: {exc}") from None
    dataset = build_dataset(recipe.data, train=True, seed=seed)
    loader = build_loader(dataset, method.views, collate, batch_size=batch_size, seed=seed,
                          num_workers=0)
    batches: list[Batch] = [b for b, _ in zip(loader, range(2), strict=False)]
    expect(len(batches[0].views) == method.views.num_views,
           f"{who}: a batch has {len(batches[0].views)} views, its views make "
           f"{method.views.num_views}")

    groups = built(method.param_groups, who, "param_groups()")
    given = [id(p) for g in groups for p in g["params"]]
    trained = {id(p) for n in method.trainable for p in nets[n].parameters() if p.requires_grad}
    expect(len(given) == len(set(given)) and set(given) == trained,
           f"{who}: param_groups() must hold every trainable parameter exactly once "
           f"({len(given)} entries, {len(set(given))} distinct, {len(trained)} trainable)")
    optimizer = AdamW(AdamW.Config(implementation="foreach")).build(groups)
    for group in optimizer.param_groups:
        group["lr"] = 1e-3
    frozen = {n: {k: v.clone() for k, v in nets[n].state_dict().items()}
              for n in nets if n not in method.trainable}
    for step, batch in enumerate(batches, start=1):
        out = method.forward(batch, nets)
        expect(isinstance(out, StepOutput), f"{who}: forward must return a StepOutput")
        loss = out.loss
        expect(isinstance(loss, torch.Tensor) and loss.dim() == 0 and loss.is_floating_point(),
               f"{who}: StepOutput.loss must be a 0-dim float tensor")
        check_finite(loss, f"{who}: loss")
        expect(loss.requires_grad, f"{who}: the loss does not depend on the trainable networks")
        for key, value in out.metrics.items():
            expect(isinstance(value, (int, float)) or
                   (isinstance(value, torch.Tensor) and value.numel() == 1
                    and not value.requires_grad),
                   f"{who}: metric {key!r} must be a number or a detached scalar tensor")
        if out.features is not None:
            expect(out.features.dim() == 3 and out.features.shape[0] == len(batch),
                   f"{who}: StepOutput.features must be (B, N, D) token features, got "
                   f"{tuple(out.features.shape)}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for net in method.trainable:
            check_gradients(nets[net], f"{who}: network {net!r}")
        optimizer.step()
        with torch.no_grad():
            logged = method.after_step(step)
        expect(isinstance(logged, dict) and all(isinstance(v, float) for v in logged.values()),
               f"{who}: after_step must return a dict of floats, got {logged!r}")

    for net in frozen:  # frozen networks move only by after_step, never by the optimizer
        expect(all(p.grad is None for p in nets[net].parameters()),
               f"{who}: network {net!r} is not trainable but received gradients")

    restored: Method = seeded(lambda: build_method(recipe), seed + 1)
    restored.load_state_dict(method.state_dict(), who)
    for net in nets:
        nets[net].eval()
        restored.networks[net].eval()
    with torch.no_grad():
        a = method.forward(batches[0], nets).loss
        b = restored.forward(batches[0], restored.networks).loss
    expect(torch.allclose(a, b, rtol=1e-5, atol=1e-6),
           f"{who}: a method restored from state_dict() computes another loss ({float(b)} vs "
           f"{float(a)}); every state the loss depends on must be in its networks")


def _image(seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (3, 40, 48), generator=generator(seed), dtype=torch.uint8)


def check_views(cls: type, config: ConfigLike = None, *, img_size: int = 32,
                name: str | None = None) -> None:
    """Views are float (3, s, s) per ``sizes`` ((3, T, s, s) of a clip (T, 3, H, W) for views
    whose ``modality`` is ``"video"``), a function of the generator alone, picklable."""
    cfg = check_config(cls, "views", config, name)
    who = f"views {label(cls)}"
    views = cls(cfg, img_size=img_size)
    sizes = getattr(views, "sizes", None)
    expect(isinstance(sizes, tuple) and sizes and all(isinstance(s, int) for s in sizes),
           f"{who}: sizes must be a non-empty tuple of ints, got {sizes!r}")
    before = torch.get_rng_state()
    video = getattr(views, "modality", "image") == "video"
    image = torch.stack([_image(0), _image(1), _image(2)]) if video else _image(0)  # clip: T=3
    out = views(image, generator(1))
    expect(torch.equal(before, torch.get_rng_state()),
           f"{who}: drew from the global RNG; use only the generator it is given")
    expect(isinstance(out, list) and len(out) == len(sizes),
           f"{who}: expected a list of {len(sizes)} views")
    for i, (view, side) in enumerate(zip(out, sizes, strict=True)):
        check_shape(view, (3, 3, side, side) if video else (3, side, side), f"{who}: view {i}")
        expect(view.dtype == torch.float32, f"{who}: view {i} has dtype {view.dtype}")
        check_finite(view, f"{who}: view {i}")
    again = views(image, generator(1))
    expect(all(torch.equal(a, b) for a, b in zip(out, again, strict=True)),
           f"{who}: equal generator seeds gave different views")
    if not video:
        pil = Image.fromarray(image.permute(1, 2, 0).numpy())
        expect(all(torch.equal(a, b) for a, b in zip(out, views(pil, generator(1)), strict=True)),
               f"{who}: a PIL image and the same pixels as a uint8 tensor give different views")
    try:
        pickle.dumps(views)
    except Exception as exc:
        raise AssertionError(f"{who}: does not pickle (loader workers need it): {exc}") from None


def check_projector(cls: type, config: ConfigLike = None, *, in_dim: int = 16,
                    batch: int = 6, name: str | None = None) -> None:
    """(B, D) -> (B, out_dim), finite, differentiable, per-sample in eval mode."""
    cfg = check_config(cls, "projector", config, name)
    who = f"projector {label(cls)}"
    projector = seeded(lambda: cls(cfg, in_dim=in_dim), 0)
    out_dim = getattr(projector, "out_dim", None)
    expect(isinstance(out_dim, int) and out_dim > 0, f"{who}: out_dim must be a positive int")
    x = torch.randn(batch, in_dim, generator=generator(0), requires_grad=True)
    y = projector(x)
    check_shape(y, (batch, out_dim), f"{who}: forward((B, D))")
    check_finite(y, who)
    (y * torch.randn(y.shape, generator=generator(1))).sum().backward()
    check_gradients(projector, who)
    expect(x.grad is not None and bool(x.grad.abs().sum() > 0),
           f"{who}: no gradient reaches its input")
    projector.eval()
    with torch.no_grad():
        full = projector(x.detach())
        alone = projector(x.detach()[:1])
    expect(torch.allclose(full[:1], alone, rtol=1e-5, atol=1e-6),
           f"{who}: in eval mode a sample's output depends on the other samples of the batch")
