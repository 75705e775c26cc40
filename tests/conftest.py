import os
import shutil

import pytest
import torch


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(1234)


def pytest_collection_modifyitems(config, items):
    """Keep the cheap tests first so a broken solver fails fast, before notebooks execute."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)


@pytest.fixture(scope="session")
def executed_book(tmp_path_factory):
    """Every notebook executed once at ci scale, in book order, into a temporary folder.

    Results go to a temporary results folder that starts with a copy of the recorded runs
    (``results/medium``, ``results/full``), as in a real build; the repository's own results are not touched.
    Returns ``(executed_dir, results_dir, {notebook stem: error or None})``.
    """
    from pdedenoise import notebooks
    from pdedenoise.checkout import repo_root

    base = tmp_path_factory.mktemp("book")
    results, executed = base / "results", base / "executed"
    for scale in ("medium", "full"):
        if (repo_root() / "results" / scale).is_dir():
            shutil.copytree(repo_root() / "results" / scale, results / scale)
    previous = os.environ.get("PDEDENOISE_RESULTS")
    os.environ["PDEDENOISE_RESULTS"] = str(results)
    errors = {}
    try:
        for nb in notebooks.discover():
            try:
                notebooks.execute(nb, "ci", out_dir=executed)
                errors[nb.stem] = None
            except RuntimeError as exc:
                errors[nb.stem] = str(exc)
    finally:
        if previous is None:
            os.environ.pop("PDEDENOISE_RESULTS", None)
        else:
            os.environ["PDEDENOISE_RESULTS"] = previous
    return executed, results, errors
