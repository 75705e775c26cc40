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


def test_the_book_counts_the_cases_it_runs():
    """The running page states both tables' sizes (and the second table's total row): they are these tables'."""
    from hardening_cases2 import CASES2

    from pdedenoise.checkout import repo_root

    text = (repo_root() / "book" / "running.md").read_text()
    second = len(CASES2())
    assert f"`tests/hardening_cases.py`, {len(_ALL)} cases" in text
    assert f"`tests/hardening_cases2.py`, {second} cases" in text
    assert f"| all | {second} |" in text
