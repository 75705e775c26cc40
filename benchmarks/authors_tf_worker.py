"""Worker of ``bench_authors_tf.py``: the authors' TensorFlow models, timed on request (not a part of the package).

Runs in an environment with TensorFlow (``tensorflow-cpu==2.12.1``, ``numpy<2``), never the project's, and imports
the authors' ``architectures.py`` from a checkout of JoelVO/anisotropic_diffusion given by ``--authors``; nothing
of it is copied here. Protocol on stdin/stdout, one JSON object per line:

* start: ``--inputs`` is an ``.npz`` with ``noisy`` (B, H, W) float32, ``batches`` the batch sizes to trace and
  ``models`` a JSON list of
  ``{"label", "name", "architecture", "kind", "first", "second"}`` (the authors' argument names: ``KAutomation``,
  ``FoE``, ``UNet``); each is built with the authors' ``get_nn`` at the crop size, its checkpoint loaded from
  ``--checkpoints``, wrapped in ``tf.function`` and called once per batch size (tracing outside the timing).
  The worker answers ``{"ready": true, "tensorflow": version}``.
* a request that fails is answered ``{"error": message}`` (the worker goes on); only the answers go to the
  protocol's stdout, everything else the libraries print goes to stderr.
* ``{"time": label, "batch": b}`` -> ``{"seconds": s}``: one call on the first ``b`` images, wall time;
* ``{"outputs": path}`` -> ``{"written": path}``: every model's output at the largest batch, saved as ``.npz``;
* ``{"quit": true}`` ends it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--authors", required=True)
    ap.add_argument("--checkpoints", required=True)
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())   # stray prints (ours, the libraries') go to stderr
    sys.stdout = sys.stderr
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    sys.path.insert(0, args.authors)
    from architectures import get_nn  # the authors' code, from their checkout

    data = np.load(args.inputs)
    noisy = data["noisy"].astype(np.float32)[..., None]   # (B, H, W, 1), channels last as the authors' models take
    specs = json.loads(str(data["models"]))
    crop = noisy.shape[1]
    sizes = sorted(set(int(b) for b in data["batches"]))
    models = {}
    for s in specs:
        model = get_nn(s["architecture"], crop=crop, first=s["first"], second=s["second"], function_type=s["kind"])
        model(tf.constant(noisy[:1]))   # build the variables
        model.load_weights(os.path.join(args.checkpoints, s["name"])).expect_partial()
        fn = tf.function(model)
        for b in sizes:
            fn(tf.constant(noisy[:b]))   # trace once per shape
        models[s["label"]] = fn
    print(json.dumps({"ready": True, "tensorflow": tf.__version__}), file=protocol, flush=True)
    for line in sys.stdin:
        try:
            ask = json.loads(line)
            if ask.get("quit"):
                break
            if "time" in ask:
                x = tf.constant(noisy[:int(ask["batch"])])
                t0 = time.perf_counter()
                models[ask["time"]](x).numpy()
                answer = {"seconds": time.perf_counter() - t0}
            elif "outputs" in ask:
                b = max(sizes)
                np.savez(ask["outputs"], **{k: fn(tf.constant(noisy[:b])).numpy()[..., 0] for k, fn in models.items()})
                answer = {"written": ask["outputs"]}
            else:
                answer = {"error": f"unknown request {ask}"}
        except Exception as exc:   # noqa: BLE001 -- answered, so that the driver names it
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), file=protocol, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
