"""Resuming long recorded runs: what a step produced, kept on disk under a key of everything it depends on.

A ``medium`` chapter run can take longer than one working period on a CPU. Its expensive steps (a training run,
the scores of one model at one noise level) store their result here as soon as it exists; the same run started
again finds them and goes on from where it stopped. A key is built from the step's inputs (names, sizes, seeds,
a fingerprint of a model's parameters), so a changed input never reuses a stale result. Every key also carries the
**code version** (:func:`code_version`: a hash of the contents of the package's source files,
``src/pdedenoise/**/*.py`` in sorted order, computed once per process), so a surviving ``build/`` folder is never
reused after any change to the package's code: the steps are computed again. Results are written whole
or not at all (:mod:`pdedenoise.atomic`); a damaged entry (a truncated or unreadable file) is computed again, with a
warning naming it; nothing is cached when the folder is ``None`` (the ``ci`` builds).
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from .atomic import atomic_file


#: the package's source folder (``src/pdedenoise``)
PACKAGE_DIR = Path(__file__).resolve().parent


def source_hash(folder: str | Path) -> str:
    """A short hash of every ``*.py`` file under ``folder``: their paths relative to it and their contents, in
    sorted order (the same files give the same hash on any machine; any edit, new or removed file changes it)."""
    folder = Path(folder)
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.py"), key=lambda p: p.relative_to(folder).as_posix()):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def code_version() -> str:
    """The code version carried by every key: :func:`source_hash` of the package's sources, once per process."""
    return source_hash(PACKAGE_DIR)


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
    """A folder of results by key; every method is a no-op (computes, stores nothing) when ``folder`` is None.

    Args:
        folder: where the results are kept (None: keep nothing).
        code: the code version joined to every key; None (the default) is :func:`code_version`, the hash of the
            package's sources now.
    """

    def __init__(self, folder: str | Path | None, code: str | None = None):
        self.folder = None if folder is None else Path(folder)
        self.code = code_version() if code is None else str(code)

    def full_key(self, key: str) -> str:
        """``key`` with the code version: what is stored and compared."""
        return f"{key}|code {self.code}"

    def _path(self, key: str, suffix: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        return self.folder / f"{digest}{suffix}"

    def json(self, key: str, compute: Callable[[], Any]) -> Any:
        """The stored JSON value of ``key``, or ``compute()`` stored under it."""
        if self.folder is None:
            return compute()
        key = self.full_key(key)
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
        key = self.full_key(key)
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
