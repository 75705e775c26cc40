"""Grid search whose optimum is interior: a grid is extended past any edge its best point lands on.

A baseline tuned on a grid whose best value sits at the grid's first or last entry was not tuned: the optimum
may lie beyond. :func:`interior_search` evaluates a grid, and while the best point of some parameter is at
the edge of that parameter's list, adds one value beyond that edge (the list's own ratio: ``2, 4, 8`` grows to
``16``, or shrinks to ``1``) and searches again, up to a declared limit (a physical bound such as one
time step) or a number of extensions. What it ends with says, for each parameter, whether the optimum is
interior, at a declared limit (interior in the parameter's admissible range), or still at the grid's edge
after the allowed extensions (then the tuning is reported as such, not hidden).

One axis may be *inner*: evaluated for all its values at once by one call (the steps of an explicit scheme,
scored after each step of one run), as ``evaluate(params, inner_values) -> {value: score}``.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

#: where the optimum of a parameter lies on the final grid
INTERIOR, AT_LIMIT, AT_EDGE = "interior", "at its limit", "at the grid's edge"


@dataclass
class SearchResult:
    """The best point (``params``, including the inner axis), its ``score``, the final ``grid`` (every list as
    searched), where each parameter's optimum lies (``where``: one of :data:`INTERIOR`, :data:`AT_LIMIT`,
    :data:`AT_EDGE`), the number of ``extensions`` made and of ``evaluations`` (calls of ``evaluate``)."""

    params: dict
    score: float
    grid: dict[str, list]
    where: dict[str, str]
    extensions: int = 0
    evaluations: int = 0
    history: list = field(default_factory=list)

    @property
    def interior(self) -> bool:
        """True if no parameter's optimum is left at the edge of its grid."""
        return all(w != AT_EDGE for w in self.where.values())

    def edges(self) -> list[str]:
        """The parameters whose optimum is at the grid's edge."""
        return [k for k, w in self.where.items() if w == AT_EDGE]


def _beyond(values: list, upward: bool, integer: bool, limit: float | None):
    """The next value past the first (``upward=False``) or last entry, by the list's own ratio (or step, for
    lists through 0), within ``limit``; None when the edge is the limit already."""
    a, b = (values[-2], values[-1]) if upward else (values[1], values[0])
    if a > 0 and b > 0:
        new = b * (b / a)
    else:
        new = b + (b - a)
    if limit is not None:
        new = min(new, limit) if upward else max(new, limit)
    if integer:
        new = int(math.ceil(new)) if upward else int(math.floor(new))
        if a > 0 and b > 0:
            new = max(new, 1)  # a positive count stays positive
        if limit is not None:
            new = min(new, int(limit)) if upward else max(new, int(math.ceil(limit)))
    if (upward and not new > b) or (not upward and not new < b):
        return None
    return new


def interior_search(evaluate: Callable, grid: Mapping[str, Sequence], *, inner: str | None = None,
                    limits: Mapping[str, tuple[float | None, float | None]] | None = None,
                    max_extensions: int = 4) -> SearchResult:
    """Maximise ``evaluate`` over ``grid``, extending it until each parameter's optimum is interior.

    Args:
        evaluate: ``evaluate(params) -> score`` (no inner axis), or ``evaluate(params, inner_values) ->
            {value: score}`` when ``inner`` names one of ``grid``'s keys; higher is better.
        grid: parameter name -> increasing list of numbers (a list of one value is fixed, not tuned).
        inner: the axis evaluated all at once (e.g. ``"steps"``).
        limits: parameter name -> ``(low, high)`` admissible range (None: unbounded on that side); an optimum
            at a limit counts as interior in the admissible range (:data:`AT_LIMIT`).
        max_extensions: extensions allowed per parameter and side.

    Returns:
        :class:`SearchResult`. Ties keep the first point found (grid order).
    """
    limits = dict(limits or {})
    lists = {k: sorted(v) for k, v in grid.items()}
    for k, v in lists.items():
        if not v:
            raise ValueError(f"the grid of {k!r} is empty")
        if len(set(v)) != len(v):
            raise ValueError(f"the grid of {k!r} repeats a value: {v}")
    if inner is not None and inner not in lists:
        raise ValueError(f"inner axis {inner!r} is not in the grid ({', '.join(lists)})")
    outer = [k for k in lists if k != inner]
    cache: dict = {}
    used = {(k, side): 0 for k in lists for side in ("low", "high")}
    evaluations = extensions = 0
    history = []
    while True:
        best_params, best = None, -math.inf
        for combo in itertools.product(*(lists[k] for k in outer)):
            params = dict(zip(outer, combo))
            key = (combo, tuple(lists[inner]) if inner else None)
            if key not in cache:
                evaluations += 1
                cache[key] = evaluate(params, list(lists[inner])) if inner else {None: float(evaluate(params))}
            for value, score in cache[key].items():
                score = float(score)
                if score > best:  # NaN never wins
                    best = score
                    best_params = {**params, **({inner: value} if inner else {})}
        if best_params is None:
            raise ValueError("every point of the grid scored NaN or -inf")
        history.append({"params": dict(best_params), "score": best})
        where, grew = {}, False
        for k, values in lists.items():
            if len(values) == 1:
                continue
            low, high = limits.get(k, (None, None))
            integer = all(isinstance(x, int) for x in values)
            i = values.index(best_params[k])
            if 0 < i < len(values) - 1:
                where[k] = INTERIOR
                continue
            upward = i == len(values) - 1
            bound = high if upward else low
            if bound is not None and values[i] == bound:
                where[k] = AT_LIMIT
                continue
            side = "high" if upward else "low"
            new = _beyond(values, upward, integer, bound)
            if new is None or used[(k, side)] >= max_extensions:
                where[k] = AT_LIMIT if new is None and bound is not None else AT_EDGE
                continue
            used[(k, side)] += 1
            values.insert(len(values) if upward else 0, new)
            grew = True
        if not grew:
            return SearchResult(best_params, best, {k: list(v) for k, v in lists.items()}, where, extensions,
                                evaluations, history)
        extensions += 1
