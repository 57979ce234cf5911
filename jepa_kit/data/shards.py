"""WebDataset tar shards: the manifest that makes their length known, and reading them.

A shard is a plain tar file in the WebDataset layout (https://github.com/webdataset/webdataset):
the files of one sample share a key, ``00000123.jpg`` and ``00000123.cls``, and follow each other.
``jepa-kit data shard`` writes them and a ``manifest.json`` beside them that records every
shard's sample count and byte size and the class names: a stream cannot be counted without
reading it, and the trainer's schedules need the epoch length before the first step.

A sample's key is its index in the whole set (shard offset + position in the shard), so
``key`` and "what a sample is" agree in every reading order.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from jepa_kit.data.image_folder import DataError
from jepa_kit.data.transforms import to_rgb
from jepa_kit.errors import UserError

MANIFEST = "manifest.json"
FORMAT = "jepa-kit-shards"
VERSION = 1
#: Fields of a sample holding its image, in the order they are looked for.
IMAGE_FIELDS = ("jpg", "jpeg", "png", "webp", "bmp", "ppm", "tif", "tiff", "gif")
_SKIP_HINT = " (set data.skip_corrupt = true to skip unreadable samples)"
#: Open shards kept for random access per process (feature extraction reads shard by shard).
_OPEN_SHARDS = 4


@dataclass(frozen=True)
class Shard:
    """One shard: where it is read from, its sample count, and its size in bytes (None: not
    checked, e.g. a URL)."""

    url: str
    samples: int
    nbytes: int | None


@dataclass(frozen=True)
class Manifest:
    """The shards of a set, in manifest order (the order of sample keys), and its classes."""

    path: Path
    shards: tuple[Shard, ...]
    classes: tuple[str, ...]

    @property
    def num_samples(self) -> int:
        return sum(s.samples for s in self.shards)

    def offsets(self) -> list[int]:
        """Index of each shard's first sample in the whole set."""
        out, total = [], 0
        for shard in self.shards:
            out.append(total)
            total += shard.samples
        return out


def manifest_record(shards: list[dict[str, Any]], classes: list[str], **extra: Any) -> dict:
    """The JSON object ``read_manifest`` reads: ``shards`` as ``{name, samples, bytes}``."""
    return {"format": FORMAT, "version": VERSION, "num_samples": sum(s["samples"] for s in shards),
            "classes": list(classes), **extra, "shards": shards}


def read_manifest(root: str, key: str, urls: list[str] | None = None) -> Manifest:
    """The manifest of ``root`` (a folder holding ``manifest.json``, or the file itself).

    ``urls`` (any WebDataset URL: a path, ``https://...``, ``pipe:...``) replaces the shard
    locations; each one's file name must be in the manifest, which gives its count. Local
    shards must exist with the recorded size, so shards rewritten or cut short after the
    manifest are refused before training. ``key`` names the recipe key in errors.
    """
    given = Path(root).expanduser()
    path = given / MANIFEST if given.is_dir() else given
    if not given.exists():
        raise UserError(f"{key} = {root!r} does not exist; point it at a folder of tar shards "
                        f"written by `jepa-kit data shard` (it holds {MANIFEST})")
    if not path.is_file():
        tars = sorted(p.name for p in given.glob("*.tar"))
        found = f"{len(tars)} .tar file(s) but " if tars else "no shards and "
        raise UserError(f"{key} = {root!r} holds {found}no {MANIFEST}; write shards with "
                        f"`jepa-kit data shard IMAGE_FOLDER --out DIR`, which records the sample "
                        "count of every shard (an epoch's length must be known before training)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("format") != FORMAT:
            raise ValueError(f"format is {record.get('format')!r}, expected {FORMAT!r}")
        if record.get("version") != VERSION:
            raise ValueError(f"version {record.get('version')!r}, this jepa-kit reads {VERSION}")
        entries = [(str(s["name"]), int(s["samples"]), s.get("bytes")) for s in record["shards"]]
        classes = tuple(str(c) for c in record.get("classes", []))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{key}: {path} is not a jepa-kit shard manifest ({exc})") from None
    if not entries:
        raise UserError(f"{key}: the manifest {path} lists no shards")
    if any(n < 1 for _, n, _ in entries):
        raise UserError(f"{key}: the manifest {path} lists a shard without samples")
    folder = path.parent
    if urls is None:
        shards = [_local(folder / name, n, size, path, key) for name, n, size in entries]
    else:
        counts = {name: (n, size) for name, n, size in entries}
        shards = []
        for url in urls:
            name = url.rstrip("/").rsplit("/", 1)[-1]
            if name not in counts:
                raise UserError(f"data.shards: {url!r} is not a shard of the manifest {path} "
                                f"(it lists {', '.join(sorted(counts)[:3])}, ...)")
            n, size = counts[name]
            local = Path(url).expanduser()
            is_url = "://" in url or url.startswith("pipe:")
            shards.append(Shard(url, n, None) if is_url else _local(local, n, size, path, key))
    return Manifest(path, tuple(shards), classes)


def _local(file: Path, samples: int, size: object, manifest: Path, key: str) -> Shard:
    if not file.is_file():
        raise UserError(f"{key}: the shard {file} listed in {manifest} is missing; the manifest "
                        "does not match the shards, write them again with `jepa-kit data shard`")
    actual = file.stat().st_size
    if isinstance(size, int) and actual != size:
        raise UserError(f"{key}: the shard {file} has {actual} bytes, its manifest {manifest} "
                        f"says {size}: it was changed or cut short after the manifest was "
                        "written; write the shards again with `jepa-kit data shard`")
    return Shard(str(file), samples, actual)


def sample_error(shard: str, key: str, reason: str) -> DataError:
    """The error for an unreadable sample, naming the shard and the key (its ``path`` is
    ``"SHARD:KEY"``, the name ``skipped_files.txt`` lists)."""
    error = DataError(f"cannot read sample {key!r} of shard {shard}: {reason}{_SKIP_HINT}")
    error.path = f"{shard}:{key}"
    return error


def decode(sample: dict[str, Any], shard: str) -> tuple[Image.Image, int]:
    """A raw sample (``{"__key__", "jpg": bytes, "cls": b"3"}``) as an RGB image and a label
    (-1 without ``cls``); ``DataError`` naming the shard and key when it cannot be read."""
    key = str(sample.get("__key__"))
    field = next((f for f in IMAGE_FIELDS if f in sample), None)
    if field is None:
        fields = sorted(k for k in sample if not k.startswith("__"))
        raise sample_error(shard, key, f"no image file (fields {fields}, expected one of "
                                       f"{', '.join(IMAGE_FIELDS)})")
    try:
        label = int(sample["cls"]) if "cls" in sample else -1
        with Image.open(io.BytesIO(sample[field])) as img:
            return to_rgb(img), label
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise sample_error(shard, key, f"{type(exc).__name__}: {exc}") from exc


def iter_shard(url: str) -> Iterator[dict[str, Any]]:
    """The raw samples of one shard in file order, through WebDataset's tar reader; a shard
    that cannot be opened or read is a ``DataError`` naming it."""
    from webdataset.gopen import gopen
    from webdataset.tariterators import group_by_keys, tar_file_expander

    try:
        stream = gopen(url, "rb")
    except Exception as exc:  # gopen raises whatever its backend raises
        raise DataError(f"cannot open shard {url}: {type(exc).__name__}: {exc}") from exc
    try:
        # eof_value=None: one shard per call, nothing to separate.
        files = tar_file_expander([{"url": url, "stream": stream}], eof_value=None)
        yield from group_by_keys(files)
    except (tarfile.TarError, OSError, ValueError) as exc:
        reason = str(exc.args[0]) if exc.args else str(exc)  # WebDataset appends context
        raise DataError(f"cannot read shard {url}: {type(exc).__name__}: {reason} (the tar "
                        "file is damaged; write the shards again)") from exc
    finally:
        stream.close()


class RandomAccess:
    """``sample(shard_index, position)`` from local shards by their tar headers, for
    map-style use (feature extraction, conformance checks); a few shards stay open."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self._open: OrderedDict[int, tuple[tarfile.TarFile, list[dict[str, Any]]]] = \
            OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        return {"manifest": self.manifest, "_open": OrderedDict()}  # open files stay behind

    def _index(self, i: int) -> tuple[tarfile.TarFile, list[dict[str, Any]]]:
        if i in self._open:
            self._open.move_to_end(i)
            return self._open[i]
        from webdataset.tariterators import base_plus_ext

        url = self.manifest.shards[i].url
        if "://" in url or url.startswith("pipe:") or not os.path.isfile(url):
            raise UserError(f"random access to sample needs a local shard, got {url}; training "
                            "streams shards from anywhere, feature extraction reads local ones")
        tar = tarfile.open(url, "r:")
        groups: dict[str, dict[str, Any]] = {}
        for member in tar.getmembers():
            stem, ext = base_plus_ext(member.name) if member.isreg() else (None, None)
            if stem is not None and ext is not None:
                groups.setdefault(stem, {"__key__": stem})[ext.lower()] = member
        entry = (tar, list(groups.values()))
        self._open[i] = entry
        while len(self._open) > _OPEN_SHARDS:
            self._open.popitem(last=False)[1][0].close()
        return entry

    def sample(self, i: int, position: int) -> dict[str, Any]:
        tar, members = self._index(i)
        url = self.manifest.shards[i].url
        if len(members) != self.manifest.shards[i].samples:
            raise UserError(f"the shard {url} holds {len(members)} samples, its manifest "
                            f"{self.manifest.path} says {self.manifest.shards[i].samples}")
        out: dict[str, Any] = {"__key__": members[position]["__key__"]}
        for field, member in members[position].items():
            if field != "__key__":
                handle = tar.extractfile(member)
                out[field] = handle.read() if handle is not None else b""
        return out
