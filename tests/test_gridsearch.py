"""The interior grid search: a best point at a grid's edge is searched past, until it is interior."""
import math

import pytest

from pdedenoise.gridsearch import AT_EDGE, AT_LIMIT, INTERIOR, interior_search


def peak(at_K: float, at_n: int):
    """A smooth score with its maximum at (K, steps) = (at_K, at_n)."""
    return lambda p: -(math.log(p["K"] / at_K)) ** 2 - (math.log(p["steps"] / at_n)) ** 2


def test_an_optimum_beyond_the_grid_is_reached_and_ends_interior():
    r = interior_search(peak(40.0, 3), {"K": [2.0, 4.0, 8.0], "steps": [10, 20, 40]})
    assert r.params == {"K": 32.0, "steps": 2}
    assert r.where == {"K": INTERIOR, "steps": INTERIOR} and r.interior
    assert r.grid["K"][-1] > 40.0 and r.grid["steps"][0] < 3 and r.extensions > 0


def test_an_interior_optimum_needs_no_extension():
    r = interior_search(peak(4.0, 20), {"K": [2.0, 4.0, 8.0], "steps": [10, 20, 40]})
    assert r.params == {"K": 4.0, "steps": 20} and r.extensions == 0 and r.evaluations == 9


def test_an_optimum_at_a_declared_limit_is_interior_in_the_admissible_range():
    r = interior_search(peak(4.0, 1), {"K": [2.0, 4.0, 8.0], "steps": [5, 10, 20]}, limits={"steps": (1, None)})
    assert r.params["steps"] == 1 and r.where["steps"] == AT_LIMIT and r.interior


def test_a_capped_number_of_extensions_reports_the_edge():
    r = interior_search(peak(1e6, 10), {"K": [2.0, 4.0, 8.0], "steps": [5, 10, 20]}, max_extensions=2)
    assert r.where["K"] == AT_EDGE and not r.interior and r.edges() == ["K"]
    assert r.grid["K"] == [2.0, 4.0, 8.0, 16.0, 32.0]


def test_an_inner_axis_is_scored_in_one_call_per_outer_point():
    calls = []

    def evaluate(params, steps):
        calls.append((params["K"], tuple(steps)))
        return {n: -(math.log(params["K"] / 4.0)) ** 2 - (math.log(n / 60)) ** 2 for n in steps}

    r = interior_search(evaluate, {"K": [2.0, 4.0, 8.0], "steps": [10, 20, 40]}, inner="steps")
    assert r.params == {"K": 4.0, "steps": 80} and r.where["steps"] == INTERIOR
    assert len(calls) == r.evaluations and all(len(s) >= 3 for _, s in calls)


def test_a_grid_without_a_finite_score_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        interior_search(lambda p: float("nan"), {"K": [1.0, 2.0]})
