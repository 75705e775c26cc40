"""The own model's full-run page parts (:mod:`pdedenoise.leaderboard.ownfull`): each target rule flips at its
threshold, an unfinished run is untested, the table reads the record, and the record written by
``tools/record_own_full.py --smoke`` has what the page reads."""
from __future__ import annotations

import copy

import matplotlib
import pytest

from pdedenoise.leaderboard import ownfull as O
from pdedenoise.leaderboard import published as PUB

matplotlib.use("Agg")


def _record(sigma: int, own: float, params: int = 2608, pm_val: float = 29.0, curve=(29.1, 29.5, 29.8)) -> dict:
    cert = {"alpha": 0.2, "lambda": 0.5, "rho": 0.01, "beta": 1.0, "L": 8.0, "q": 1.0}
    return {"run": {"repeats": 1, "steps": 2000, "sigma": sigma}, "complete": True, "parameters": params,
            "lipschitz": 2.5, "certificates": [cert] * 8,
            "training": {"steps": 2000, "wall seconds": 7200.0},
            "perona-malik": {"validation PSNR": pm_val},
            "curve": {"step": [0, 1000, 2000][:len(curve)], "seconds": [0.0, 3600.0, 7200.0][:len(curve)],
                      "validation PSNR": list(curve)},
            "evaluation": {"BSD68": {"own PSNR": own, "Perona-Malik PSNR": own - 0.5},
                           "Set12": {"own PSNR": own + 1, "Perona-Malik PSNR": own + 0.4}}}


@pytest.mark.parametrize("sigma", [15, 25, 50])
def test_the_target_rule_flips_at_the_anchor(sigma):
    anchor = PUB.BSD68[O.TARGETS[sigma][0]][sigma]
    above = O.target_claims({sigma: _record(sigma, anchor + 0.01)})[0]
    below = O.target_claims({sigma: _record(sigma, anchor - 0.01)})[0]
    assert (above.verdict, below.verdict) == ("holds", "does not hold")
    assert above.rule == O.TARGET_RULE.rule and above.tolerance == "0 dB"
    assert f"{anchor:.2f}" in above.claim


def test_the_target_needs_the_parameter_budget_and_the_certificates():
    anchor = PUB.BSD68["WCRR-NN (published)"][25]
    assert O.target_claims({25: _record(25, anchor + 1, params=2701)})[0].verdict == "does not hold"
    broken = _record(25, anchor + 1)
    broken["certificates"][3] = {**broken["certificates"][3], "alpha": 0.3}  # 0.3 * (8 + 0.5) > 2
    claim = O.target_claims({25: broken})[0]
    assert claim.verdict == "does not hold" and "FAIL" in claim.reason
    assert "TNRD" in O.target_claims({25: _record(25, anchor + 1)})[0].reason  # the stretch anchor's difference


def test_an_unfinished_run_is_untested():
    r = _record(25, 40.0)
    r["complete"] = False
    r["training"]["steps"] = 1000
    claim = O.target_claims({25: r})[0]
    assert claim.verdict == "untested at this scale" and "1,000 of 2,000" in claim.reason


def test_never_below_perona_malik_flips_at_zero():
    assert O.never_below_claim({25: _record(25, 30, pm_val=29.0, curve=(29.0, 29.5, 29.8))}).verdict == "holds"
    dipped = O.never_below_claim({25: _record(25, 30, pm_val=29.0, curve=(29.0, 28.99, 29.8))})
    assert dipped.verdict == "does not hold" and "step 1,000" in dipped.reason
    # over all noise levels: one dip at sigma 50 decides
    both = {25: _record(25, 30), 50: _record(50, 30, pm_val=26.0, curve=(26.1, 25.9, 26.5))}
    assert O.never_below_claim(both).verdict == "does not hold"
    assert O.never_below_claim({25: _record(25, 30, curve=(29.0,))}).verdict == "untested at this scale"
    # the start (step 0) is not a trained point: below Perona-Malik there does not decide
    assert O.never_below_claim({25: _record(25, 30, pm_val=29.0, curve=(28.9, 29.5, 29.8))}).verdict == "holds"


def test_runs_table_reads_the_records():
    t = O.runs_table({50: _record(50, 26.0), 25: _record(25, 28.0)})
    assert list(t["noise sigma"]) == [25, 50]
    assert t.loc[0, "BSD68 own"] == 28.0 and t.loc[0, "Adam steps"] == "2,000 of 2,000"
    assert t.loc[0, "training hours"] == pytest.approx(2.0)
    r = _record(25, 28.0)
    r["start"] = {"K": 16.0, "alpha": 0.6, "rho": 1 / 32, "PSNR": 27.66, "validation PSNR": 27.93}
    r["perona-malik"].update({"tuning PSNR": 27.58, "validation PSNR": 27.99})
    s = O.start_table({25: r})
    assert s.loc[0, "tuning: difference"] == pytest.approx(0.08) and s.loc[0, "validation: difference"] == \
        pytest.approx(-0.06)
    fig = O.curves_figure({25: _record(25, 28.0)})
    assert len(fig.axes) == 1


def test_the_smoke_record_has_what_the_page_reads(tmp_path, monkeypatch):
    """``tools/record_own_full.py --smoke`` end to end (toy sizes, seconds): the page's functions read its record."""
    import importlib.util
    import json

    from pdedenoise import results

    monkeypatch.setenv("PDEDENOISE_RESULTS", str(tmp_path))
    spec = importlib.util.spec_from_file_location("record_own_full", results.repo_root() / "tools" /
                                                  "record_own_full.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(["--smoke", "--steps", "20"]) == 0
    record = json.loads((tmp_path / "ci" / "05_own_full_smoke_s25.json").read_text())
    assert record["complete"] and record["curve"]["step"] == [0, 10, 20]
    assert not (tmp_path / "ci" / "05_own_full_smoke_s25.state.pt").exists()
    table = O.runs_table({25: record})
    assert table.loc[0, "finished"] == "yes" and table.loc[0, "parameters"] == 2608
    claim = O.target_claims({25: copy.deepcopy(record)})[0]
    assert claim.verdict in ("holds", "does not hold")  # decided (toy sizes: which one does not matter)
