"""The paper-scale runs' table (:mod:`pdedenoise.paperscale`): states, progress, hours left at each run's own rate,
a not-started run's hours from a run of the same cost, unreadable records named, and every committed record read."""
from __future__ import annotations

import json
import math

import pytest

from pdedenoise import paperscale as P


def _diffnet(steps_done: int, seconds: float, complete: bool = False, psnr: float = 33.5) -> dict:
    return {"protocol": {"steps": 1000}, "complete": complete, "steps_done": steps_done,
            "wall_seconds_all_pieces": seconds, "summary": {"mean_psnr": psnr}}


RUNS = [P.Run("4", "noisy", "1,000 steps", "a", P._diffnet_exp2("DiffNet, 1% noise, mean test PSNR", "a")),
        P.Run("4", "clean", "1,000 steps", "b", P._diffnet_exp2("DiffNet, no noise, mean test PSNR", "b"),
              note="as noisy", same_cost_as="noisy"),
        P.Run("1", "no tool", "big", None, note="for a GPU")]


def _write(tmp_path, name: str, record) -> None:
    (tmp_path / "full").mkdir(exist_ok=True)
    (tmp_path / "full" / f"{name}.json").write_text(record if isinstance(record, str) else json.dumps(record))


def test_a_run_under_way_reports_its_progress_and_hours_left_at_its_own_rate(tmp_path):
    _write(tmp_path, "a", _diffnet(250, 3600.0))
    t = P.table(tmp_path, RUNS).set_index("run")
    assert t.loc["noisy", "state"] == "under way"
    assert t.loc["noisy", "done"] == "250 of 1,000 Adam steps"
    assert t.loc["noisy", "hours so far"] == pytest.approx(1.0)
    assert t.loc["noisy", "hours left (estimate)"] == pytest.approx(3.0)  # 750 steps at 250 an hour
    assert t.loc["noisy", "compared with (dB)"] == pytest.approx(34.21)
    assert t.loc["noisy", "verdict"] == "", "no verdict before the run ends"
    # the run of the same cost, not started, is estimated at the whole of the first one's hours
    assert t.loc["clean", "state"] == "not started"
    assert t.loc["clean", "hours left (estimate)"] == pytest.approx(4.0)
    assert t.loc["no tool", "state"] == "not started" and math.isnan(t.loc["no tool", "hours left (estimate)"])
    assert P.summary(t.reset_index()) == "0 finished, 1 under way (about 3 hours left in all at their rates so far), " \
                                         "2 not started"


def test_a_finished_run_has_nothing_left_and_an_unreadable_record_is_named(tmp_path):
    _write(tmp_path, "a", _diffnet(400, 3600.0, complete=True))
    _write(tmp_path, "b", "{not json")
    t = P.table(tmp_path, RUNS).set_index("run")
    assert t.loc["noisy", "state"] == "finished" and t.loc["noisy", "hours left (estimate)"] == 0.0
    assert t.loc["noisy", "done"] == "1,000 of 1,000 Adam steps"
    assert t.loc["clean", "state"].startswith("unreadable (ValueError") and "b.json is not valid JSON" in t.loc["clean", "state"]
    assert "1 unreadable" in P.summary(t.reset_index())
    _write(tmp_path, "b", {"protocol": {}})  # readable JSON, but not such a record
    assert P.table(tmp_path, RUNS).set_index("run").loc["clean", "state"].startswith("unreadable (KeyError")


def test_every_committed_paper_scale_record_is_read():
    t = P.table()
    assert len(t) == len(P.RUNS)
    assert not t["state"].str.startswith("unreadable").any(), t[["run", "state"]]
    ran = t[t["state"] != "not started"]
    assert (ran["hours so far"] > 0).all() and (ran["hours left (estimate)"] >= 0).all()


@pytest.mark.parametrize("psnr, expected", [(33.5, "reproduced"), (32.0, "close"), (30.0, "not reproduced")])
def test_a_finished_run_is_judged_under_its_chapters_tolerances(tmp_path, psnr, expected):
    # chapter 4's PSNR tolerances: reproduced within 1 dB, close within 3 dB of the published 34.21
    _write(tmp_path, "a", _diffnet(1000, 3600.0, complete=True, psnr=psnr))
    assert P.table(tmp_path, RUNS).set_index("run").loc["noisy", "verdict"] == expected


@pytest.mark.parametrize("own, expected", [(28.0, "above"), (27.0, "not above")])
def test_the_own_model_is_judged_against_tuned_perona_malik(tmp_path, own, expected):
    rec = {"complete": True, "run": {"steps": 10}, "training": {"pieces": [{"last_step": 10, "seconds": 60.0}]},
           "evaluation": {"BSD68": {"own PSNR": own, "Perona-Malik PSNR": 27.2}}}
    _write(tmp_path, "own", rec)
    t = P.table(tmp_path, [P.Run("leaderboard", "own", "10 steps", "own", P._own)])
    assert t.loc[0, "verdict"] == expected and t.loc[0, "done"] == "10 of 10 Adam steps"


def test_a_chapter_3_training_under_way_is_read_from_its_saved_state(tmp_path):
    """Chapter 3's record lists finished trainings only: one under way is read from its state file."""
    import torch

    runs = [P.Run("3", "own KA", "700 steps", "03_learned_diffusivities_own_s15", P._valdivia("KA", 15),
                  without_record=True)]
    (tmp_path / "full").mkdir()
    assert P.table(tmp_path, runs).loc[0, "state"] == "not started"
    assert math.isnan(P.table(tmp_path, runs).loc[0, "hours left (estimate)"]), "no sigma-25 training to go by"
    # not started, its hours at the time per step of the finished sigma-25 training (3600 s for 1,000 steps)
    _write(tmp_path, "03_learned_diffusivities_own_s25", {"trainings": {"KA": {"seconds": 3600.0, "steps": 1000}}})
    budget = P.table(tmp_path, runs).loc[0]
    assert budget["state"] == "not started" and budget["done"] == "0 of 500 Adam steps"
    assert budget["hours left (estimate)"] == pytest.approx(0.5)
    state = {"history": {"steps": 175, "pieces": [{"seconds": 900.0, "device": "cpu", "commit": "abc"}]},
             "config": {"max_steps": 700}}
    torch.save(state, tmp_path / "full" / "03_learned_diffusivities_own_KA_s15.state.pt")
    row = P.table(tmp_path, runs).loc[0]
    assert row["state"] == "under way" and row["done"] == "175 of 700 Adam steps"
    assert row["hours so far"] == pytest.approx(0.25) and row["hours left (estimate)"] == pytest.approx(0.75)
    assert row["verdict"] == "" and math.isnan(row["result (dB)"])


def test_the_tnrd_run_under_way_shows_its_bsd68_preview_as_such(tmp_path):
    proto = dict(n_train=4, crop=10, stages=1, filters=8, size=5, centers=15, greedy=10, joint=4)
    phase = {"iterations": 10, "evaluations": 11, "complete": True, "loss": [2.0, 1.0],
             "seconds_per_iteration": [2.0] * 10, "wall_seconds": 20.0, "pieces": [{}]}
    _write(tmp_path, "t", {"protocol": proto, "phases": {"greedy 1": phase}, "wall_seconds": 20.0, "complete": False})
    runs = [P.Run("2", "tnrd", "budget", "t", P._tnrd)]
    row = P.table(tmp_path, runs).loc[0]
    assert math.isnan(row["result (dB)"]) and row["note"] == "BSD68 is measured when it ends"
    _write(tmp_path, "05_tnrd_full_s25_preview", {"phase": "joint", "iteration": 2, "iterations planned": 4,
                                                  "mean PSNR": 28.5})
    row = P.table(tmp_path, runs).loc[0]
    assert row["result (dB)"] == 28.5 and row["verdict"] == ""
    assert "at joint iteration 2 of 4 (a preview, not the run's result)" in row["note"]


def test_a_finished_chapter_3_training_says_when_it_is_scored(tmp_path):
    """A training that ended before the others of its sigma has no own-against-released row yet: the table says when it
    is scored instead of showing a finished run without a number; once scored, its result and verdict show."""
    runs = [P.Run("3", "own KA", "700 steps", "03_learned_diffusivities_own_s15", P._valdivia("KA", 15),
                  without_record=True)]
    training = {"steps": 500, "budget_steps": 500, "seconds": 1800.0, "pieces": []}
    _write(tmp_path, "03_learned_diffusivities_own_s15", {"trainings": {"KA": training}})
    row = P.table(tmp_path, runs).loc[0]
    assert row["state"] == "finished" and math.isnan(row["result (dB)"])
    assert row["note"] == "scored when all its sigma's trainings end"
    scored = {"quantity": "KA, sigma 15, PSNR", "reproduced": 29.1, "published": 29.3, "verdict": "close"}
    _write(tmp_path, "03_learned_diffusivities_own_s15", {"trainings": {"KA": training}, "own_vs_released": [scored]})
    row = P.table(tmp_path, runs).loc[0]
    assert row["result (dB)"] == pytest.approx(29.1) and row["verdict"] == "close" and row["note"] == ""
