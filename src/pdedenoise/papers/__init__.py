"""One home per reproduced paper, each with the same roles (as PyMPDATA-examples keeps one per paper).

``papers/<key>/``:

* ``published.py`` -- the paper's numbers with their source (table, figure, row) and its claims;
* ``protocol.py`` -- the protocol as stated, our choices where the paper is silent, the ci/medium/full
  scales, tolerances, data map;
* ``method.py`` -- what is specific to the paper's method (shared models live in :mod:`pdedenoise.models`);
* ``analysis.py`` -- runs, comparison tables and the verdict on each claim;
* ``figures.py`` -- the chapter's figures that need a function (slider panels, composite plots).

:data:`PAPERS` lists the book's four papers in chapter order, including those whose chapter does not
exist yet.
"""
from __future__ import annotations

from dataclasses import dataclass

from .arridge2020.published import CITATION as _ARRIDGE
from .barbeiro2020.published import CITATION as _BARBEIRO
from .kharro2026.published import CITATION as _KHARRO
from .valdivia2024.published import CITATION as _VALDIVIA


@dataclass(frozen=True)
class Paper:
    """A paper of the book: its package key (None until its chapter exists), citation and chapter."""

    key: str | None
    citation: str
    chapter: str | None
    title: str


PAPERS = (
    Paper("kharro2026", _KHARRO, "01_heat_pinn", "Heat equation, optimal diffusivity by PINN"),
    Paper("barbeiro2020", _BARBEIRO, "02_cross_diffusion", "Learned cross-diffusion"),
    Paper("valdivia2024", _VALDIVIA, "03_learned_diffusivities", "Learned diffusion functions"),
    Paper("arridge2020", _ARRIDGE, "04_diffnet", "DiffNet"),
)
