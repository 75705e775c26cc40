import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from pdedenoise import records, results, scoreboard
from pdedenoise.records import Published


def test_verdicts_follow_the_stated_tolerances():
    assert records.verdict(25.0, 25.05, 0.1, 0.5) == "reproduced"
    assert records.verdict(25.0, 24.7, 0.1, 0.5) == "close"
    assert records.verdict(25.0, 23.0, 0.1, 0.5) == "not reproduced"
    assert records.verdict(25.0, None, 0.1, 0.5) == "not reproduced"
    assert records.verdict(25.0, math.nan, 0.1, 0.5) == "not reproduced"


def test_compare_keeps_missing_rows():
    pub = {"a": Published(1.0, "Table 1"), "b": Published(2.0, "Table 1")}
    table = records.compare(pub, {"a": 1.05}, tol=0.1, close_tol=0.5, reasons={"b": "not run"})
    assert list(table["quantity"]) == ["a", "b"]
    assert list(table["verdict"]) == ["reproduced", "not reproduced"]
    assert table.loc[0, "difference"] == pytest.approx(0.05)
    assert table.loc[1, "reason"] == "not run"
    counts = scoreboard.summary([table])
    assert counts["reproduced"] == 1 and counts["close"] == 0 and counts["not reproduced"] == 1


def test_save_results_writes_json_with_provenance(tmp_path):
    path = results.save_results("demo", "ci", {"x": torch.tensor([1.0, 2.0]), "y": np.float32(3.5)}, root=tmp_path)
    data = json.loads(path.read_text())
    assert path == tmp_path / "ci" / "demo.json"
    assert data["x"] == [1.0, 2.0] and data["y"] == 3.5
    assert {"date", "commit", "device", "torch"} <= set(data["provenance"])
    assert results.load_results("demo", "ci", root=tmp_path)["x"] == [1.0, 2.0]
    assert results.load_results("absent", "ci", root=tmp_path) is None
    assert path.stat().st_mode & 0o044, "results must be readable by others, like any file the user writes"


def test_the_device_names_the_cpu_its_vector_instructions_and_bfloat16(monkeypatch):
    """Runs on different CPUs differ several-fold in speed: the recorded device says which CPU it was."""
    real = results.cpu_model()  # a name, whatever the machine (read before it is replaced below)
    assert isinstance(real, str) and real.strip() and "\n" not in real
    if Path("/proc/cpuinfo").is_file() and "model name" in Path("/proc/cpuinfo").read_text():
        assert f": {real}" in Path("/proc/cpuinfo").read_text()
    monkeypatch.setattr(results, "cpu_model", lambda: "Some CPU 9000")
    monkeypatch.setattr(results, "cpu_has_bf16", lambda: True)
    d = results.device_description("cpu")
    cap = torch.backends.cpu.get_cpu_capability()
    assert d.startswith("CPU (Some CPU 9000, ") and f", {cap}, bfloat16, " in d
    assert d.endswith(f"{os.cpu_count()} cores, {torch.get_num_threads()} threads)")
    monkeypatch.setattr(results, "cpu_has_bf16", lambda: False)
    assert "bfloat16" not in results.device_description("cpu")


def test_long_runs_keep_the_provenance_of_their_start(tmp_path):
    start = {**results.provenance(), "commit": "abc1234", "date": "2026-01-01T00:00:00+00:00"}
    path = results.save_results("long", "medium", {"x": 1}, root=tmp_path, provenance_at_start=start)
    prov = json.loads(path.read_text())["provenance"]
    assert prov["commit"] == "abc1234" and prov["date"] == "2026-01-01T00:00:00+00:00"
    assert prov["finished"] > prov["date"]  # when it ended, taken at save time


def test_a_notebook_run_records_the_commit_it_started_from(tmp_path, monkeypatch):
    """The runner puts the start's provenance in the environment; a notebook's plain save_results uses it."""
    start = {**results.provenance(), "commit": "feed123", "date": "2026-02-02T00:00:00+00:00"}
    monkeypatch.setenv(results.RUN_STARTED_ENV, json.dumps(start))
    prov = json.loads(results.save_results("nb", "medium", {"x": 1}, root=tmp_path).read_text())["provenance"]
    assert prov["commit"] == "feed123" and "finished" in prov
    monkeypatch.delenv(results.RUN_STARTED_ENV)
    prov = json.loads(results.save_results("nb", "medium", {"x": 1}, root=tmp_path).read_text())["provenance"]
    assert prov["commit"] != "feed123" and "finished" not in prov


def test_a_notebook_run_records_the_threads_its_kernel_ran_on(tmp_path, monkeypatch):
    """The runner's parent process keeps PyTorch's default threads; the kernel sets its own (threads.configure):
    the record names the kernel's."""
    start = {**results.provenance(), "device": "CPU (x86_64, 2 cores, 7 threads)"}
    monkeypatch.setenv(results.RUN_STARTED_ENV, json.dumps(start))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        prov = json.loads(results.save_results("nb", "medium", {"x": 1}, root=tmp_path).read_text())["provenance"]
    finally:
        torch.set_num_threads(before)
    assert prov["device"].endswith("1 threads)") and prov["commit"] == start["commit"]


def test_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out.json"
    target.write_text('{"old": true}')
    with pytest.raises(TypeError):
        results.write_json_atomic(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_unknown_scale_is_refused(tmp_path):
    with pytest.raises(ValueError, match="scale"):
        results.results_dir("huge", tmp_path)


def test_claims_are_validated_and_counted():
    claims = [records.Claim("a", "holds", "r", "ci"), records.Claim("b", "does not hold", "r", "medium"),
              {"claim": "c", "verdict": "untested", "reason": "r", "scale": "ci", "evidence": ""}]
    counts = scoreboard.claim_summary(claims)
    assert counts.to_dict() == {"holds": 1, "partly holds": 0, "does not hold": 1, "holds by construction": 0,
                                "untested at this scale": 0, "untested": 1}
    assert list(records.claims_frame(claims)["claim"]) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="claim verdict"):
        records.Claim("d", "reproduced", "r", "ci")


def test_rule_minimum_gives_untested_at_this_scale_with_the_ratio():
    rule = records.Rule("holds if x", 0.1, "dB", {"steps": 1000})
    short = records.untested_at_scale(rule, "claim", {"steps": 192}, {"steps": 101_250}, "medium", "", "gap 2 dB")
    assert short.verdict == "untested at this scale" and short.rule == "holds if x" and short.tolerance == "0.1 dB"
    assert "steps 192 < 1,000" in short.reason and "steps 192 of 101,250 (0.19 %)" in short.reason
    assert records.untested_at_scale(rule, "claim", {"steps": 1000}, {"steps": 101_250}, "medium") is None


def test_comparison_rows_name_their_tolerance():
    t = records.compare({"q": records.Published(10.0, "T1", "dB")}, {"q": 10.5}, 1.0, 3.0)
    assert t.loc[0, "verdict"] == "reproduced" and t.loc[0, "tolerance"] == "reproduced within 1 dB, close within 3 dB"


def _record(root, scale, name, commit, date, claims=None):
    folder = root / scale
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"provenance": {"commit": commit, "date": date, "device": "CPU"}, "claims": claims or []}
    (folder / f"{name}.json").write_text(json.dumps(payload))


def test_scoreboard_says_at_which_commit_and_date_each_recording_was_made(tmp_path):
    old = {"claim": "c", "verdict": "holds", "reason": "r", "scale": "medium"}
    new = records.Rule("holds if x", 0.1, "dB").claim("c", "holds", "r", "medium").to_dict()
    _record(tmp_path, "medium", "01_a", "abc1234", "2026-11-21T23:31:41+00:00", [old])
    _record(tmp_path, "medium", "02_b", "abc1234", "2026-11-22T01:00:00+00:00", [new])
    _record(tmp_path, "ci", "03_c", "fff0000", "2026-12-01T00:00:00+00:00")
    frame = scoreboard.recordings(tmp_path)
    assert list(frame.file) == ["01_a.json", "02_b.json"]  # ci results are no recording
    assert list(frame.commit) == ["abc1234", "abc1234"] and list(frame.date) == ["2026-11-21", "2026-11-22"]
    assert list(frame.claims) == ["without rule and tolerance", "with rule and tolerance"]
    assert scoreboard.one_commit_line(frame) == "chapter records at one commit: yes (commit abc1234, 2 files)"
    assert {r["name"]: r["predates_rules"] for r in scoreboard.collect(tmp_path) if r["scale"] == "medium"} == \
        {"01_a": True, "02_b": False}
    _record(tmp_path, "medium", "04_d", "def5678-dirty", "2026-12-02T00:00:00+00:00")
    _record(tmp_path, "medium", "05_e", "abc1234", "2026-12-02T00:00:00+00:00")
    frame = scoreboard.recordings(tmp_path)
    # files without claims are experiment records (gap experiments, probes, long runs), counted beside
    assert scoreboard.one_commit_line(frame) == \
        "chapter records at one commit: yes (commit abc1234, 2 files); 2 experiment records at 2 commits"
    _record(tmp_path, "medium", "07_g", "def5678", "2026-12-02T00:00:00+00:00", [new])
    assert scoreboard.one_commit_line(scoreboard.recordings(tmp_path)) == ("chapter records at one commit: no (2 "
                                                                           "commits: abc1234: 2 files, def5678: 1 "
                                                                           "file); 2 experiment records at 2 commits")
    assert scoreboard.one_commit_line(frame, "full") == "no recordings"
    # the leaderboard stores its claims as findings: a chapter record too
    (tmp_path / "medium" / "07_g.json").unlink()
    (tmp_path / "medium" / "08_board.json").write_text(json.dumps(
        {"provenance": {"commit": "abc1234", "date": "2026-12-02T00:00:00+00:00", "device": "CPU"}, "findings": [new]}))
    assert scoreboard.one_commit_line(scoreboard.recordings(tmp_path)) == \
        "chapter records at one commit: yes (commit abc1234, 3 files); 2 experiment records at 2 commits"
    (tmp_path / "medium" / "06_f.json").write_text("{not json")
    frame = scoreboard.recordings(tmp_path)
    assert frame.set_index("file").claims["06_f.json"].startswith("unreadable")


def test_claims_payload_stores_each_claim_with_its_rule_and_tolerance():
    rule = records.Rule("holds if the gain is above 0.1 dB", 0.1, "dB")
    claim = rule.claim("c", "holds", "gain 0.3 dB", "medium", "Table 1")
    old = {"claim": "c", "verdict": "partly holds", "reason": "r", "scale": "medium"}
    payload = records.claims_payload([claim, old])
    assert payload[0] == claim.to_dict() and payload[0]["rule"] == rule.rule and payload[0]["tolerance"] == "0.1 dB"
    assert payload[1]["rule"] == "" and payload[1]["tolerance"] == "" and payload[1]["verdict"] == "partly holds"
    assert json.loads(json.dumps(payload)) == payload
    assert records.predates_rules([old]) and not records.predates_rules(payload)
    with pytest.raises(ValueError):
        records.claims_payload([{**old, "verdict": "holds mostly"}])


def test_two_recording_processes_of_one_commit_keep_each_others_chapters(tmp_path, monkeypatch):
    # record_medium may run one process per core (--only 01 02 03 beside --only 04 05); each writes the manifest
    # after each chapter, so a chapter written by the other process in the meantime must survive.
    import importlib.util
    import pathlib
    spec = importlib.util.spec_from_file_location(
        "record_medium", pathlib.Path(__file__).parents[1] / "tools" / "record_medium.py")
    rm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rm)
    monkeypatch.setenv("PDEDENOISE_RESULTS", str(tmp_path))
    path = results.results_dir("medium") / "_recording.json"
    a = {"commit": "c1", "started": "2026-01-01T00:00:00+00:00", "chapters": {}}
    b = {"commit": "c1", "started": "2026-01-01T00:00:05+00:00", "chapters": {}}
    a = rm._merged(a, "c1", "01_heat_pinn", {"seconds": 1.0})
    results.write_json_atomic(path, a)
    b = rm._merged(b, "c1", "04_diffnet", {"seconds": 2.0})
    results.write_json_atomic(path, b)
    a = rm._merged(a, "c1", "02_cross_diffusion", {"seconds": 3.0})
    results.write_json_atomic(path, a)
    on_disk = json.loads(path.read_text())
    assert set(on_disk["chapters"]) == {"01_heat_pinn", "04_diffnet", "02_cross_diffusion"}
    assert on_disk["started"] == "2026-01-01T00:00:00+00:00"
    # a manifest of another commit is not merged
    other = rm._merged({"commit": "c2", "started": "x", "chapters": {}}, "c2", "05_leaderboard", {"seconds": 4.0})
    assert set(other["chapters"]) == {"05_leaderboard"}


def test_the_scoreboard_judges_recorded_chapter_runs_as_their_pages_do(tmp_path):
    """Chapters 2 and 3 judge a recorded run's evidence again under the current rules on their pages; the scoreboard
    does the same, so a verdict stored before a rule changed is not shown beside the page's. A ``ci`` run keeps the
    claims its page stored."""
    from pdedenoise.checkout import repo_root
    from pdedenoise.papers.valdivia2024 import analysis as A3

    rec = json.loads((repo_root() / "results" / "medium" / "03_learned_diffusivities.json").read_text())
    rec["claims"] = [{**c, "verdict": "does not hold"} for c in rec["claims"]]  # as if judged by older rules
    for scale in ("medium", "ci"):
        (tmp_path / scale).mkdir()
        (tmp_path / scale / "03_learned_diffusivities.json").write_text(json.dumps({**rec, "scale": scale}))
    got = {r["scale"]: r for r in scoreboard.collect(tmp_path)}
    assert got["medium"]["rejudged"] and got["medium"]["claims"] == [c.to_dict() for c in A3.claims_from_results(rec)]
    assert {c["verdict"] for c in got["medium"]["claims"]} != {"does not hold"}
    assert not got["ci"]["rejudged"] and {c["verdict"] for c in got["ci"]["claims"]} == {"does not hold"}
    del rec["stability"]  # a record without the evidence keeps its stored claims
    (tmp_path / "medium" / "03_learned_diffusivities.json").write_text(json.dumps(rec))
    got = {r["scale"]: r for r in scoreboard.collect(tmp_path)}
    assert not got["medium"]["rejudged"] and {c["verdict"] for c in got["medium"]["claims"]} == {"does not hold"}
