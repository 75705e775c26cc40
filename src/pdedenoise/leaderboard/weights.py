"""The fitted states the book ships (``leaderboard/weights/``), checksummed, and where else a state may come from.

Layout: ``weights/<method>-s<sigma>.pt`` (``torch.save`` of ``{"config": ..., "tensors": ...}``, loaded with
``weights_only=True``) and ``weights/MANIFEST.json`` mapping each file to its SHA-256, size in bytes and the run
that produced it (scale, date, commit, seconds). ``weights/WITHHELD.json`` names the states a recorded run fitted
but the book does not ship, with the reason (a training that diverged would otherwise denoise into noise). Only
states of the book's own training are shipped (never weights converted from the authors' AGPL-3.0 checkpoints);
all of them together stay under :data:`BUDGET_BYTES`.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch

from ..atomic import atomic_file

WEIGHTS_DIR = Path(__file__).with_name("weights")
MANIFEST = "MANIFEST.json"
WITHHELD = "WITHHELD.json"
#: the size budget of every shipped state together (5 MiB)
BUDGET_BYTES = 5 * 1024 * 1024


class MissingWeights(FileNotFoundError):
    """No shipped state for a method at a noise level; the message says how to make one."""


class CorruptWeights(ValueError):
    """A shipped state whose checksum does not match the manifest."""


def file_name(method: str, sigma: float) -> str:
    return f"{method}-s{float(sigma):g}.pt"


def sha256(path: Path) -> str:
    """The file's SHA-256, as the data registry computes it."""
    from ..data.registry import sha256sum

    return sha256sum(path)


def _folder(folder: Path | None) -> Path:
    """``folder``, or the package's shipped weights (looked up at call time)."""
    return Path(folder) if folder is not None else WEIGHTS_DIR


def _read_json(path: Path) -> dict:
    """A manifest-like JSON object, or :class:`CorruptWeights` naming the file (never a raw parser error)."""
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptWeights(f"{path} is not valid JSON ({exc}); restore it with git checkout -- {path}, or delete "
                             "it to ship no weights from that folder") from exc
    if not isinstance(value, dict):
        raise CorruptWeights(f"{path} holds a {type(value).__name__}, not an object; restore it with git checkout "
                             f"-- {path}")
    return value


def manifest(folder: Path | None = None) -> dict:
    """The manifest of ``folder`` (default: the shipped weights; empty when there is none)."""
    return _read_json(_folder(folder) / MANIFEST)


def parse_file_name(file: str) -> tuple[str, float]:
    """``("foe-s", 25.0)`` of ``foe-s-s25.pt``: the inverse of :func:`file_name`."""
    method, sigma = file[:-3].rsplit("-s", 1)
    return method, float(sigma)


def shipped_sigmas(method: str, folder: Path | None = None) -> list[float]:
    """The noise levels with a shipped state of ``method``, ascending."""
    return sorted(sigma for m, sigma in map(parse_file_name, manifest(folder)) if m == method)


def _write_json(path: Path, entries: dict) -> None:
    """``entries`` sorted by key into ``path``, whole or not at all."""
    with atomic_file(path, "w") as fh:
        json.dump(dict(sorted(entries.items())), fh, indent=1)


def save_state(state: dict, method: str, sigma: float, folder: Path, provenance: dict) -> Path:
    """Write one state whole or not at all and record it in the folder's manifest."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(method, sigma)
    with atomic_file(path) as fh:
        torch.save({"config": dict(state["config"]), "tensors": {k: v.detach().cpu().contiguous()
                                                                 for k, v in state["tensors"].items()}}, fh)
    entries = manifest(folder)
    entries[path.name] = {"sha256": sha256(path), "bytes": path.stat().st_size, **provenance}
    _write_json(folder / MANIFEST, entries)
    held = withheld(folder)
    if held.pop(path.name, None) is not None:
        _write_json(folder / WITHHELD, held)
    return path


def withheld(folder: Path | None = None) -> dict[str, str]:
    """State file name -> why a recorded run's state of it is not shipped (empty when none is withheld)."""
    return _read_json(_folder(folder) / WITHHELD)


def withheld_reason(method: str, sigma: float | None = None, folder: Path | None = None) -> str | None:
    """Why the state of ``method`` at ``sigma`` (at any level when None) is withheld; None when it is not."""
    held = withheld(folder)
    if sigma is not None:
        return held.get(file_name(method, sigma))
    return next((why for name, why in held.items() if parse_file_name(name)[0] == method), None)


def withhold(method: str, sigma: float, folder: Path, reason: str) -> None:
    """Record that the state of ``method`` at ``sigma`` is not shipped, and why (removing a shipped copy)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = file_name(method, sigma)
    entries = manifest(folder)
    if entries.pop(name, None) is not None:
        _write_json(folder / MANIFEST, entries)
    (folder / name).unlink(missing_ok=True)
    _write_json(folder / WITHHELD, {**withheld(folder), name: reason})


def _how_to_make(method: str) -> str:
    """How the weights of ``method`` are made (the registry's ``weights_from`` where it names another route)."""
    from .methods import METHODS

    m = METHODS.get(method)
    if m is not None and m.weights_from != type(m).weights_from:
        return f"they come from {m.weights_from}"
    return ("train them with: python -m pdedenoise.notebooks --scale medium --only 05_ (then tools/ship_weights.py "
            "copies them into the package)")


def load_state(method: str, sigma: float, folder: Path | None = None) -> dict:
    """The shipped state of ``method`` at ``sigma`` (exactly that level), checksum-verified."""
    folder = _folder(folder)
    name = file_name(method, sigma)
    entry = manifest(folder).get(name)
    path = folder / name
    if entry is None or not path.is_file():
        have = shipped_sigmas(method, folder)
        reason = withheld_reason(method, sigma, folder) or (None if have else withheld_reason(method, None, folder))
        if reason is not None:
            raise MissingWeights(f"no shipped weights for {method!r} at sigma {sigma:g}: {reason}"
                                 + (f" (shipped: sigma {have})" if have else "") + "; fit your own with: python -m "
                                 "pdedenoise.notebooks --scale medium --only 05_ (then tools/ship_weights.py)")
        raise MissingWeights(
            f"no shipped weights for {method!r} at sigma {sigma:g}" + (f" (shipped: sigma {have})" if have else "")
            + "; " + _how_to_make(method))
    data = path.read_bytes()  # verified and loaded from the same bytes
    digest = hashlib.sha256(data).hexdigest()
    if not isinstance(entry, dict) or digest != entry.get("sha256"):
        recorded = entry.get("sha256", "none") if isinstance(entry, dict) else "none"
        raise CorruptWeights(f"{path} does not match its checksum in {MANIFEST} ({digest[:12]} != "
                             f"{str(recorded)[:12]}); restore it with git checkout -- {path}")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CorruptWeights(f"{path} matches its checksum but does not load ({type(exc).__name__}: {exc}); "
                             f"make it again with tools/ship_weights.py") from exc


def total_bytes(folder: Path | None = None) -> int:
    """Bytes of every shipped state (the manifest's sizes)."""
    return sum(int(e["bytes"]) for e in manifest(folder).values())
