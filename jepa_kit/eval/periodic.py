"""Evaluation during pre-training: the recipe's ``eval.protocols`` every ``eval.every_epochs``.

``PeriodicEval(data, device, protocols=["knn", "linear"], seed=...)(encoder)`` returns one
row of metrics, ``<protocol>_<metric>`` for each protocol's headline metrics and its top-5
(``knn_top1``, ``linear_top1``, ...), the keys ``compare`` reads from ``metrics.jsonl``. The
train and val splits are built once (eval transform, no augmentation); each call extracts
what the protocols read, once per pooling. In a job of ``world_size`` processes every rank
calls it: each extracts its share, the shares are gathered, and each rank runs the same
seeded protocols, so no rank waits on another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from jepa_kit.config import ComponentConfig
from jepa_kit.eval.features import FeatureExtractor, build_eval_splits
from jepa_kit.eval.protocols.base import Inputs


class PeriodicEval:
    """The protocols named in ``protocols``, with ``settings[name]`` over their defaults."""

    def __init__(self, data: ComponentConfig, device: torch.device | str, *,
                 protocols: Sequence[str], seed: int,
                 settings: Mapping[str, Mapping[str, Any]] | None = None,
                 precision: str = "fp32", batch_size: int = 256, rank: int = 0,
                 world_size: int = 1) -> None:
        from jepa_kit.eval.evaluate import build_protocol

        self.protocols = [build_protocol(name, (settings or {}).get(name))
                          for name in protocols]
        self.device, self.precision, self.seed = torch.device(device), precision, seed
        self.splits = build_eval_splits(data, seed=seed)
        self.num_classes = len(self.splits.train.classes)
        pools = {{"pooled": "avg", "tokens": "tokens"}[p.reads] for p in self.protocols
                 if p.reads != "images"}
        # The same sharded, gathered extraction as `jepa-kit eval` (FeatureExtractor).
        self.extract = {pool: FeatureExtractor(self.splits, device, batch_size=batch_size,
                                               precision=precision, pool=pool, rank=rank,
                                               world_size=world_size)
                        for pool in sorted(pools)}

    def __call__(self, encoder: nn.Module) -> dict[str, float]:
        feats = {pool: extract(encoder) for pool, extract in self.extract.items()}
        row: dict[str, float] = {}
        for protocol in self.protocols:
            pool = {"pooled": "avg", "tokens": "tokens"}.get(protocol.reads)
            train = val = None
            if pool is not None:
                train, val = (tuple(t.to(self.device) for t in feats[pool][s])
                              for s in ("train", "val"))
            inputs = Inputs(train, val, self.num_classes, None, encoder,  # type: ignore[arg-type]
                            self.splits, self.device, precision=self.precision, seed=self.seed)
            metrics = protocol.run(inputs).metrics()
            name = protocol.config.kind
            row.update({f"{name}_{key}": float(metrics[key])
                        for key in dict.fromkeys((*protocol.headline, "top5",
                                                         *getattr(protocol, "logged", ())))
                        if key in metrics})
        return row
