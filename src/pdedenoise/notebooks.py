"""Execute the book's notebooks with papermill at a chosen scale.

``python -m pdedenoise.notebooks --scale ci`` runs every ``notebooks/*.ipynb`` (stored without
outputs) with the parameters ``scale``, ``device``, ``seed`` and ``data_dir``, plus ``save=True`` (each
notebook then saves its numbers to ``results/<scale>/<name>.json``; opened interactively, a notebook
writes nothing unless its reader sets ``save = True``) and ``progress=False`` (no progress bars in the
executed pages). It writes the executed copies to ``book/executed/``, from which Jupyter Book renders
the pages, with the parameter cells removed from the page and no absolute path of the machine left in
them (papermill records its input and output paths: they become relative to the repository), and adds ``results/<scale>/_timings.json``
with every notebook's wall time.

An executed copy appears only when its notebook ran to the end: papermill writes to a temporary
file (a fresh random name, :mod:`pdedenoise.atomic`) that is renamed on success; on failure the partial copy is
kept in ``build/failed/`` for inspection and the runner exits non-zero.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .atomic import atomic_file, atomic_path
from .checkout import repo_root
from .results import RUN_STARTED_ENV, SCALES, load_results, provenance, results_dir, write_json_atomic


class NoNotebook(LookupError):
    """``--only`` matched no notebook."""


def notebook_dir(root: Path | None = None) -> Path:
    return (root or repo_root()) / "notebooks"


def executed_dir(root: Path | None = None) -> Path:
    return (root or repo_root()) / "book" / "executed"


def discover(root: Path | None = None) -> list[Path]:
    """The source notebooks, in book order (file names start with their chapter number)."""
    return sorted(p for p in notebook_dir(root).glob("*.ipynb") if not p.name.startswith("."))


def execute(
    notebook: Path,
    scale: str = "ci",
    out_dir: Path | None = None,
    device: str = "cpu",
    seed: int = 0,
    data_dir: str | None = None,
    log_output: bool = False,
) -> Path:
    """Run one notebook with papermill; return the path of its executed copy.

    Raises:
        RuntimeError: naming the failing notebook and where its partial output was kept.
    """
    import papermill as pm

    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    notebook = Path(notebook).resolve()
    out_dir = Path(out_dir or executed_dir())
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / notebook.name
    params = {"scale": scale, "device": device, "seed": seed, "data_dir": data_dir, "save": True, "progress": False}
    # the commit that runs is the one checked out now, not the one checked out when a long run ends: the kernel
    # inherits this record and save_results stores it (see pdedenoise.results.RUN_STARTED_ENV)
    previous = os.environ.get(RUN_STARTED_ENV)
    os.environ[RUN_STARTED_ENV] = json.dumps(provenance(device))
    try:
        # a fresh temporary file (random name, created exclusively: never a file or link planted in book/executed),
        # renamed onto the executed copy when the notebook ran to the end and removed otherwise
        with atomic_path(final, suffix=".running.ipynb") as tmp:
            try:
                pm.execute_notebook(
                    str(notebook), str(tmp), parameters=params, kernel_name="python3", cwd=str(notebook.parent),
                    progress_bar=False, log_output=log_output, request_save_on_cell_execute=False,
                )
            except BaseException as exc:
                failed = repo_root() / "build" / "failed" / notebook.name
                if tmp.exists() and tmp.stat().st_size:
                    failed.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_file(failed) as fh:  # a copy: a link planted at build/failed is replaced, not followed
                        fh.write(tmp.read_bytes())
                if isinstance(exc, KeyboardInterrupt):
                    raise
                raise RuntimeError(
                    f"notebook {notebook.name} failed at scale={scale}: {exc.__class__.__name__}: {exc}\n"
                    f"the partially executed copy is in {failed}"
                ) from exc
            _hide_parameters(tmp)
            _scrub_paths(tmp, notebook, final)
    finally:
        if previous is None:
            os.environ.pop(RUN_STARTED_ENV, None)
        else:
            os.environ[RUN_STARTED_ENV] = previous
    return final


def _hide_parameters(path: Path) -> None:
    """Tag the notebook's and papermill's parameter cells ``remove-cell``: plumbing, not part of the page."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and "remove-cell" not in tags:
            cell.metadata["tags"] = tags + ["remove-cell"]
    nbformat.write(nb, path)


def _scrub_paths(path: Path, notebook: Path, final: Path) -> None:
    """Leave no path of the build machine in an executed notebook (the page offers it for download).

    Papermill records the absolute input and output paths in the notebook's metadata: they become paths
    relative to the repository (or the bare file names, for a notebook outside it). Any other mention of the
    repository's or the home folder's absolute path (a warning, a parameter) becomes relative too.
    """
    import nbformat

    root = repo_root().resolve()

    def rel(p: Path) -> str:
        p = Path(p).resolve()
        return str(p.relative_to(root)) if p.is_relative_to(root) else p.name

    nb = nbformat.read(path, as_version=4)
    meta = nb.metadata.get("papermill")
    if meta is not None:
        meta["input_path"] = rel(notebook)
        meta["output_path"] = rel(final)
    text = nbformat.writes(nb)
    for prefix, to in ((str(root) + "/", ""), (str(root), "."), (str(Path.home()) + "/", "~/")):
        text = text.replace(prefix, to)
    path.write_text(text)


def run_all(scale: str = "ci", only: list[str] | None = None, **kwargs) -> dict[str, float]:
    """Execute the notebooks (all, or those whose name contains one of ``only``); return wall times."""
    timings: dict[str, float] = {}
    if only is not None and (not only or not all(isinstance(k, str) and k.strip() for k in only)):
        raise NoNotebook(f"--only needs at least one (non-empty) name, got {only!r}; the notebooks are "
                         f"{', '.join(nb.stem for nb in discover()) or 'missing'} (leave --only out to run them all)")
    selected = [nb for nb in discover() if not only or any(key in nb.stem for key in only)]
    if not selected:
        raise NoNotebook(f"no notebook matches {only!r} in {notebook_dir()}; the notebooks are "
                          f"{', '.join(nb.stem for nb in discover()) or 'missing'}")
    previous = load_results("_timings", scale) or {}
    for nb in selected:
        start = time.perf_counter()
        print(f"[pdedenoise] executing {nb.name} at scale={scale} ...", flush=True)
        execute(nb, scale, **kwargs)
        timings[nb.stem] = round(time.perf_counter() - start, 1)
        print(f"[pdedenoise] {nb.name}: {timings[nb.stem]:.1f} s", flush=True)
    merged = {**previous.get("seconds", {}), **timings}
    write_json_atomic(results_dir(scale) / "_timings.json", {"scale": scale, "seconds": merged})
    return timings


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The runner's options (shared by ``python -m pdedenoise.notebooks`` and ``pdedenoise notebooks``)."""
    parser.add_argument("--scale", default="ci", choices=SCALES,
                        help="ci: minutes on two cores; medium: recorded on a CPU; full: the papers' sizes, for a GPU")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="run only notebooks whose name contains one of these (at least one name)")
    parser.add_argument("--device", default="cpu", help="torch device passed to the notebooks (cpu, cuda)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="data directory (default: PDEDENOISE_DATA, ../shared/data, cache)")
    parser.add_argument("--log-output", action="store_true", help="stream the notebooks' output")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the notebooks chosen by parsed :func:`add_arguments` options; exit status 0, 1 (a notebook failed) or 2
    (nothing matched ``--only``)."""
    try:
        run_all(args.scale, args.only, device=args.device, seed=args.seed, data_dir=args.data_dir,
                log_output=args.log_output)
    except NoNotebook as exc:
        print(f"[pdedenoise] {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"[pdedenoise] {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pdedenoise.notebooks", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    return run(add_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
