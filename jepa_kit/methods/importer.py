"""The reference-checkpoint importer interface: a method's way in for the official weights.

A method that has an official implementation declares an importer (``Method.reference_importer``)
next to itself (``jepa_kit/methods/<name>/importer.py``). ``jepa-kit import-reference`` loads
the file once and asks every installed method's importer whether the file is its own
(``claims``); the one that says yes reads it (``read``) into ``ImportedWeights``, which are
checked to rebuild (``build_modules``) before a jepa-kit checkpoint is written.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from jepa_kit.methods.reference_file import StateDict, clone


@dataclass
class ImportedWeights(ABC):
    """The three state dicts of a reference checkpoint (our keys) and the recipe sections
    that rebuild them; ``recipe_fragment()`` gathers the sections for the recipe model."""

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

    @property
    def networks(self) -> dict[str, StateDict]:
        """The state dicts by the method's network names (what the checkpoint holds)."""
        return {"encoder": self.encoder, "target_encoder": self.target_encoder,
                "predictor": self.predictor}

    #: The encoder and predictor classes the sections configure.
    encoder_class: ClassVar[type[nn.Module]]
    predictor_class: ClassVar[type[nn.Module]]

    @abstractmethod
    def recipe_fragment(self) -> dict[str, Any]:
        """The partial recipe stored with the imported checkpoint (merged with defaults)."""

    def build_modules(self) -> tuple[Any, Any, Any]:
        """(encoder, target encoder, predictor) holding these weights, loaded ``strict=True``.

        Built on the meta device and filled by assignment, so no time goes into a random init
        that is thrown away; each module owns copies of the tensors (the dicts here stay
        intact)."""
        enc_cls, pred_cls = self.encoder_class, self.predictor_class
        enc_cfg = enc_cls.Config(**self.encoder_config)  # type: ignore[attr-defined]
        encoders = []
        for weights in (self.encoder, self.target_encoder):
            with torch.device("meta"):
                encoder = enc_cls(enc_cfg, img_size=self.img_size, in_chans=self.in_chans)
            encoder.load_state_dict(clone(weights), strict=True, assign=True)
            encoders.append(encoder)
        with torch.device("meta"):
            predictor = pred_cls(
                pred_cls.Config(**self.predictor_config),  # type: ignore[attr-defined]
                grid=encoders[0].grid, embed_dim=encoders[0].embed_dim,
                encoder_heads=encoders[0].num_heads)
        predictor.load_state_dict(clone(self.predictor), strict=True, assign=True)
        return encoders[0], encoders[1], predictor


class ReferenceImporter(ABC):
    """Reads one official implementation's training checkpoints.

    Not for: writing the jepa-kit checkpoint (``jepa_kit.interop.reference`` does that, the
    same for every method) nor reading jepa-kit's own files.
    """

    #: The method whose checkpoints the weights become (its recipe ``[method] kind``).
    method: ClassVar[str]
    #: The model family, for messages ("I-JEPA ViT").
    architecture: ClassVar[str]
    #: When several importers claim a file, the highest priority reads it (a tie is an error).
    #: A catch-all importer takes a lower one, so a more specific claim wins over it.
    priority: ClassVar[int] = 0

    @classmethod
    @abstractmethod
    def claims(cls, raw: dict[str, Any]) -> bool:
        """Whether a loaded checkpoint dict (``encoder`` and ``predictor`` present, keys as
        saved) is this implementation's. Cheap: key names and shapes only."""

    @classmethod
    @abstractmethod
    def read(cls, raw: dict[str, Any], path: Path, num_heads: int | None) -> ImportedWeights:
        """The weights and the architecture read off ``raw`` (``ReferenceCheckpointError``
        naming ``path`` when they are not this implementation's)."""
