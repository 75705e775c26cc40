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


def test_the_tool_previews_a_saved_joint_state_and_its_result_replaces_the_preview(tmp_path):
    """``tools/record_tnrd_full.py --smoke`` in pieces: a preview waits for the joint phase, scores the saved state
    on BSD68 with its iteration, and the finished run's result removes it (toy sizes, about a minute)."""
    import json
    import os
    import subprocess
    import sys

    from pdedenoise.checkout import repo_root

    env = {**os.environ, "PDEDENOISE_RESULTS": str(tmp_path), "PDEDENOISE_NUM_THREADS": "1"}
    tool = [sys.executable, str(repo_root() / "tools" / "record_tnrd_full.py"), "--smoke"]
    call = lambda *a: subprocess.run(tool + list(a), env=env, capture_output=True, text=True, timeout=600)  # noqa: E731
    preview = tmp_path / "ci" / "05_tnrd_full_smoke_s25_preview.json"
    assert call("--preview").returncode == 2 and not preview.exists()  # nothing saved yet
    call("--piece-iterations", "2")  # greedy 1 at 2 of 3
    r = call("--preview")
    assert r.returncode == 2 and "waits for the joint phase" in r.stdout
    call("--piece-iterations", "2")  # greedy 1 done, greedy 2 at 2 of 3
    call("--piece-iterations", "2")  # greedy 2 done, joint at 2 of 3
    r = call("--preview")
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(preview.read_text())
    assert (got["phase"], got["iteration"], got["iterations planned"], got["images"]) == ("joint", 2, 3, 2)
    assert 10 < got["mean PSNR"] < 40 and "not the run's result" in got["note"]
    assert T.preview(tmp_path / "ci", name="05_tnrd_full_smoke")["mean PSNR"] == got["mean PSNR"]
    assert call().returncode == 0  # finishes and scores BSD68
    assert not preview.exists() and T.preview(tmp_path / "ci", name="05_tnrd_full_smoke") is None
    assert json.loads((tmp_path / "ci" / "05_tnrd_full_smoke_s25.json").read_text())["complete"]
