"""Chapter 3's restoration with the authors' TensorFlow code and with the book's torch code, in one interleaved run.

    python benchmarks/bench_authors_tf.py --tf-python /tmp/tf/bin/python --authors /path/to/anisotropic_diffusion \\
        [--repeat 5] [--threads 1]

The authors' code (their ``architectures.py`` at a3b279a, from a checkout given by ``--authors``) runs in its own
environment with TensorFlow 2.12 (``python -m venv /tmp/tf && /tmp/tf/bin/pip install "tensorflow-cpu==2.12.1"
"numpy<2"``; not a dependency of the project), driven by ``benchmarks/authors_tf_worker.py`` over a pipe, so that
its calls and the book's alternate within one run and share the machine's load. Both restore the same 256² crops
of BSDS500 val (sigma 25 noise, the ten steps of the six released sigma 25 models, each padded by 8 as the
authors' models do), batch 1 and 8, one thread each; TensorFlow's models run as ``tf.function`` (traced
before the timing), the book's eagerly and with its compiled kernels (:mod:`pdedenoise.kernels`, compiled before
the timing). Each time is the best of ``--repeat`` rounds. The outputs at batch 8 are compared (largest absolute
difference in grey levels). Writes ``benchmarks/results/authors_tf_<device>.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pdedenoise import kernels
from pdedenoise.data import registry
from pdedenoise.papers.valdivia2024 import analysis as A
from pdedenoise.papers.valdivia2024 import checkpoints as CK
from pdedenoise.papers.valdivia2024 import protocol as P
from pdedenoise.results import provenance, write_json_atomic
from pdedenoise.speed import AUTHORS_BATCHES as BATCHES
from pdedenoise.speed import CHAPTER3_MODELS as LABELS
from pdedenoise.speed import record_path

SIGMA = 25
AUTHORS_ARCHITECTURE = {"KA": "KAutomation", "FoE": "FoE", "UNet": "UNet"}
PATHS = {"book, eager": False, "book, compiled": True}
TF_KEY = "authors' TensorFlow (s)"


class Worker:
    """The TensorFlow worker process (``authors_tf_worker.py``): one JSON request per line, one answer each."""

    def __init__(self, python: str, authors: Path, inputs: Path, threads: int, checkpoints: Path):
        script = Path(__file__).with_name("authors_tf_worker.py")
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TF_NUM_INTRAOP_THREADS": str(threads)}
        self.proc = subprocess.Popen(
            [python, str(script), "--authors", str(authors), "--inputs", str(inputs), "--threads", str(threads),
             "--checkpoints", str(checkpoints)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.hello = self._read()
        if not self.hello.get("ready"):
            raise SystemExit(f"the TensorFlow worker did not start: {self.hello}")

    def _read(self) -> dict:
        while True:   # the worker answers one JSON object per line; anything else on the pipe is passed on
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit(f"the TensorFlow worker stopped (exit {self.proc.wait()}); its messages are above")
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                print(f"[worker] {line.rstrip()}", file=sys.stderr)

    def ask(self, **request) -> dict:
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise SystemExit(f"the TensorFlow worker stopped (exit {self.proc.wait()}); its messages are above")
        answer = self._read()
        if "error" in answer:
            raise RuntimeError(f"the TensorFlow worker failed on {request}: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"quit": True}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=60)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def _timed(model, x: torch.Tensor, compiled: bool) -> float:
    kernels.use_compiled(compiled)
    with torch.no_grad():
        t0 = time.perf_counter()
        model(x)
        return time.perf_counter() - t0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tf-python", required=True, help="a Python with tensorflow-cpu 2.12 and numpy < 2")
    ap.add_argument("--authors", type=Path, required=True, help="checkout of JoelVO/anisotropic_diffusion")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--crop", type=int, default=P.CROP)
    args = ap.parse_args(argv)
    if not (args.authors / "architectures.py").is_file():
        raise SystemExit(f"{args.authors} has no architectures.py: give a checkout of JoelVO/anisotropic_diffusion")
    folder = registry.data_dir()
    checkpoints = folder / "learned_diffusivities_ckpt" / "checkpoints" if folder is not None else None
    if checkpoints is None or not checkpoints.is_dir():
        raise SystemExit("the authors' checkpoints are not in a data folder (learned_diffusivities_ckpt/checkpoints); "
                         "set PDEDENOISE_DATA to the folder that holds them")
    torch.set_num_threads(args.threads)
    started, load_before, t_start = provenance("cpu"), os.getloadavg()[0], time.perf_counter()
    clean = P.val_crops(max(BATCHES), args.crop, seed=0)
    noisy = P.noisy(clean, SIGMA, 1)                                  # (8, 1, H, W), 0-255
    specs = {label: CK.spec(A.released_name(label, SIGMA)) for label in LABELS}
    book = A.released(SIGMA, list(LABELS))
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.npz"
        np.savez(inputs, noisy=noisy[:, 0].numpy(), batches=np.array(BATCHES), models=json.dumps([
            {"label": label, "name": s.name, "architecture": AUTHORS_ARCHITECTURE[s.architecture], "kind": s.kind,
             "first": s.first, "second": s.second} for label, s in specs.items()]))
        worker = Worker(args.tf_python, args.authors, inputs, args.threads, checkpoints)
        try:
            cases = [(label, b) for label in LABELS for b in BATCHES]
            for label, b in cases:   # warm-up: the book's kernels compile on their first call of each shape
                for compiled in PATHS.values():
                    _timed(book[label], noisy[:b], compiled)
            best: dict = {}
            for r in range(args.repeat):
                for label, b in cases:
                    t = worker.ask(time=label, batch=b)["seconds"]
                    best[(label, b, TF_KEY)] = min(best.get((label, b, TF_KEY), 1e9), t)
                    for path, compiled in PATHS.items():
                        t = _timed(book[label], noisy[:b], compiled)
                        best[(label, b, path)] = min(best.get((label, b, path), 1e9), t)
                print(f"round {r + 1}/{args.repeat} done", flush=True)
            theirs = np.load(worker.ask(outputs=str(Path(tmp) / "tf_out.npz"))["written"])
            differences = {}
            for label in LABELS:
                kernels.use_compiled(True)
                with torch.no_grad():
                    ours = book[label](noisy)[:, 0].numpy()
                differences[label] = float(np.abs(ours - theirs[label]).max())
        finally:
            kernels.use_compiled(False)
            worker.close()
    rows = []
    for label, b in cases:
        tf_s = best[(label, b, TF_KEY)]
        row = {"model": label, "batch": b, TF_KEY: tf_s}
        for path in PATHS:
            row[f"{path} (s)"] = best[(label, b, path)]
        fastest = min(PATHS, key=lambda p: best[(label, b, p)])
        row["book, best (s)"] = best[(label, b, fastest)]
        row["book's fastest path"] = fastest
        row["book / TensorFlow speed"] = tf_s / best[(label, b, fastest)]
        row["largest output difference (grey levels)"] = differences[label]
        rows.append(row)
    out = {"provenance": started, "threads": args.threads, "crop": args.crop, "sigma": SIGMA,
           "tensorflow": worker.hello.get("tensorflow"), "authors_commit": "a3b279a",
           "load_average": {"before": load_before, "after": os.getloadavg()[0]},
           "seconds": time.perf_counter() - t_start, "rows": rows}
    path = record_path("authors_tf", "cpu")
    write_json_atomic(path, out)
    for r in rows:
        print(f"{r['model']:6s} b{r['batch']}  TF {r[TF_KEY]:.3f} s  "
              f"book {r['book, best (s)']:.3f} s  x{r['book / TensorFlow speed']:.2f}  "
              f"max diff {r['largest output difference (grey levels)']:.2e}")
    print(f"written to {path}")
    return out


if __name__ == "__main__":
    main()
