"""One recording: every chapter's ``medium`` results made by the same commit, each with its wall time.

Runs the chapter notebooks (01-05, or ``--only``) at ``medium`` scale one after the other, from a clean checkout
(the recorded commit must be the code that ran: a checkout with changed code is refused), and keeps a manifest,
``results/medium/_recording.json``: the commit, and per chapter its start, end and seconds. A chapter whose record
already carries this commit is skipped, so the same command continues a recording that stopped (the leaderboard's
fitted states and scores are kept under ``build/`` meanwhile, :mod:`pdedenoise.runcache`). ``--check`` only says
which chapters are recorded at which commit.

The recording takes hours on one core (chapter 3 and the leaderboard most). Record at one fixed commit, e.g. from
a worktree beside the data folder, and copy ``results/medium`` into the main checkout when it is complete::

    git worktree add ../record <commit> && cd ../record && make env
    PDEDENOISE_NUM_THREADS=1 .venv/bin/python -u tools/record_medium.py
    # or one process per core, e.g. --only 01 02 03 beside --only 04 05 (the manifest merges both)
    .venv/bin/python tools/record_medium.py --check
"""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
import time

from pdedenoise import notebooks
from pdedenoise.results import git_commit, load_results, results_dir, write_json_atomic

#: the chapter notebooks whose medium record (of the same name) the book reads
CHAPTERS = ("01_heat_pinn", "02_cross_diffusion", "03_learned_diffusivities", "04_diffnet", "05_leaderboard")
MANIFEST = "_recording"


def recorded_commits() -> dict[str, str | None]:
    """The commit of each chapter's medium record (None: not recorded)."""
    out = {}
    for name in CHAPTERS:
        rec = load_results(name, "medium")
        out[name] = None if rec is None else (rec.get("provenance") or {}).get("commit")
    return out


def _merged(manifest: dict, commit: str, name: str | None = None, entry: dict | None = None) -> dict:
    """``manifest`` with the chapters that another process of the same commit wrote meanwhile (two processes may
    record different chapters side by side, one per core), and ``name``'s ``entry`` if given."""
    on_disk = load_results(MANIFEST, "medium") or {}
    if on_disk.get("commit") == commit:
        manifest["chapters"] = {**on_disk.get("chapters", {}), **manifest["chapters"]}
        manifest["started"] = min(manifest["started"], on_disk.get("started", manifest["started"]))
    if name is not None:
        manifest["chapters"][name] = entry
    return manifest


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", default=None, help="chapters (names or number prefixes such as 03)")
    ap.add_argument("--check", action="store_true", help="only report the commit of each chapter's record")
    args = ap.parse_args(argv)
    commits = recorded_commits()
    if args.check:
        for name, c in commits.items():
            print(f"{name:28s} {c or 'not recorded'}")
        shared = set(commits.values())
        print("recorded at one commit:", "yes" if len(shared) == 1 and None not in shared else
              f"no ({', '.join(sorted(str(c) for c in shared))})")
        return 0
    commit = git_commit()
    if commit is None or commit.endswith("-dirty"):
        print(f"the checkout's code differs from its commit ({commit}); commit or stash it first, so that the "
              "recorded commit is the code that ran", file=sys.stderr)
        return 2
    chosen = [n for n in CHAPTERS if not args.only or any(n.startswith(k) or k in n for k in args.only)]
    if not chosen:
        print(f"no chapter matches {args.only}; the chapters are {', '.join(CHAPTERS)}", file=sys.stderr)
        return 2
    path = results_dir("medium") / f"{MANIFEST}.json"
    manifest = load_results(MANIFEST, "medium") or {}
    if manifest.get("commit") != commit:
        manifest = {"commit": commit, "started": _now(), "chapters": {}}
    for name in chosen:
        if commits.get(name) == commit and name in manifest["chapters"]:
            print(f"[record] {name}: recorded at {commit} already", flush=True)
            continue
        start, t0 = _now(), time.perf_counter()
        print(f"[record] {name} at medium scale, commit {commit} ...", flush=True)
        try:
            notebooks.run_all("medium", [name])
        except RuntimeError as exc:
            print(f"[record] {name} failed: {exc}", file=sys.stderr)
            return 1
        entry = {"started": start, "finished": _now(), "seconds": round(time.perf_counter() - t0, 1)}
        manifest = _merged(manifest, commit, name, entry)
        write_json_atomic(path, manifest)
    done = recorded_commits()
    manifest = _merged(manifest, commit)
    manifest["complete"] = all(done[n] == commit for n in CHAPTERS)
    write_json_atomic(path, manifest)
    print(f"[record] {sum(c == commit for c in done.values())} of {len(CHAPTERS)} chapters recorded at {commit}",
          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
