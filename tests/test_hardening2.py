"""The second hardening table (``hardening_cases2.py``): every case must end ``correct`` or ``clear error``.

Images keep bit depth, channels and alpha; checkpoints, weights and caches are verified on the bytes read; no write
follows a planted link or loosens a file's mode; NaN never passes a solver or a certificate; every command-line
error is one line with exit status 2. ``tools/hardening_table.py --table 2`` tabulates the same cases.
"""
import pytest

from hardening_cases import GOOD, classify
from hardening_cases2 import CASES2

_ALL = CASES2()


@pytest.mark.parametrize("case", _ALL, ids=[c.name for c in _ALL])
def test_case(case, tmp_path):
    outcome, detail = classify(case, tmp_path)
    assert outcome in GOOD, f"{outcome}: {detail}"


def test_there_are_enough_cases():
    assert len(_ALL) >= 120
    assert len({c.name for c in _ALL}) == len(_ALL)
