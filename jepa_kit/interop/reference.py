"""Official checkpoints in: find the method whose importer claims the file, re-save as jepa-kit.

Each method with an official implementation declares its importer
(``Method.reference_importer``, in ``jepa_kit/methods/<name>/importer.py``). The file is read
once (``torch.load(weights_only=True)``: jepa-kit never unpickles code) and checked to be a
dict of state dicts; every installed method's importer is asked whether it is its own, and
the one that claims it (the highest ``priority`` where several do) reads the weights and the
architecture behind them. The result must
rebuild before a checkpoint is written.

Every bad input is a ``ReferenceCheckpointError`` (a user error) naming the file and saying what
it is instead (see ``jepa_kit.methods.reference_file``).
"""

from __future__ import annotations

from pathlib import Path

from jepa_kit.errors import UserError
from jepa_kit.methods.ijepa.importer import (
    ReferenceWeights,
    load_reference_checkpoint,
    masker_for_grid,
)
from jepa_kit.methods.importer import ImportedWeights, ReferenceImporter
from jepa_kit.methods.reference_file import (
    ReferenceCheckpointError,
    brief,
    check_layout,
    infer_num_heads,
    load_torch_file,
)

__all__ = ["ReferenceCheckpointError", "ReferenceWeights", "import_reference",
           "importers", "infer_num_heads", "load_reference_checkpoint", "masker_for_grid",
           "read_reference"]


def importers() -> dict[str, type[ReferenceImporter]]:
    """Method name -> its reference importer, for every installed method that has one."""
    from jepa_kit.registry import registry

    found = {}
    for name, method in registry("method").load_all().items():
        importer = getattr(method, "reference_importer", None)
        if importer is not None:
            found[name] = importer
    return found


def read_reference(path: str | Path, num_heads: int | None = None
                   ) -> tuple[type[ReferenceImporter], ImportedWeights]:
    """The importer that claims ``path`` and the weights it read (checked to rebuild)."""
    path = Path(path)
    raw = check_layout(load_torch_file(path), path)
    claimed = [imp for imp in importers().values() if imp.claims(raw)]
    if not claimed:
        raise ReferenceCheckpointError(
            f"{path}: no installed method's importer recognises this checkpoint (importers: "
            f"{', '.join(importers()) or 'none'})")
    claimed.sort(key=lambda imp: -imp.priority)
    if len(claimed) > 1 and claimed[0].priority == claimed[1].priority:
        names = ", ".join(imp.method for imp in claimed if imp.priority == claimed[0].priority)
        raise ReferenceCheckpointError(f"{path}: claimed by the importers of {names} at the "
                                       f"same priority; one of them must claim less")
    importer = claimed[0]
    weights = importer.read(raw, path, num_heads)
    try:  # fail here, not at training time, if the weights do not fit
        weights.build_modules()
    except (RuntimeError, ValueError) as exc:
        raise ReferenceCheckpointError(
            f"{path}: the weights do not fit the {importer.architecture} read off their shapes "
            f"({brief(exc)})") from None
    return importer, weights


def import_reference(
    path: str | Path, out_dir: str | Path, num_heads: int | None = None
) -> Path:
    """Convert an official checkpoint into a jepa-kit checkpoint in ``out_dir``; returns its path.

    The result holds the method's state dicts, no optimizer or RNG state, and a partial recipe
    (``encoder``, ``predictor``, ``data.img_size``, ...) that the recipe loader merges with
    defaults. ``step`` is 0: the references do not record optimizer steps, only the epoch.
    """
    from jepa_kit import __version__
    from jepa_kit.checkpoint import CheckpointRecord, checkpoint_name, write_checkpoint

    importer, weights = read_reference(path, num_heads)
    record = CheckpointRecord(
        step=0, epoch=weights.epoch, method=importer.method, networks=weights.networks,
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
