"""Where the source checkout is: the folder with ``pyproject.toml`` and ``src/pdedenoise``.

Results, notebooks and the staged data folder beside it (``../shared/data``) are found from here.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def _checkout() -> Path | None:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "pdedenoise").is_dir():
            return parent
    return None


def repo_root() -> Path:
    """The checkout this package runs from; the current directory for an installed (non-editable) package."""
    return _checkout() or Path.cwd()
