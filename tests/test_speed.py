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


def _learned_record(foe_speedup: float, tnrd_two: float, train_speedup: float = 6.0) -> dict:
    compiled = speed.COMPILED_PATH
    return {"tnrd_full_batch_seconds_estimate": 2 * tnrd_two, "tnrd_full_batch_seconds_two_threads": tnrd_two,
            "tnrd_crop": 180, "tnrd_batch": 4, "rows": [
        {"task": "restore", "model": f"FoE-S, {compiled}", "batch": 1, "speed-up vs earlier": foe_speedup},
        {"task": "restore", "model": f"FoE-S, {compiled}", "batch": 8, "speed-up vs earlier": foe_speedup,
         "batch_over_8_singles": 0.9, "time_shares": {"convolutions": 0.2, "compiled kernels": 0.7, "other": 0.1}},
        {"task": "train", "model": f"FoE-S, {compiled}", "batch": 10, "speed-up vs earlier": train_speedup},
        {"task": "train", "model": f"TNRD-style 5x5, {compiled}", "batch": 4, "speed-up vs earlier": 6.0},
        {"task": "train", "model": f"own certified, {compiled}", "batch": 16, "speed-up vs earlier": 1.4}]}


def _authors_record(speed_ka: float = 1.5, eight_over_one: float = 8.0, models=speed.CHAPTER3_MODELS) -> dict:
    return {"rows": [{"model": m, "batch": b, "book / TensorFlow speed": speed_ka if m == "KA" else 2.0,
                      "book, best (s)": 1.0 if b == 1 else eight_over_one} for m in models for b in (1, 8)]}


@pytest.mark.parametrize("foe, tnrd, train, ka, batch, missed", [
    (10.0, 30.0, 5.0, 1.5, 8.0, set()),                                    # every bound met exactly
    (9.99, 30.0, 5.0, 1.5, 8.0, {"FoE-S restoration vs the earlier path >= 10"}),
    (10.0, 30.01, 5.0, 1.5, 8.0, {"TNRD full batch forward + backward on two threads (s) <= 30"}),
    (10.0, 30.0, 4.99, 1.5, 8.0, {"training step vs the earlier path >= 5"}),
    (10.0, 30.0, 5.0, 1.49, 8.0, {"restoration vs the authors' TensorFlow >= 1.5"}),
    (10.0, 30.0, 5.0, 1.5, 8.01, {"batch of 8 / 8 single images <= 1"}),
])
def test_each_speed_target_flips_at_its_bound(foe, tnrd, train, ka, batch, missed):
    table = speed.learned_targets(_learned_record(foe, tnrd, train), _authors_record(ka, batch))
    assert set(table.loc[table.met == "no", "target"]) == missed
    assert (table.met != "not measured").all()
    assert table.loc[table.case == "FoE-S", "measured"].item() == 0.9   # bench_learned's own ratio where it has one
    assert not table.case.str.contains("own").any()   # timed, but no target of its own
    if foe < 10:   # a missed target says where the profiled call's time went
        row = table[(table.met == "no") & (table.case == "batch 8")].iloc[0]
        assert row["where the time goes (when missed)"].startswith("where the call's time goes: compiled kernels 70%")


def test_a_target_without_its_measurement_says_so_instead_of_vanishing():
    table = speed.learned_targets(_learned_record(10.0, 30.0), _authors_record(models=("KA", "FoE-S")))
    gone = table[table.met == "not measured"]
    assert set(gone.case) >= {"U-Net, batch 1", "FoE-RB, batch 8", "U-Net (beside the TensorFlow run)"}
    no_authors = speed.learned_targets({k: v for k, v in _learned_record(10.0, 30.0).items()
                                        if k != "tnrd_full_batch_seconds_two_threads"})
    assert (no_authors.loc[no_authors.target.str.startswith("restoration"), "met"] == "not measured").all()
    assert no_authors.loc[no_authors.target.str.startswith("TNRD"), "met"].item() == "not measured"


def test_the_authors_tensorflow_benchmark_is_recorded_with_equal_outputs():
    record = speed.load("authors_tf_cpu")
    assert record is not None, "benchmarks/results/authors_tf_cpu.json is part of the repository"
    table = speed.authors_tf_table(record)
    assert set(table.model) == set(speed.CHAPTER3_MODELS) and set(table.batch) == set(speed.AUTHORS_BATCHES)
    # the same restoration: float32 round-off over ten steps (at most 0.074 grey levels, FoE-D, in the recorded run),
    # an order of magnitude below the one grey level of an 8-bit image
    assert (table["largest output difference (grey levels)"] < 0.1).all()
