"""Bad input gets a clear error naming the fix, never a wrong image; faults leave nothing behind.

Every case of ``hardening_cases.py`` (command line, solvers, metrics, training, results, data) must end
``correct`` (a valid request) or ``clear error`` (a refused one, its message naming the parameter or the fix);
``tools/hardening_table.py`` tabulates the same cases against any checkout.
"""
import pytest

from hardening_cases import CASES, GOOD, classify

_ALL = CASES()


@pytest.mark.parametrize("case", _ALL, ids=[c.name for c in _ALL])
def test_case(case, tmp_path):
    outcome, detail = classify(case, tmp_path)
    assert outcome in GOOD, f"{outcome}: {detail}"


def test_there_are_enough_cases():
    assert len(_ALL) >= 90
