"""The checkpoint cache: trained models and other expensive results, keyed by a hash of
the config that produced them (``runs/cache/<kind>-<key>.pt`` with a JSON sidecar).

Entries hold tensors and plain types only and load with ``weights_only=True``; writes
are atomic (temporary file, then rename); the sidecar records the config and the file's
SHA-256, so a damaged or foreign entry is recomputed, never loaded; concurrent workers
compute an entry once (a lock per entry).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from . import notices, paths

#: Bumped whenever what a cache entry holds changes meaning; part of every key, so old
#: entries are recomputed rather than misread.
CACHE_FORMAT = 2


def config_key(config: dict[str, Any]) -> str:
    """Stable hash of a JSON-able config and the cache format (key order does not matter)."""
    text = json.dumps({"cache_format": CACHE_FORMAT, "config": config}, sort_keys=True,
                      default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _as_json(config: dict[str, Any]) -> Any:
    return json.loads(json.dumps(config, default=_json_default))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Not JSON-serialisable in a cache key: {obj!r}")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_paths(kind: str, config: dict[str, Any]) -> tuple[Path, Path]:
    key = config_key(config)
    base = paths.cache_dir() / f"{kind}-{key}"
    return base.with_suffix(".pt"), base.with_suffix(".json")


def load_cached(kind: str, config: dict[str, Any]) -> Any | None:
    """The cached object for ``config``, or None if absent, truncated or corrupted.

    The sidecar stores the file's SHA-256, so a damaged file is never loaded (and
    ``torch.load(weights_only=True)`` never unpickles arbitrary objects).
    """
    blob, sidecar = cache_paths(kind, config)
    if not blob.exists() or not sidecar.exists():
        return None
    try:
        meta = json.loads(sidecar.read_text())
        if meta.get("config") != _as_json(config):
            raise ValueError("its sidecar holds another config")
        if meta.get("sha256") != _file_sha256(blob):
            raise ValueError("checksum mismatch")
        return torch.load(blob, map_location="cpu", weights_only=True)
    except Exception as exc:  # any damage means: recompute
        notices.warn(f"Ignoring damaged cache entry {blob.name} ({exc}); recomputing")
        return None


def save_cached(kind: str, config: dict[str, Any], obj: Any) -> Path:
    """Write atomically: temporary file, then rename; the JSON sidecar follows."""
    blob, sidecar = cache_paths(kind, config)
    blob.parent.mkdir(parents=True, exist_ok=True)
    tmp = blob.with_name(f".{blob.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        meta = {"kind": kind, "config": _as_json(config), "cache_format": CACHE_FORMAT,
                "sha256": _file_sha256(tmp), "torch": torch.__version__}
        os.replace(tmp, blob)
    except BaseException:  # a full disk, or Ctrl-C: leave no half-written file behind
        tmp.unlink(missing_ok=True)
        raise
    paths.atomic_write_text(sidecar, json.dumps(meta, indent=2, sort_keys=True))
    return blob


@contextlib.contextmanager
def _entry_lock(blob: Path) -> Iterator[None]:
    """An exclusive lock on one cache entry (``flock`` on a ``.lock`` file beside it),
    so that concurrent workers on one file system compute an entry once: the second
    waits, then loads what the first wrote. Where ``fcntl`` is missing (Windows), no
    lock: atomic writes still keep every entry whole."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        blob.parent.mkdir(parents=True, exist_ok=True)
        handle = open(blob.with_name(f".{blob.name}.lock"), "a")  # noqa: SIM115
    except OSError:  # a read-only cache: nothing will be written, nothing to guard
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_leftovers(blob: Path) -> None:
    """Delete temporary files of this entry left by an interrupted write (called under
    the entry's lock, so no other worker is writing them)."""
    for leftover in blob.parent.glob(f".{blob.stem}.*.tmp"):
        leftover.unlink(missing_ok=True)


def cached(kind: str, config: dict[str, Any], compute: Callable[[], Any]) -> Any:
    """Load ``kind`` for ``config`` from the cache, or compute and store it.

    ``compute`` must return tensors and plain types only (``weights_only`` loads).
    Safe between concurrent processes: the entry is locked while it is computed.
    """
    hit = load_cached(kind, config)
    if hit is not None:
        return hit
    blob = cache_paths(kind, config)[0]
    with _entry_lock(blob):
        hit = load_cached(kind, config)  # another worker may have written it meanwhile
        if hit is not None:
            return hit
        _remove_leftovers(blob)
        obj = compute()
        try:
            save_cached(kind, config, obj)
        except OSError as exc:
            notices.warn(f"Could not write the cache entry {blob.name} ({exc}); the computed "
                         f"result is used, but it will be computed again next time")
    return obj
