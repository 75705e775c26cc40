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
