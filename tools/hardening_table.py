"""Run the hardening cases of ``tests/hardening_cases.py`` against a checkout and tabulate the outcomes.

    .venv/bin/python tools/hardening_table.py                 # this checkout
    .venv/bin/python tools/hardening_table.py --src /tmp/old/src --json before.json
    .venv/bin/python tools/hardening_table.py --table 2          # the second table (hardening_cases2.py)

``--src`` points the package import at another checkout's ``src`` (e.g. a git worktree of an older commit), so
the same cases can be run before and after a change. Prints one line per case and the counts per outcome.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def _isolated(classify, case, tmp: Path, timeout: float) -> tuple[str, str]:
    """Classify one case in a forked child: a call that never returns (older code looping for ever) is a
    ``crash`` after ``timeout`` seconds instead of stopping the table."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=lambda: queue.put(classify(case, tmp)))
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        return "crash", f"no answer after {timeout:.0f} s"
    return queue.get() if not queue.empty() else ("crash", f"the process died (exit {child.exitcode})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=HERE / "src")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--table", type=int, choices=(1, 2), default=1, help="1: hardening_cases.py, 2: hardening_cases2.py")
    ap.add_argument("-k", default="", help="only the cases whose name contains this")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(args.src.resolve()))
    os.environ["PYTHONPATH"] = str(args.src.resolve()) + os.pathsep + os.environ.get("PYTHONPATH", "")
    sys.path.insert(0, str(HERE / "tests"))
    shared = HERE.parent / "shared" / "data"
    if shared.is_dir():  # the checkout under test may live elsewhere: point it at this checkout's data
        os.environ.setdefault("PDEDENOISE_DATA", str(shared))
    from hardening_cases import CASES, TIMEOUT, classify

    if args.table == 2:
        from hardening_cases2 import CASES2 as CASES
    rows = []
    for case in CASES():
        if args.k and args.k not in case.name:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            outcome, detail = _isolated(classify, case, Path(tmp), TIMEOUT * 2)
        rows.append({"case": case.name, "area": case.area, "outcome": outcome, "detail": detail})
        print(f"{outcome:14s} {case.name}  {detail[:100]}", flush=True)
    counts = Counter(r["outcome"] for r in rows)
    print(dict(counts))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
