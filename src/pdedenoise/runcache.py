"""Resuming long recorded runs: what a step produced, kept on disk under a key of everything it depends on.

A ``medium`` chapter run can take longer than one working period on a CPU. Its expensive steps (a training run,
the scores of one model at one noise level) store their result here as soon as it exists; the same run started
again finds them and goes on from where it stopped. A key is built from the step's inputs (names, sizes, seeds,
a fingerprint of a model's parameters), so a changed input never reuses a stale result. Results are written whole
or not at all (:mod:`pdedenoise.atomic`); a damaged entry (a truncated or unreadable file) is computed again, with a
warning naming it; nothing is cached when the folder is ``None`` (the ``ci`` builds).
"""
from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from .atomic import atomic_file


def data_key(*tensors: torch.Tensor) -> str:
    """A short hash of tensors' shapes and values (the data a step ran on)."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def fingerprint(module: torch.nn.Module) -> str:
    """A short hash of a module's parameters and buffers (names, shapes, values)."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class RunCache:
    """A folder of results by key; every method is a no-op (computes, stores nothing) when ``folder`` is None."""

    def __init__(self, folder: str | Path | None):
        self.folder = None if folder is None else Path(folder)

    def _path(self, key: str, suffix: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        return self.folder / f"{digest}{suffix}"

    def json(self, key: str, compute: Callable[[], Any]) -> Any:
        """The stored JSON value of ``key``, or ``compute()`` stored under it."""
        if self.folder is None:
            return compute()
        path = self._path(key, ".json")
        if path.is_file():
            try:
                stored = json.loads(path.read_text())
                if isinstance(stored, dict) and stored.get("key") == key and "value" in stored:
                    return stored["value"]
            except (ValueError, UnicodeDecodeError) as exc:
                _damaged(path, exc)
        value = compute()
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_file(path, "w") as fh:
            json.dump({"key": key, "value": value}, fh)
        return value

    def trained(self, key: str, model: torch.nn.Module, train: Callable[[], dict]) -> dict:
        """Train ``model`` in place with ``train()`` (returning a JSON-able record), or load the parameters and
        record stored under ``key``; returns the record."""
        if self.folder is None:
            return train()
        path = self._path(key, ".pt")
        if path.is_file():
            try:
                stored = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
                if isinstance(stored, dict) and stored.get("key") == key:
                    record = json.loads(stored["record"])
                    model.load_state_dict(stored["state"])
                    return record
            except Exception as exc:  # truncated zip, unpickling refused, wrong shapes: a damaged entry
                _damaged(path, exc)
        record = train()
        self.folder.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        torch.save({"key": key, "state": model.state_dict(), "record": json.dumps(record, default=_plain)}, buf)
        with atomic_file(path) as fh:
            fh.write(buf.getvalue())
        return record


def _damaged(path: Path, exc: BaseException) -> None:
    """Say that a cache entry is damaged and will be computed again (it is then overwritten whole)."""
    warnings.warn(f"the run cache entry {path} is damaged ({type(exc).__name__}: {str(exc)[:120]}); computing it "
                  "again", RuntimeWarning, stacklevel=3)


def _plain(value):
    """JSON for the odd values a training record holds (NumPy scalars and arrays, tensors)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
