"""The speed page's readers and the GPU stencil benchmark (run on the CPU at a tiny size: its arithmetic, not its speed)."""
import importlib.util
import json
import shutil

import pytest

from pdedenoise import speed
from pdedenoise.checkout import repo_root


def _bench_gpu_stencil():
    path = repo_root() / "benchmarks" / "bench_gpu_stencil.py"
    spec = importlib.util.spec_from_file_location("bench_gpu_stencil", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_stencil_benchmark_reports_fractions_of_the_copy_bandwidth(tmp_path, monkeypatch):
    bench = _bench_gpu_stencil()
    out = bench.main(["--device", "cpu", "--batch", "2", "--size", "40", "--steps", "3", "--repeat", "2",
                      "--no-compile", "--out", str(tmp_path)])
    assert out["shape"] == [2, 1, 40, 40]
    rows = out["rows"]
    copy = rows["copy (read + write, the reference)"]
    assert copy["fraction_of_copy_bandwidth"] == pytest.approx(1.0)
    assert copy["effective_GB_per_s"] == pytest.approx(out["copy_GB_per_s"])
    for name, r in rows.items():  # every row: 8 bytes per pixel-step over its time, relative to the copy
        assert r["seconds_per_step"] > 0, name
        assert r["effective_GB_per_s"] == pytest.approx(8 * 2 * 40 * 40 / r["seconds_per_step"] / 1e9), name
        assert r["fraction_of_copy_bandwidth"] == pytest.approx(r["effective_GB_per_s"] / out["copy_GB_per_s"]), name
    assert {"heat, eager", "Perona-Malik rational, eager", "Perona-Malik exponential, eager"} <= set(rows)
    written = tmp_path / "gpu_stencil_cpu.json"
    assert json.loads(written.read_text())["rows"].keys() == rows.keys()

    # the book shows GPU runs only: a CPU trial of the script is left out, a named GPU's record is read
    monkeypatch.setattr(speed, "results_folder", lambda: tmp_path)
    assert speed.gpu_records() == {}
    shutil.copy(written, tmp_path / "gpu_stencil_NVIDIA_H100_80GB_HBM3.json")
    records = speed.gpu_records()
    assert list(records) == ["NVIDIA H100 80GB HBM3"] and list(records["NVIDIA H100 80GB HBM3"]) == ["stencil"]
    table = speed.gpu_stencil_table(records["NVIDIA H100 80GB HBM3"]["stencil"])
    assert list(table["operation"]) == list(rows) and float(table["fraction of copy bandwidth"].iloc[0]) == 1.0


def test_the_recorded_learned_benchmark_reads_as_tables_per_task():
    record = speed.load("learned_cpu")
    assert record is not None, "benchmarks/results/learned_cpu.json is part of the repository"
    restore, train = speed.learned_table(record, "restore"), speed.learned_table(record, "train")
    assert {"model", "batch", "seconds per call", "images/s"} <= set(restore.columns)
    assert len(restore) + len(train) == len(record["rows"])
    assert (train["images/s"] > 0).all()
    with pytest.raises(ValueError, match="no 'evaluate' rows"):
        speed.learned_table(record, "evaluate")


def _learned_record(foe_speedup: float, tnrd_seconds: float, batch_ratio: float) -> dict:
    compiled = "fused, compiled"
    return {"tnrd_full_batch_seconds_estimate": tnrd_seconds, "rows": [
        {"task": "restore", "model": f"FoE-S, {compiled}", "batch": 1, "speed-up vs earlier": foe_speedup},
        {"task": "restore", "model": f"FoE-S, {compiled}", "batch": 8, "speed-up vs earlier": foe_speedup,
         "batch_over_8_singles": batch_ratio, "time_shares": {"convolutions": 0.2, "compiled kernels": 0.7,
                                                              "other": 0.1}},
        {"task": "restore", "model": "KA", "batch": 8, "batch_over_8_singles": 0.9},
        {"task": "train", "model": f"FoE-S, {compiled}", "batch": 10, "speed-up vs earlier": 6.0},
        {"task": "train", "model": f"own certified, {compiled}", "batch": 16, "speed-up vs earlier": 1.4}]}


@pytest.mark.parametrize("foe, tnrd, ratio, missed", [
    (10.0, 60.0, 1.0, set()),                                    # every bound met exactly
    (9.99, 60.0, 1.0, {"FoE-S restoration vs the earlier path >= 10"}),
    (10.0, 60.01, 1.0, {"TNRD full batch (400 x 180²) forward + backward, two cores (s) <= 30"}),
    (10.0, 60.0, 1.01, {"batch of 8 / 8 single images <= 1"}),
])
def test_each_speed_target_flips_at_its_bound(foe, tnrd, ratio, missed):
    authors = {"rows": [{"model": "KA", "batch": 1, "book / TensorFlow speed": 1.5}]}
    table = speed.learned_targets(_learned_record(foe, tnrd, ratio), authors)
    assert set(table.loc[table.met == "no", "target"]) == missed
    # the own model is timed but has no target; every missed row says where the time went when it was profiled
    assert not table.case.str.contains("own").any()
    for _, row in table[table.met == "no"].iterrows():
        if "FoE-S" in row.target and row.case == "batch 8":
            assert row["where the time goes (when missed)"].startswith("where the call's time goes: compiled kernels 70%")
    authors["rows"][0]["book / TensorFlow speed"] = 1.49
    flipped = speed.learned_targets(_learned_record(foe, tnrd, ratio), authors)
    assert "restoration vs the authors' TensorFlow >= 1.5" in set(flipped.loc[flipped.met == "no", "target"])


def test_the_authors_tensorflow_benchmark_is_recorded_with_equal_outputs():
    record = speed.load("authors_tf_cpu")
    assert record is not None, "benchmarks/results/authors_tf_cpu.json is part of the repository"
    table = speed.authors_tf_table(record)
    assert set(table.model) == {"FoE-S", "KA", "U-Net"} and set(table.batch) == {1, 8}
    # the same restoration: float32 round-off over ten steps, far below a grey level
    assert (table["largest output difference (grey levels)"] < 0.05).all()
