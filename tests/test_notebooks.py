"""Every notebook is stored clean, is parameterised for papermill, and runs at ci scale."""
import json
import os

import nbformat
import pytest

from pdedenoise import notebooks, records

NOTEBOOKS = notebooks.discover()


def test_there_are_notebooks():
    assert any(nb.stem == "00_solvers" for nb in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs_and_parameterised(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "clear the outputs"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    for name in ("scale", "device", "seed", "data_dir", "save", "progress"):
        assert f"{name} =" in params[0].source
    assert 'scale = "ci"' in params[0].source, "the stored default scale is ci"
    assert "save = False" in params[0].source, "opened interactively, a notebook writes no results"


#: how a page keeps its code out of the reader's way (shown behind a toggle, or left out)
HIDDEN = {"hide-input", "hide-cell", "remove-input", "remove-cell"}


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem != "00_solvers"], ids=lambda p: p.stem)
def test_a_chapter_shows_no_code_unasked(path):
    """Only the solvers' tutorial shows its code; every chapter's code sits behind a toggle (heavy code lives in the
    package), so no plotting call or LaTeX in a string reaches the page's text."""
    nb = nbformat.read(path, as_version=4)
    shown = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and not (HIDDEN | {"parameters"}) & set(c.metadata.get("tags", []))]
    assert not shown, f"code cells {shown} of {path.name} are shown on the page: tag them hide-input"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_at_ci_scale(path, executed_book):
    executed_dir, results, errors = executed_book
    assert errors[path.stem] is None, errors[path.stem]
    out = executed_dir / path.name
    assert out.exists() and not list(executed_dir.glob(".*"))
    saved = json.loads((results / "ci" / f"{path.stem}.json").read_text())
    assert saved["scale"] == "ci" and saved["provenance"]["date"]
    executed = nbformat.read(out, as_version=4)
    figures = sum("image/png" in o.get("data", {}) for c in executed.cells for o in c.get("outputs", []))
    if path.stem != "99_scoreboard":  # every chapter shows its plots (a non-inline backend would hide them)
        assert figures >= 1, "no figure was displayed"
    for cell in executed.cells:  # the parameter cells are plumbing: removed from the page
        if {"parameters", "injected-parameters"} & set(cell.metadata.get("tags", [])):
            assert "remove-cell" in cell.metadata["tags"]
    streams = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    assert not [o for o in streams if o["name"] == "stderr"], "warnings or progress bars leaked into the page"
    glued = {o.get("metadata", {}).get("scrapbook", {}).get("name") for c in executed.cells for o in c.get("outputs", [])}
    if path.stem in ("01_heat_pinn", "02_cross_diffusion", "03_learned_diffusivities", "04_diffnet"):  # claims first
        assert "claims_box" in glued and saved["claims"]
        assert {c["verdict"] for c in saved["claims"]} <= set(records.CLAIM_VERDICTS)
        assert all(c.get("rule") for c in saved["claims"]), "every claim carries the rule that decided it"
    if path.stem == "05_leaderboard":
        assert "findings_box" in glued and saved["findings"]
        board = {r["method"]: r for r in saved["board"]}
        assert set(board) >= {"own", "cross-diffusion", "tnrd", "foe-s", "bm3d", "noisy input"}
        assert board["own"]["parameters"] <= 26_885 // 10
        noisy = board["noisy input"]["PSNR BSD68 s25"]
        for name in ("perona-malik-tuned", "bm3d", "foe-s-authors"):  # tuned or released entries denoise even at ci
            assert board[name]["PSNR BSD68 s25"] > noisy + 2, name
        # only a diverged entry goes unranked (its mean is null or "nan" and it says why); a ranked one whose mean
        # is below the noisy input's (a few training steps at ci) says on which images it is worse than the input
        for m, r in board.items():
            mean = r["PSNR BSD68 s25"]
            if not isinstance(mean, (int, float)) or mean != mean:
                assert r["failed"], f"{m} is not ranked but does not say why"
            elif mean < noisy:
                assert "BSD68" in r["worse than input"], f"{m} is ranked below the noisy input without saying so"
    if path.stem == "02_cross_diffusion":
        _check_chapter2_findings(saved)
    if path.stem == "03_learned_diffusivities":
        _check_chapter3_findings(saved)
    if path.stem == "00_solvers":
        # the denoisers must denoise, and Perona-Malik must beat linear diffusion on this image
        assert saved["heat"]["psnr"] > saved["noisy_psnr"] + 5
        assert saved["perona_malik"]["psnr"] > saved["heat"]["psnr"]
        assert figures >= 2
        # the time slider is saved with the page: a slider linked (in the browser) to a stack of image panels
        state = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        models = [m["model_name"] for m in state.values()]
        assert {"IntSliderModel", "StackModel", "LinkModel"} <= set(models)
        assert models.count("ImageModel") >= 2


def test_failed_notebook_leaves_no_executed_copy(tmp_path, monkeypatch):
    bad = tmp_path / "nb" / "99_broken.ipynb"
    bad.parent.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('scale = "ci"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("raise ValueError('boom')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, bad)
    monkeypatch.setattr(notebooks, "repo_root", lambda: tmp_path)
    with pytest.raises(RuntimeError, match="99_broken.ipynb failed"):
        notebooks.execute(bad, "ci", out_dir=tmp_path / "executed")
    assert not list((tmp_path / "executed").iterdir())
    assert (tmp_path / "build" / "failed" / "99_broken.ipynb").exists()


def test_the_runner_hands_the_start_provenance_to_the_kernel(tmp_path, monkeypatch):
    from pdedenoise.results import RUN_STARTED_ENV

    probe = tmp_path / "nb" / "50_probe.ipynb"
    probe.parent.mkdir()
    seen = tmp_path / "seen.json"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('scale = "ci"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(f"import os; open({str(seen)!r}, 'w').write(os.environ['{RUN_STARTED_ENV}'])")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, probe)
    monkeypatch.delenv(RUN_STARTED_ENV, raising=False)
    notebooks.execute(probe, "ci", out_dir=tmp_path / "executed")
    assert json.loads(seen.read_text())["date"] and RUN_STARTED_ENV not in os.environ


def test_executed_notebook_carries_no_machine_path(tmp_path, monkeypatch):
    """Papermill's input_path/output_path, and any printed absolute path of the checkout, leave the executed copy
    (the page offers it for download) as paths relative to the repository."""
    probe = tmp_path / "notebooks" / "50_where.ipynb"
    probe.parent.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('scale = "ci"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(f"print({str(tmp_path / 'results' / 'x.json')!r})")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, probe)
    monkeypatch.setattr(notebooks, "repo_root", lambda: tmp_path)
    out = notebooks.execute(probe, "ci", out_dir=tmp_path / "book" / "executed")
    text = out.read_text()
    assert str(tmp_path) not in text, "an absolute path of the build machine is left in the executed notebook"
    meta = json.loads(text)["metadata"]["papermill"]
    assert (meta["input_path"], meta["output_path"]) == ("notebooks/50_where.ipynb", "book/executed/50_where.ipynb")
    assert "results/x.json" in text


def _check_chapter3_findings(saved):
    """Chapter 3 at ci scale: the released models load and match TensorFlow, Table 3's counts and the input row
    are reproduced, every released model restores, KA (and only KA) breaks the maximum principle on a
    checkerboard, and our own training learns."""
    import pandas as pd

    assert all(r["within 0.01"] for r in saved["fixture"]) and len(saved["fixture"]) == 18
    t3 = pd.DataFrame(saved["tables"]["table3"]).set_index("quantity")
    assert (t3.loc[["parameters, KA", "parameters, U-Net", "FLOPs, KA (256x256)"], "verdict"] == "reproduced").all()
    assert (pd.DataFrame(saved["tables"]["input_psnr"]).verdict == "reproduced").all()
    t1 = pd.DataFrame(saved["table1"])
    for sigma, part in t1.groupby("sigma"):
        p = part.set_index("model").PSNR
        assert (p.drop(["input", "PM"]) > p["input"] + 3).all()
        assert p["FoE-S"] > p["PM"]
    st = pd.DataFrame(saved["stability"])
    rel = st[(st.variant == "as released") & st.input.str.startswith("checkerboard")]
    over = rel.groupby("model")["overshoot (grey levels)"].max()
    assert over["KA"] > 1 and (over.drop("KA") <= 0.5).all()
    assert (st[st.variant == "bounded sub-steps"]["overshoot (grey levels)"] <= 1e-3).all()
    own = pd.DataFrame(saved["own"])
    p25 = own[own.sigma == 25].set_index("model").PSNR
    own_models = [m for m in p25.index if m.endswith("(own)")]
    assert own_models and (p25[own_models] > p25["input"] + 2).all()


def _check_chapter2_findings(saved):
    """Chapter 2 at ci scale: the constrained model stayed certified after every step with no probe growing, it
    denoises (3 dB over the noisy input on every test set), and its edge field carries edges (better than a
    random map)."""
    import pandas as pd

    stab = pd.DataFrame(saved["stability"]).set_index("run")
    learned = stab.loc["learned cross-diffusion"]
    assert learned["uncertified steps"] == 0 and learned["smallest margin"] >= 0
    assert learned["largest probe growth"] <= 1 and learned["rollout x10 finite"]
    summ = pd.DataFrame(saved["summary"])
    for _, part in summ.groupby(["set", "sigma"]):
        p = part.set_index("method").PSNR
        assert p["learned cross-diffusion"] > p["noisy"] + 3
    edges = pd.DataFrame(saved["edges"]).set_index("edge map").F
    assert edges["learned |v|"] > edges["random map"] + 0.05
    # A, B (holds by construction), B for the paper's augmented-Lagrangian route, C, in this order
    from pdedenoise.papers.barbeiro2020 import analysis as A2, published as P2
    assert [c["claim"] for c in saved["claims"]] == [P2.CLAIMS["A improves"], P2.CLAIMS["B stable"],
                                                     A2.PAPER_VARIANT_CLAIM, P2.CLAIMS["C edges"]]
