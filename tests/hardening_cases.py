"""Bad inputs and faults, each with the behaviour it must have: the cases of ``test_hardening.py``.

A case runs a scenario in a temporary folder and is classified by :func:`classify` into one outcome:

* ``correct`` — a valid request gave the right result; ``clear error`` — a bad one was refused with an error of
  a sensible type whose message matches the case's pattern (it names the parameter, the value or the fix; for
  the command line: exit code 2 and no traceback);
* failures: ``silent wrong`` (a bad request ran, or a valid one gave a wrong result), ``unclear error`` (a raw
  or misleading error, a traceback from the command line, a wrong exit code), ``crash`` (a hang past the time
  limit, a killed process), ``leftover`` (files left behind), ``security`` (a planted file was overwritten or
  planted code ran).

``tools/hardening_table.py`` runs the same cases against any checkout to tabulate outcomes before and after
a change. Cases only use public entry points, so they run against older code too (where a newer option does
not exist, the outcome says so).
"""
from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

GOOD = ("correct", "clear error")
TIMEOUT = 60


@dataclass
class Case:
    name: str
    area: str
    run: Callable[[Path], Any]
    expect: str  # "error" or "ok"
    match: str = ""  # regex the error message (or CLI stderr) must match
    check: Callable[[Any, Path], bool] | None = None  # for "ok": is the result right?
    leftovers: str = ""  # glob (in the tmp folder) that must be empty afterwards


class CLIResult:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.returncode, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr


def cli(tmp: Path, *args: str, timeout: int = TIMEOUT) -> CLIResult:
    """Run ``python -m pdedenoise.cli`` in ``tmp``."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "pdedenoise.cli", *args], cwd=tmp, capture_output=True, text=True,
                          timeout=timeout, env=env)
    return CLIResult(proc)


_ERROR_TYPES = ("ValueError", "TypeError", "DataError", "StabilityError", "CheckpointError", "LPIPSUnavailable",
                "FileNotFoundError", "KeyError", "UnpicklingError", "ChecksumError", "DataUnavailableError",
                "UnknownDataError", "CheckpointMismatch", "PermissionError", "NoNotebook", "CorruptWeights")


def classify(case: Case, tmp: Path) -> tuple[str, str]:
    """``(outcome, detail)`` of running ``case`` in ``tmp``."""
    try:
        result = case.run(tmp)
    except subprocess.TimeoutExpired:
        return "crash", "timed out"
    except Exception as exc:  # a Python-level error
        name = type(exc).__name__
        mro = {c.__name__ for c in type(exc).__mro__}
        text = f"{name}: {exc}"
        if (tmp / "PWNED").exists():
            return "security", "planted code ran"
        if case.expect == "error" and (mro & set(_ERROR_TYPES)) and re.search(case.match, str(exc), re.I | re.S):
            return _leftover(case, tmp) or ("clear error", text[:200])
        if case.expect == "error":
            return _leftover(case, tmp) or ("unclear error", text[:200])
        return "unclear error", text[:200]
    if (tmp / "PWNED").exists():
        return "security", "planted code ran"
    if (tmp / "victim.txt").exists() and (tmp / "victim.txt").read_bytes() != b"precious":
        return "security", "a file outside the output was overwritten"
    if isinstance(result, CLIResult):
        trace = "Traceback" in result.stderr
        if case.expect == "error":
            if result.returncode == 0:
                return "silent wrong", f"exit 0: {result.stdout[-150:]}"
            if trace or result.returncode != 2 or not re.search(case.match, result.stderr, re.I | re.S):
                return _leftover(case, tmp) or ("unclear error", f"exit {result.returncode}: {result.stderr[-200:]}")
            return _leftover(case, tmp) or ("clear error", result.stderr.strip()[-200:])
        if result.returncode != 0:
            return "unclear error", f"exit {result.returncode}: {result.stderr[-200:]}"
    elif case.expect == "error":
        return "silent wrong", f"no error; returned {str(result)[:120]}"
    ok = case.check is None or case.check(result, tmp)
    if not ok:
        return "silent wrong", f"wrong result: {str(result)[:150] if not isinstance(result, CLIResult) else result.stdout[-150:]}"
    return _leftover(case, tmp) or ("correct", "")


def _leftover(case: Case, tmp: Path):
    if case.leftovers:
        left = [p.name for p in tmp.glob(case.leftovers)]
        if left:
            return "leftover", f"left behind: {left}"
    return None


# --------------------------------------------------------------------------- inputs


def _smooth(h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    clean = 0.5 + 0.3 * np.sin(x / 7.0) * np.cos(y / 9.0)
    return clean, np.clip(clean + 0.08 * rng.standard_normal(clean.shape), 0, 1)


def png8(tmp: Path, name="in.png", rgb=False) -> Path:
    from PIL import Image

    clean, noisy = _smooth()
    arr = (noisy * 255).round().astype(np.uint8)
    if rgb:
        arr = np.stack([arr, np.roll(arr, 3, 1), 255 - arr], -1)
    Image.fromarray(arr).save(tmp / name)
    np.save(tmp / "clean8.npy", clean * 255)
    return tmp / name


def png16(tmp: Path) -> Path:
    from PIL import Image

    clean, noisy = _smooth()
    Image.fromarray((noisy * 65535).round().astype(np.uint16)).save(tmp / "in16.png")
    np.save(tmp / "clean16.npy", clean * 65535)
    return tmp / "in16.png"


def tiff_float(tmp: Path) -> Path:
    from PIL import Image

    clean, noisy = _smooth()
    Image.fromarray(noisy.astype(np.float32)).save(tmp / "inf.tif")
    np.save(tmp / "cleanf.npy", clean)
    return tmp / "inf.tif"


def tiff_pages(tmp: Path) -> Path:
    from PIL import Image

    frames = [Image.fromarray((_smooth(seed=s)[1] * 255).astype(np.uint8)) for s in range(3)]
    frames[0].save(tmp / "pages.tif", save_all=True, append_images=frames[1:])
    return tmp / "pages.tif"


def data_file(dataset: str, relpath: str) -> Path:
    from pdedenoise.data import registry

    return registry.fetch(dataset, relpath)


def _psnr(a, b, peak):
    return 10 * np.log10(peak ** 2 / np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2))


def _read(path: Path):
    from PIL import Image

    with Image.open(path) as im:
        return im.mode, np.asarray(im).astype(np.float64), im.size


def _improved(out_name: str, clean_name: str, noisy_path_fn, peak: float):
    def check(res, tmp):
        if not (tmp / out_name).exists():
            return False
        _, out, _ = _read(tmp / out_name)
        clean = np.load(tmp / clean_name)
        _, noisy, _ = _read(noisy_path_fn(tmp))
        return out.shape == clean.shape and _psnr(out, clean, peak) > _psnr(noisy, clean, peak) + 0.5
    return check


# --------------------------------------------------------------------------- the cases


def _tensor(*shape, value=None, dtype=None):
    import torch

    g = torch.Generator().manual_seed(0)
    t = torch.rand(*shape, generator=g) * 255 if value is None else torch.full(shape, float(value))
    return t.to(dtype) if dtype is not None else t


def _api(fn):
    """A case body that imports the package lazily (so the table tool can point it at any checkout)."""
    return lambda tmp: fn()


def _cases() -> list[Case]:
    import torch  # noqa: F401  (the cases build tensors)

    c: list[Case] = []

    def add(name, area, run, expect, match="", check=None, leftovers=""):
        c.append(Case(name, area, run, expect, match, check, leftovers))

    # ---------------------------------------------------------------- command line: formats
    add("CLI: 8-bit grey PNG is denoised", "cli", lambda t: (png8(t), cli(t, "denoise", "in.png", "out.png"))[1],
        "ok", check=_improved("out.png", "clean8.npy", lambda t: t / "in.png", 255))
    add("CLI: 16-bit PNG stays 16-bit and denoised on its own scale", "cli",
        lambda t: (png16(t), cli(t, "denoise", "in16.png", "out16.png"))[1], "ok",
        check=lambda r, t: (t / "out16.png").exists() and _read(t / "out16.png")[0].startswith("I")
        and _improved("out16.png", "clean16.npy", lambda tt: tt / "in16.png", 65535)(r, t))
    add("CLI: float TIFF keeps its values (not 0-255 bytes)", "cli",
        lambda t: (tiff_float(t), cli(t, "denoise", "inf.tif", "outf.tif"))[1], "ok",
        check=lambda r, t: (t / "outf.tif").exists() and _read(t / "outf.tif")[0] == "F"
        and _improved("outf.tif", "cleanf.npy", lambda tt: tt / "inf.tif", 1.0)(r, t))
    add("CLI: float TIFF to an 8-bit PNG is refused (values would be destroyed)", "cli",
        lambda t: (tiff_float(t), cli(t, "denoise", "inf.tif", "out.png"))[1], "error", r"\.tif|\.npy|8-bit|range")
    add("CLI: DICOM (CT, HU) to float TIFF keeps Hounsfield units", "cli",
        lambda t: cli(t, "denoise", str(data_file("CT", "CT_small.dcm")), "ct.tif"), "ok",
        check=lambda r, t: (t / "ct.tif").exists() and _read(t / "ct.tif")[1].min() < -100)
    add("CLI: DICOM to 8-bit PNG is refused", "cli",
        lambda t: cli(t, "denoise", str(data_file("CT", "CT_small.dcm")), "ct.png"), "error", r"\.tif|\.npy|range")
    add("CLI: MRC stack without --frame is refused", "cli",
        lambda t: cli(t, "denoise", str(data_file("cryoEM", "empiar_10076_7.mrc")), "em.tif"), "error",
        r"frame")
    add("CLI: MRC frame to float TIFF keeps its values", "cli",
        lambda t: cli(t, "denoise", str(data_file("cryoEM", "empiar_10076_7.mrc")), "em.tif", "--frame", "2"), "ok",
        check=lambda r, t: (t / "em.tif").exists() and len(np.unique(_read(t / "em.tif")[1])) > 1000)
    add("CLI: multi-page TIFF without --frame is refused", "cli",
        lambda t: (tiff_pages(t), cli(t, "denoise", "pages.tif", "out.png"))[1], "error", r"frame")
    add("CLI: multi-page TIFF, --frame 1", "cli",
        lambda t: (tiff_pages(t), cli(t, "denoise", "pages.tif", "out.png", "--frame", "1"))[1], "ok",
        check=_is_page(1))
    add("CLI: --frame beyond the stack", "cli",
        lambda t: (tiff_pages(t), cli(t, "denoise", "pages.tif", "out.png", "--frame", "7"))[1], "error",
        r"3 frames")
    add("CLI: colour PNG keeps its colour by default", "cli",
        lambda t: (png8(t, rgb=True), cli(t, "denoise", "in.png", "out.png"))[1], "ok",
        check=lambda r, t: (t / "out.png").exists() and _read(t / "out.png")[0] == "RGB")
    add("CLI: --grey converts colour to grey", "cli",
        lambda t: (png8(t, rgb=True), cli(t, "denoise", "in.png", "out.png", "--grey"))[1], "ok",
        check=lambda r, t: (t / "out.png").exists() and _read(t / "out.png")[0] == "L")
    add("CLI: JPEG EXIF orientation is honoured", "cli", _exif_case, "ok",
        check=lambda r, t: (t / "out.png").exists() and _read(t / "out.png")[2] == (64, 48))
    add("CLI: RGBA keeps its alpha channel", "cli", _rgba_case, "ok",
        check=lambda r, t: (t / "out.png").exists() and _read(t / "out.png")[0] == "RGBA"
        and _read(t / "out.png")[1][..., 3].min() == 7)
    add("CLI: palette PNG is read as colour", "cli", _palette_case, "ok",
        check=lambda r, t: (t / "out.png").exists() and _read(t / "out.png")[0] == "RGB")
    add("CLI: 1-bit PNG is read", "cli", _onebit_case, "ok", check=_onebit_kept)
    add("CLI: .npy in and out keeps float values", "cli", _npy_case, "ok",
        check=lambda r, t: (t / "out.npy").exists() and np.load(t / "out.npy").dtype == np.float32)
    # ---------------------------------------------------------------- command line: files and paths
    add("CLI: missing input file", "cli", lambda t: cli(t, "denoise", "nope.png", "out.png"), "error",
        r"nope\.png.*(not exist|no such|not a file)")
    add("CLI: input is a text file", "cli", lambda t: ((t / "x.png").write_text("hello"),
                                                       cli(t, "denoise", "x.png", "out.png"))[1], "error", r"x\.png")
    add("CLI: empty input file", "cli", lambda t: ((t / "e.png").write_bytes(b""),
                                                   cli(t, "denoise", "e.png", "out.png"))[1], "error", r"e\.png")
    add("CLI: output folder does not exist", "cli",
        lambda t: (png8(t), cli(t, "denoise", "in.png", "no/such/dir/out.png"))[1], "error", r"folder|directory")
    add("CLI: output folder is read-only", "cli", _readonly_case, "error", r"permission|writ|read-only",
        leftovers="ro/*")
    add("CLI: output name without extension", "cli",
        lambda t: (png8(t), cli(t, "denoise", "in.png", "out"))[1], "error", r"extension|\.png|\.tif")
    add("CLI: unknown output extension", "cli",
        lambda t: (png8(t), cli(t, "denoise", "in.png", "out.xyz"))[1], "error", r"xyz|extension|format")
    add("CLI: planted symlink at a temporary name", "security", _symlink_case, "ok",
        check=lambda r, t: (t / "out.png").exists() and (t / "victim.txt").read_bytes() == b"precious")
    add("CLI: a failing write leaves no partial file", "cli", _failing_write_case, "error", r"cannot write.*out\.png",
        leftovers="*out.png*")
    add("CLI: output over the input file", "cli", _over_input_case, "ok",
        check=_improved("in.png", "clean8.npy", lambda tt: tt / "noisy.png", 255))
    # ---------------------------------------------------------------- command line: parameters
    for flag, value, pattern in (("--K", "nan", r"K"), ("--K", "inf", r"K"), ("--K", "0", r"K"), ("--K", "-3", r"K"),
                                 ("--K", "1e-30", r"K"), ("--dt", "-0.1", r"dt"), ("--dt", "0", r"dt"),
                                 ("--dt", "nan", r"dt"), ("--steps", "-5", r"steps"), ("--dt", "10", r"dt.*(bound|0\.25)|substeps")):
        add(f"CLI: {flag} {value}", "cli",
            lambda t, f=flag, v=value: (png8(t), cli(t, "denoise", "in.png", "out.png", f, v))[1], "error", pattern,
            leftovers=".*partial*")
    add("CLI: --dt 1 --substeps runs the requested time", "cli", _substeps_case, "ok", check=_substeps_same_time)
    for flag, value in (("--T", "-1"), ("--T", "nan"), ("--rho", "-1"), ("--rho", "nan"), ("--rho", "1e30")):
        add(f"CLI heat: {flag} {value}", "cli",
            lambda t, f=flag, v=value: (png8(t), cli(t, "denoise", "in.png", "out.png", "--method", "heat", f, v))[1],
            "error", flag.strip("-"), leftovers=".*partial*")
    add("CLI: unknown method", "cli", lambda t: (png8(t), cli(t, "denoise", "in.png", "out.png", "--method", "x"))[1],
        "error", r"method")
    add("CLI: no arguments", "cli", lambda t: cli(t), "error", r"usage")
    add("CLI: --help shows the defaults", "cli", lambda t: cli(t, "denoise", "--help"), "ok",
        check=lambda r, t: "default" in r.stdout)
    add("CLI: long runs report progress and time", "cli",
        lambda t: (png8(t), cli(t, "denoise", "in.png", "out.png", "--steps", "200"))[1], "ok",
        check=lambda r, t: re.search(r"\d+(\.\d+)? ?s\b", r.stdout + r.stderr) is not None)
    add("CLI: notebooks takes --scale and --only", "cli",
        lambda t: cli(t, "notebooks", "--scale", "ci", "--only", "no-such-notebook"), "error",
        r"no notebook (matches|found)")
    add("CLI: notebooks with an unknown scale", "cli", lambda t: cli(t, "notebooks", "--scale", "huge"), "error",
        r"scale")
    # ---------------------------------------------------------------- solvers and functions
    from pdedenoise import diffusion, metrics, degradations, stencils  # noqa: F401

    add("heat_spectral with T < 0", "api", _api(lambda: diffusion.heat_spectral(_tensor(1, 1, 8, 8), 1.0, T=-50)),
        "error", r"\bT\b")
    add("heat_spectral with T = nan", "api",
        _api(lambda: diffusion.heat_spectral(_tensor(1, 1, 8, 8), 1.0, T=float("nan"))), "error", r"\bT\b")
    add("heat with T < 0", "api", _api(lambda: diffusion.heat(_tensor(1, 1, 8, 8), 1.0, T=-1.0, dt=0.1)), "error",
        r"\bT\b")
    add("heat with dt < 0", "api", _api(lambda: diffusion.heat(_tensor(1, 1, 8, 8), 1.0, T=1.0, dt=-0.1)), "error",
        r"dt")
    add("heat with rho = inf", "api", _api(lambda: diffusion.heat(_tensor(1, 1, 8, 8), float("inf"), 1.0, 0.1)),
        "error", r"rho")
    add("heat with rho 1e30 and sub-steps", "api",
        _api(lambda: diffusion.heat(_tensor(1, 1, 8, 8), 1e30, 1.0, 0.1, substeps=True)), "error",
        r"sub-?steps|too many")
    add("heat with a per-image rho of the wrong length", "api",
        _api(lambda: diffusion.heat(_tensor(1, 1, 8, 8), torch.tensor([0.1, 0.2]), 1.0, 0.1)), "error", r"rho")
    add("perona_malik with K = nan", "api",
        _api(lambda: diffusion.perona_malik(_tensor(1, 1, 8, 8), float("nan"), 0.2, 3)), "error", r"\bK\b")
    add("perona_malik with K = 1e-30", "api",
        _api(lambda: diffusion.perona_malik(_tensor(1, 1, 8, 8), 1e-30, 0.2, 3)), "error", r"\bK\b")
    add("perona_malik with a K tensor of shape (2,) for one image", "api",
        _api(lambda: diffusion.perona_malik(_tensor(1, 1, 8, 8), torch.tensor([5.0, 6.0]), 0.2, 3)), "error", r"\bK\b")
    add("perona_malik with steps = -5", "api",
        _api(lambda: diffusion.perona_malik(_tensor(1, 1, 8, 8), 5.0, 0.2, -5)), "error", r"steps")
    add("perona_malik with steps = 2.5", "api",
        _api(lambda: diffusion.perona_malik(_tensor(1, 1, 8, 8), 5.0, 0.2, 2.5)), "error", r"steps")
    add("perona_malik with dt = 10", "api",
        _api(lambda: diffusion.perona_malik(_tensor(1, 1, 8, 8), 5.0, 10.0, 3)), "error", r"dt|bound")
    add("perona_malik with dt = -0.1", "api",
        _api(lambda: diffusion.perona_malik(_tensor(1, 1, 8, 8), 5.0, -0.1, 3)), "error", r"dt")
    add("perona_malik with an unknown diffusivity", "api",
        _api(lambda: diffusion.perona_malik(_tensor(1, 1, 8, 8), 5.0, 0.2, 3, diffusivity="gauss")), "error",
        r"diffusivity")
    add("divergence_step with a negative coefficient", "api",
        _api(lambda: diffusion.divergence_step(_tensor(1, 1, 8, 8), -0.1 * torch.ones(1, 1, 8, 8), 0.1)), "error",
        r"non-negative|negative")
    add("single step on a 3-D tensor", "api", _api(lambda: diffusion.heat_step(_tensor(1, 8, 8), 1.0, 0.1)), "error",
        r"\(N, C, H, W\)")
    add("single step on a 5-D tensor", "api",
        _api(lambda: diffusion.perona_malik_step(_tensor(1, 1, 1, 8, 8), 5.0, 0.1)), "error", r"\(N, C, H, W\)")
    add("heat on an empty image", "api", _api(lambda: diffusion.heat(_tensor(1, 1, 0, 8), 1.0, 1.0, 0.1)), "error",
        r"empty|at least")
    add("heat on an integer tensor", "api",
        _api(lambda: diffusion.heat(_tensor(1, 1, 8, 8, dtype=torch.uint8), 1.0, 1.0, 0.1)), "error", r"float")
    add("heat on a NaN image", "api",
        _api(lambda: diffusion.heat(_tensor(1, 1, 8, 8, value=float("nan")), 1.0, 1.0, 0.1)), "error", r"NaN")
    add("heat on a 1x1 image is the identity", "api",
        _api(lambda: diffusion.heat(_tensor(1, 1, 1, 1, value=7.0), 1.0, 1.0, 0.1)), "ok",
        check=lambda r, t: float(r) == 7.0)
    add("HeatEquation(rho=0)", "api", _api(lambda: diffusion.HeatEquation(rho=0.0)), "error", r"rho")
    add("HeatEquation(T=-1)", "api", _api(lambda: diffusion.HeatEquation(rho=1.0, T=-1.0)), "error", r"\bT\b")
    add("PeronaMalik module with K = 0", "api", _api(lambda: diffusion.PeronaMalik(K=0.0)), "error", r"\bK\b")
    add("an unknown boundary condition", "api",
        _api(lambda: diffusion.heat(_tensor(1, 1, 8, 8), 1.0, 1.0, 0.1, bc="periodic")), "error", r"boundary")
    add("image and coefficient on different dtypes", "api",
        _api(lambda: diffusion.heat(_tensor(1, 1, 8, 8).double(), torch.ones(1, 1, 8, 8) * 0.1, 1.0, 0.1)), "ok",
        check=lambda r, t: r.dtype == torch.float64)
    # ---------------------------------------------------------------- metrics and degradations
    add("psnr with data_range 0", "metrics", _api(lambda: metrics.psnr(_tensor(1, 1, 16, 16), _tensor(1, 1, 16, 16) + 1, 0)),
        "error", r"data_range")
    add("psnr with data_range < 0", "metrics",
        _api(lambda: metrics.psnr(_tensor(1, 1, 16, 16), _tensor(1, 1, 16, 16) + 1, -255.0)), "error", r"data_range")
    add("ssim with data_range 0", "metrics",
        _api(lambda: metrics.ssim(_tensor(1, 1, 16, 16), _tensor(1, 1, 16, 16) + 1, 0)), "error", r"data_range")
    add("psnr of differently shaped images", "metrics",
        _api(lambda: metrics.psnr(_tensor(1, 1, 16, 16), _tensor(1, 1, 16, 8), 255.0)), "error", r"shape")
    add("psnr with a NaN estimate", "metrics",
        _api(lambda: metrics.psnr(_tensor(1, 1, 16, 16, value=float("nan")), _tensor(1, 1, 16, 16), 255.0)), "error",
        r"NaN")
    add("ssim of an image smaller than its window", "metrics",
        _api(lambda: metrics.ssim(_tensor(1, 1, 8, 8), _tensor(1, 1, 8, 8), 255.0)), "error", r"11")
    add("noise with sigma < 0", "metrics",
        _api(lambda: degradations.add_gaussian_noise(_tensor(1, 1, 8, 8), -5.0, seed=0)), "error", r"sigma")
    add("noise with sigma = nan", "metrics",
        _api(lambda: degradations.add_gaussian_noise(_tensor(1, 1, 8, 8), float("nan"), seed=0)), "error", r"sigma")
    # ---------------------------------------------------------------- training and checkpoints
    add("training resumes from a tampered checkpoint", "security", _tampered_checkpoint_case, "error",
        r"checkpoint", leftovers="PWNED")
    add("training resumes a checkpoint made with another configuration", "train", _stale_checkpoint_case, "error",
        r"configuration|resume")
    add("training resumes from a truncated checkpoint", "train", _truncated_checkpoint_case, "error",
        r"checkpoint")
    add("training with inputs and targets of different lengths", "train", _mismatched_pairs_case, "error",
        r"length|same first|size")
    add("training with lr < 0", "train", _train_cfg_case(lr=-1.0), "error", r"\blr\b")
    add("training with batch_size 0", "train", _train_cfg_case(batch_size=0), "error", r"batch")
    add("training with max_steps < 0", "train", _train_cfg_case(epochs=None, max_steps=-3), "error", r"max_steps")
    add("training with epochs 0", "train", _train_cfg_case(epochs=0), "error", r"epochs")
    # ---------------------------------------------------------------- results and the scoreboard
    add("results with NumPy NaN are strict JSON", "results", _nan_results_case, "ok",
        check=lambda r, t: r is True)
    add("results with inf are strict JSON", "results", _inf_results_case, "ok", check=lambda r, t: r is True)
    add("scoreboard with a corrupt results file names it and goes on", "results", _corrupt_scoreboard_case, "ok",
        check=lambda r, t: r is True)
    add("load_results of a corrupt file names it", "results", _corrupt_load_case, "error", r"broken\.json|03_x")
    add("a chapter on fallback data is not counted as the paper's", "results", _fallback_scoreboard_case, "ok",
        check=lambda r, t: r is True)
    # ---------------------------------------------------------------- data layer
    from pdedenoise.data import registry, readers  # noqa: F401

    add("unknown dataset", "data", _api(lambda: registry.fetch("NoSuchSet", "a.png")), "error", r"NoSuchSet")
    add("a path outside the dataset", "data", _api(lambda: registry.fetch("Set12", "../../etc/passwd")), "error",
        r"passwd|not in|unknown")
    add("a corrupt image file", "data",
        lambda t: ((t / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really"), readers.read_image(t / "bad.png"))[1],
        "error", r"bad\.png")
    add("an unsupported file type", "data",
        lambda t: ((t / "a.xyz").write_text("x"), readers.read_image(t / "a.xyz"))[1], "error", r"xyz|unsupported")
    add("a TensorFlow checkpoint reader on a random file", "data", _bad_tf_checkpoint_case, "error",
        r"checkpoint|index")
    return c


# --------------------------------------------------------------------------- case bodies that need several lines


def _exif_case(tmp: Path):
    from PIL import Image

    _, noisy = _smooth()
    im = Image.fromarray((noisy * 255).astype(np.uint8)).rotate(90, expand=True)  # stored 64 x 48 (w x h)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": displayed 64 x 48 (w x h) again
    im.save(tmp / "in.jpg", exif=exif.tobytes(), quality=95)
    return cli(tmp, "denoise", "in.jpg", "out.png")


def _rgba_case(tmp: Path):
    from PIL import Image

    _, noisy = _smooth()
    arr = (noisy * 255).astype(np.uint8)
    rgba = np.stack([arr, arr, arr, np.full_like(arr, 7)], -1)
    Image.fromarray(rgba, "RGBA").save(tmp / "in.png")
    return cli(tmp, "denoise", "in.png", "out.png")


def _palette_case(tmp: Path):
    from PIL import Image

    _, noisy = _smooth()
    Image.fromarray((noisy * 255).astype(np.uint8)).convert("P").save(tmp / "in.png")
    return cli(tmp, "denoise", "in.png", "out.png")


def _onebit_case(tmp: Path):
    from PIL import Image

    _, noisy = _smooth()
    Image.fromarray(noisy > 0.5).save(tmp / "in.png")
    return cli(tmp, "denoise", "in.png", "out.png")


def _npy_case(tmp: Path):
    _, noisy = _smooth()
    np.save(tmp / "in.npy", (noisy * 3.0 - 1.0).astype(np.float32))
    return cli(tmp, "denoise", "in.npy", "out.npy")


def _readonly_case(tmp: Path):
    png8(tmp)
    ro = tmp / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):  # running as root: permissions are not enforced; use an impossible target
            (tmp / "ro_file").write_text("x")
            return cli(tmp, "denoise", "in.png", "ro_file/out.png")
        return cli(tmp, "denoise", "in.png", "ro/out.png")
    finally:
        ro.chmod(0o755)


def _symlink_case(tmp: Path):
    png8(tmp)
    (tmp / "victim.txt").write_text("precious")
    for name in (".out.partial.png", "out.png.partial", ".out.png.tmp"):  # every name a careless writer might use
        os.symlink(tmp / "victim.txt", tmp / name)
    return cli(tmp, "denoise", "in.png", "out.png")


def _failing_write_case(tmp: Path):
    """The disk fills up after the output's bytes are written: the command fails clearly and leaves neither the
    output nor its temporary file. Run in this process, where the write can be made to fail."""
    from unittest import mock

    from hardening_cases2 import cli as cli_in_process
    from pdedenoise import cli as C

    png8(tmp)
    real = C._encode

    def encode_then_fail(*args, **kwargs):
        real(*args, **kwargs)  # the bytes are written ...
        raise OSError(28, "No space left on device")  # ... and then the disk is full

    with mock.patch.object(C, "_encode", encode_then_fail):
        return cli_in_process(tmp, "denoise", "in.png", "out.png")


def _over_input_case(tmp: Path):
    png8(tmp)
    (tmp / "noisy.png").write_bytes((tmp / "in.png").read_bytes())
    return cli(tmp, "denoise", "in.png", "in.png")


def _is_page(k: int, pages: int = 3):
    """The output is the restoration of page ``k`` of :func:`tiff_pages` (closer to it than to any other page)."""
    def check(res, tmp):
        if not (tmp / "out.png").exists():
            return False
        out = _read(tmp / "out.png")[1]
        dist = [float(np.abs(out - _smooth(seed=s)[1] * 255).mean()) for s in range(pages)]
        return int(np.argmin(dist)) == k
    return check


def _onebit_kept(res, tmp) -> bool:
    """A 1-bit image is read as black 0 and white 255 (not 0 and 1): the output's mean is the share of white."""
    if not (tmp / "out.png").exists():
        return False
    mode, out, _ = _read(tmp / "out.png")
    white = float((_smooth()[1] > 0.5).mean())
    return mode == "L" and abs(out.mean() / 255 - white) < 0.05


def _substeps_case(tmp: Path):
    png8(tmp)
    cli(tmp, "denoise", "in.png", "ref.png", "--dt", "0.25", "--steps", "20")
    return cli(tmp, "denoise", "in.png", "out.png", "--dt", "1", "--steps", "5", "--substeps")


def _substeps_same_time(res, tmp) -> bool:
    """Five steps of dt 1 split into stable sub-steps are twenty steps of 0.25 (the same time T = 5)."""
    if not ((tmp / "out.png").exists() and (tmp / "ref.png").exists()):
        return False
    diff = np.abs(_read(tmp / "out.png")[1] - _read(tmp / "ref.png")[1]).max()
    return "sub-step" in res.stderr and diff <= 1


def _tampered_checkpoint_case(tmp: Path):
    import torch

    from pdedenoise.train import TrainConfig, fit

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp / "PWNED"), "w"))

    torch.save({"model": Payload(), "optimizer": {}, "scheduler": {}, "history": {}, "generator": None,
                "torch_rng": None, "epoch": 1}, tmp / "ck.pt")
    model = torch.nn.Conv2d(1, 1, 3, padding=1)
    x = torch.rand(8, 1, 8, 8)
    return fit(model, (x, x), TrainConfig(epochs=1, batch_size=4, checkpoint=tmp / "ck.pt", progress=False))


def _stale_checkpoint_case(tmp: Path):
    import torch

    from pdedenoise.train import TrainConfig, fit

    x = torch.rand(8, 1, 8, 8)
    fit(torch.nn.Conv2d(1, 1, 3, padding=1), (x, 0.5 * x),
        TrainConfig(epochs=2, batch_size=4, lr=1e-2, checkpoint=tmp / "ck.pt", progress=False))
    return fit(torch.nn.Conv2d(1, 1, 3, padding=1), (x, 0.5 * x),
               TrainConfig(epochs=4, batch_size=4, lr=1e-3, checkpoint=tmp / "ck.pt", progress=False))


def _truncated_checkpoint_case(tmp: Path):
    import torch

    from pdedenoise.train import TrainConfig, fit

    x = torch.rand(8, 1, 8, 8)
    fit(torch.nn.Conv2d(1, 1, 3, padding=1), (x, x), TrainConfig(epochs=1, batch_size=4, checkpoint=tmp / "ck.pt",
                                                                 progress=False))
    data = (tmp / "ck.pt").read_bytes()
    (tmp / "ck.pt").write_bytes(data[: len(data) // 3])
    return fit(torch.nn.Conv2d(1, 1, 3, padding=1), (x, x), TrainConfig(epochs=2, batch_size=4,
                                                                        checkpoint=tmp / "ck.pt", progress=False))


def _mismatched_pairs_case(tmp: Path):
    import torch

    from pdedenoise.train import TrainConfig, fit

    return fit(torch.nn.Conv2d(1, 1, 3, padding=1), (torch.rand(8, 1, 8, 8), torch.rand(6, 1, 8, 8)),
               TrainConfig(epochs=1, batch_size=4, progress=False))


def _train_cfg_case(**kw):
    def run(tmp: Path):
        import torch

        from pdedenoise.train import TrainConfig, fit

        x = torch.rand(8, 1, 8, 8)
        return fit(torch.nn.Conv2d(1, 1, 3, padding=1), (x, x), TrainConfig(**{"batch_size": 4, "progress": False,
                                                                              **kw}))
    return run


def _strict(path: Path) -> bool:
    def bad(token):
        raise ValueError(f"non-standard JSON constant {token}")
    json.loads(path.read_text(), parse_constant=bad)
    return True


def _nan_results_case(tmp: Path):
    from pdedenoise.results import save_results

    return _strict(save_results("x", "medium", {"a": np.float64("nan"), "b": [np.float32("nan")]}, root=tmp))


def _inf_results_case(tmp: Path):
    from pdedenoise.results import save_results

    return _strict(save_results("x", "medium", {"a": float("inf"), "b": np.float64("-inf")}, root=tmp))


def _corrupt_scoreboard_case(tmp: Path):
    from pdedenoise import scoreboard

    folder = tmp / "results" / "medium"
    folder.mkdir(parents=True)
    (folder / "03_broken.json").write_text("{not json")
    (folder / "04_diffnet.json").write_text(json.dumps({"tables": {"t": [{"quantity": "q", "verdict": "reproduced"}]},
                                                        "claims": [], "provenance": {}}))
    recs = scoreboard.collect(tmp / "results")
    return any(r.get("error") and "03_broken.json" in r["error"] for r in recs) and any(r.get("tables") for r in recs)


def _corrupt_load_case(tmp: Path):
    from pdedenoise.results import load_results

    folder = tmp / "medium"
    folder.mkdir(parents=True)
    (folder / "03_x.json").write_text("{broken")
    return load_results("03_x", "medium", root=tmp)


def _fallback_scoreboard_case(tmp: Path):
    from pdedenoise import scoreboard

    folder = tmp / "results" / "medium"
    folder.mkdir(parents=True)
    claim = {"claim": "c", "verdict": "holds", "reason": "r", "scale": "medium", "evidence": ""}
    (folder / "04_diffnet.json").write_text(json.dumps({
        "tables": {"t": [{"quantity": "q", "verdict": "reproduced"}]}, "claims": [claim], "provenance": {},
        "fallback_data": True, "data": "embedded scikit-image images (fallback)"}))
    recs = scoreboard.collect(tmp / "results")
    runs = scoreboard.runs_overview(recs)
    papers = scoreboard.paper_overview(recs)
    row = papers[papers.paper == "DiffNet"].iloc[0]
    return "not on the paper's data" in " ".join(map(str, runs.astype(str).values.ravel())) and \
        str(row.get("holds", "")) in ("0", "—")


def _bad_tf_checkpoint_case(tmp: Path):
    from pdedenoise.data.tfcheckpoint import read_checkpoint

    (tmp / "m.index").write_bytes(os.urandom(200))
    return read_checkpoint(tmp / "m")


CASES = _cases
