"""The TNRD full run's page tables (:mod:`pdedenoise.leaderboard.tnrdfull`) read a record of
``tools/record_tnrd_full.py``: the PSNR a loss means, phases done / under way / not started, and the time left."""
from __future__ import annotations

import math

import pytest

from pdedenoise.leaderboard import tnrdfull as T


def _record() -> dict:
    proto = dict(n_train=4, crop=10, stages=2, filters=8, size=5, centers=15, greedy=10, joint=4)
    # a loss of half the summed squared error with MSE 255^2 / 10^3 on 400 pixels: PSNR 30 dB
    loss = 0.5 * 400 * 255.0 ** 2 / 1000
    greedy1 = {"iterations": 10, "evaluations": 11, "complete": True, "loss": [4 * loss, loss],
               "seconds_per_iteration": [2.0] * 10, "wall_seconds": 20.0, "pieces": [{}]}
    greedy2 = {"iterations": 5, "evaluations": 6, "complete": False, "loss": [loss, loss / 2],
               "seconds_per_iteration": [2.0] * 5, "wall_seconds": 10.0, "pieces": [{}, {}]}
    return {"protocol": proto, "phases": {"greedy 1": greedy1, "greedy 2": greedy2}, "wall_seconds": 30.0,
            "complete": False}


def test_the_training_psnr_is_the_psnr_a_loss_means():
    r = _record()
    assert T.training_psnr(r, 0.5 * 400 * 255.0 ** 2 / 1000) == pytest.approx(30.0)
    assert T.training_psnr(r, 0.5 * 400 * 255.0 ** 2 / 100) == pytest.approx(20.0)


def test_phases_table_and_progress():
    r = _record()
    t = T.phases_table(r)
    assert list(t["phase"]) == ["greedy 1", "greedy 2", "joint"]
    assert list(t["finished"]) == ["yes", "under way", "not started"]
    assert t.loc[1, "L-BFGS iterations"] == "5 of 10"
    assert t.loc[0, "training PSNR now"] == pytest.approx(30.0)
    assert t.loc[1, "training PSNR now"] == pytest.approx(30 + 10 * math.log10(2))
    p = T.progress(r)
    assert (p["iterations done"], p["iterations planned"]) == (15, 24)
    # 5 greedy iterations left at 2 s, 4 joint ones at 2 stages x 2 s (no joint rate measured yet)
    assert p["hours left (estimate)"] == pytest.approx((5 * 2 + 4 * 4) / 3600)
    r["phases"]["joint"] = {"iterations": 1, "evaluations": 2, "complete": False, "loss": [1.0, 1.0],
                            "seconds_per_iteration": [10.0], "wall_seconds": 10.0, "pieces": [{}]}
    assert T.progress(r)["hours left (estimate)"] == pytest.approx((5 * 2 + 3 * 10) / 3600)
