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


def _claim(records: dict, sigma: int):
    """The target claim of ``sigma`` (one per sigma of the targets, in their order)."""
    return O.target_claims(records)[sorted(O.TARGETS).index(sigma)]


@pytest.mark.parametrize("sigma", [15, 25, 50])
def test_the_target_rule_flips_at_the_anchor(sigma):
    anchor = PUB.BSD68[O.TARGETS[sigma][0]][sigma]
    above = _claim({sigma: _record(sigma, anchor + 0.01)}, sigma)
    below = _claim({sigma: _record(sigma, anchor - 0.01)}, sigma)
    assert (above.verdict, below.verdict) == ("holds", "does not hold")
    assert above.rule == O.TARGET_RULE.rule and above.tolerance == "0 dB"
    assert f"{anchor:.2f}" in above.claim


def test_the_target_needs_the_parameter_budget_and_the_certificates():
    anchor = PUB.BSD68["WCRR-NN (published)"][25]
    assert _claim({25: _record(25, anchor + 1, params=2701)}, 25).verdict == "does not hold"
    broken = _record(25, anchor + 1)
    broken["certificates"][3] = {**broken["certificates"][3], "alpha": 0.3}  # 0.3 * (8 + 0.5) > 2
    claim = _claim({25: broken}, 25)
    assert claim.verdict == "does not hold" and "FAIL" in claim.reason
    assert "TNRD" in _claim({25: _record(25, anchor + 1)}, 25).reason  # the stretch anchor's difference


def test_the_budget_and_the_convexity_condition_each_flip_the_target():
    anchor = PUB.BSD68["WCRR-NN (published)"][25]
    assert _claim({25: _record(25, anchor + 1, params=2700)}, 25).verdict == "holds"  # at the budget
    nonconvex = _record(25, anchor + 1)
    nonconvex["certificates"][0] = {**nonconvex["certificates"][0], "rho": 0.1}  # lambda 0.5 < rho L = 0.8
    assert _claim({25: nonconvex}, 25).verdict == "does not hold"


def test_every_target_sigma_gets_a_claim_even_without_a_run():
    claims = O.target_claims({25: _record(25, 40.0)})
    assert [c.claim.split("sigma ")[-1] for c in claims] == ["15.", "25.", "50."]
    assert [c.verdict for c in claims] == ["untested at this scale", "holds", "untested at this scale"]
    assert O.never_below_claim({}).verdict == "untested at this scale"


def test_an_unfinished_run_is_untested():
    r = _record(25, 40.0)
    r["complete"] = False
    r["training"]["steps"] = 1000
    claim = _claim({25: r}, 25)
    assert claim.verdict == "untested at this scale" and "1,000 of 2,000" in claim.reason


def test_never_below_perona_malik_flips_at_zero():
    assert O.never_below_claim({25: _record(25, 30, pm_val=29.0, curve=(29.0, 29.5, 29.8))}).verdict == "holds"
    unfinished = _record(25, 30)
    unfinished["complete"] = False
    assert "so far: unfinished sigma 25" in O.never_below_claim({25: unfinished}).reason
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


def test_gains_table_compares_the_gain_over_perona_malik_on_crops_and_test_set():
    r = _record(25, 28.0, pm_val=29.0, curve=(29.1, 29.5, 29.8))  # crops: +0.8 over PM; BSD68: +0.5
    unfinished = dict(_record(50, 26.0), complete=False)
    t = O.gains_table({25: r, 50: unfinished})
    assert list(t["noise sigma"]) == [25]  # finished runs only
    assert t.loc[0, "validation crops: gain"] == pytest.approx(0.8)
    assert t.loc[0, "BSD68: gain"] == pytest.approx(0.5)
    assert t.loc[0, "validation crops: own"] - t.loc[0, "BSD68: own"] == pytest.approx(1.8)
    r.update({"kept training": False, "start": {"validation PSNR": 29.05}})  # the start was scored, not the curve
    assert O.gains_table({25: r}).loc[0, "validation crops: gain"] == pytest.approx(0.05)


def _tool(name: str, tmp_path, monkeypatch):
    import importlib.util

    from pdedenoise import results

    monkeypatch.setenv("PDEDENOISE_RESULTS", str(tmp_path))
    spec = importlib.util.spec_from_file_location(name, results.repo_root() / "tools" / f"{name}.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def _read(tmp_path, name="05_own_full_smoke_s25"):
    import json

    return json.loads((tmp_path / "ci" / f"{name}.json").read_text())


def test_the_smoke_record_has_what_the_page_reads(tmp_path, monkeypatch):
    """``tools/record_own_full.py --smoke`` end to end (toy sizes, seconds): the page's functions read its record, and
    the weights load as the model that was trained (its repeats included)."""
    import torch

    from pdedenoise.leaderboard.certified import CertifiedModel

    tool = _tool("record_own_full", tmp_path, monkeypatch)
    assert tool.main(["--smoke", "--steps", "20"]) == 0
    record = _read(tmp_path)
    assert record["complete"] and record["curve"]["step"] == [0, 10, 20]
    assert record["kept training"] in (True, False) and "tuning PSNR trained" in record
    assert not (tmp_path / "ci" / "05_own_full_smoke_s25.state.pt").exists()
    model = CertifiedModel.from_state(torch.load(tmp_path / "ci" / "05_own_full_smoke_s25.pt", weights_only=True))
    assert model.repeats == O.REPEATS == record["run"]["repeats"]
    table = O.runs_table({25: record})
    assert table.loc[0, "finished"] == "yes" and table.loc[0, "parameters"] == 2608
    claim = _claim({25: copy.deepcopy(record)}, 25)
    assert claim.verdict in ("holds", "does not hold")  # decided (toy sizes: which one does not matter)
    assert record["training"]["pieces"][-1]["commit"] == record["provenance"]["commit"]


class _Killed(BaseException):
    """Stands for the process ending (SIGKILL) at a chosen point."""


@pytest.fixture
def one_thread(monkeypatch):
    """The tools run on one thread (they configure torch from ``PDEDENOISE_NUM_THREADS``): a resumed run equals an
    uninterrupted one bit for bit on the same thread count, and two threads' convolutions may round differently from
    one process to the next. Torch's thread count is put back afterwards."""
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("PDEDENOISE_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)


def test_a_kill_between_checkpoint_and_record_loses_no_curve_point(tmp_path, monkeypatch, one_thread):
    """Killed after the step-10 checkpoint but before its validation score is written, and again during the final
    evaluation: the next calls score the saved step, redo the evaluation and end with the record of an
    uninterrupted run (every curve point, the kept-training decision)."""
    tool = _tool("record_own_full", tmp_path / "a", monkeypatch)
    assert tool.main(["--smoke", "--steps", "20"]) == 0
    whole = _read(tmp_path / "a")

    tool = _tool("record_own_full", tmp_path / "b", monkeypatch)
    real, calls = tool.mean_psnr, {"n": 0}

    def dies_at_step_10(model, pairs):
        calls["n"] += 1
        if calls["n"] == 3:  # start (validation), Perona-Malik (validation, tuning), then the step-10 point
            raise _Killed
        return real(model, pairs)

    calls["n"] = -1  # Perona-Malik's two scores come before the step-10 point
    monkeypatch.setattr(tool, "mean_psnr", dies_at_step_10)
    with pytest.raises(_Killed):
        tool.main(["--smoke", "--steps", "20"])
    assert _read(tmp_path / "b")["curve"]["step"] == [0]
    monkeypatch.setattr(tool, "mean_psnr", real)
    per_image = tool.E.per_image
    monkeypatch.setattr(tool.E, "per_image", lambda *a, **k: (_ for _ in ()).throw(_Killed()))
    with pytest.raises(_Killed):
        tool.main(["--smoke", "--steps", "20"])
    monkeypatch.setattr(tool.E, "per_image", per_image)
    assert tool.main(["--smoke", "--steps", "20"]) == 0
    again = _read(tmp_path / "b")
    for key in ("step", "validation PSNR"):  # (the seconds are wall times: they differ)
        assert again["curve"][key] == whole["curve"][key]
    assert again["kept training"] == whole["kept training"]
    assert again["evaluation"]["BSD68"]["own PSNR"] == whole["evaluation"]["BSD68"]["own PSNR"]


def test_files_of_another_run_are_refused(tmp_path, monkeypatch):
    tool = _tool("record_own_full", tmp_path, monkeypatch)
    (tmp_path / "ci").mkdir(parents=True)
    (tmp_path / "ci" / "05_own_full_smoke_s25.state.pt").write_bytes(b"")
    with pytest.raises(SystemExit, match="without the record of its start"):
        tool.main(["--smoke", "--steps", "20"])


def test_the_design_tool_runs_every_variant_kind(tmp_path, monkeypatch):
    tool = _tool("record_certified_design", tmp_path, monkeypatch)
    assert tool.main(["--scale", "ci", "--steps", "4", "--variants", "1,lbfgs:1"]) == 0
    v = _read(tmp_path, "05_certified_design")["variants"]
    assert set(v) == {"repeats 1", "L-BFGS, repeats 1"}
    assert v["L-BFGS, repeats 1"]["iterations"] >= 1 and len(v["repeats 1"]["curve"]["validation PSNR"]) >= 2


def test_a_finished_run_ships_as_own_certified_and_denoises(tmp_path, monkeypatch):
    """``tools/ship_weights.py --own-full`` route: a finished (smoke) run is shipped with its provenance, the shipped
    state loads by the method's name and denoises; an unfinished one ships nothing."""
    import torch

    from pdedenoise.leaderboard import methods, weights

    tool = _tool("record_own_full", tmp_path, monkeypatch)
    ship = _tool("ship_weights", tmp_path, monkeypatch)
    dest = tmp_path / "weights"
    assert ship.ship_own_full("ci", "05_own_full_smoke", dest) == 2  # nothing finished yet
    assert tool.main(["--smoke", "--steps", "10"]) == 0
    assert ship.ship_own_full("ci", "05_own_full_smoke", dest) == 0
    entry = weights.manifest(dest)["own-certified-s25.pt"]
    assert entry["scale"] == "ci" and entry["commit"] == _read(tmp_path)["provenance"]["commit"]
    state = weights.load_state("own-certified", 25, dest)
    denoise = methods.get("own-certified").build(state, 25)
    from pdedenoise.leaderboard import protocol
    from pdedenoise.metrics import psnr

    pair = protocol.test_pairs("Set12", 25, 1, 64)
    clean, noisy = pair["clean"][0], pair["noisy"][0]
    with torch.no_grad():
        out = denoise(noisy)
    assert out.shape == noisy.shape
    assert float(psnr(out, clean, 255.0)) > float(psnr(noisy, clean, 255.0)) + 1, "the shipped model denoises"
    with pytest.raises(weights.MissingWeights, match="record_own_full"):
        weights.load_state("own-certified", 50, dest)
