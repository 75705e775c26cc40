"""Command line: ``pdedenoise denoise IN OUT`` and ``pdedenoise notebooks``.

``denoise`` keeps what the input is: an 8-bit image is denoised on 0–255 and written as 8 bits, a 16-bit one on
0–65535 and written as 16 bits (PNG or TIFF, grey or colour), a float TIFF, DICOM (e.g. CT in Hounsfield units), MRC
or ``.npy`` keeps its values and must be written where floats fit (``.tif`` or ``.npy``); colour stays colour unless
``--grey``, an alpha channel (grey+alpha or colour+alpha) is carried through untouched, a stack (multi-page TIFF,
multi-frame DICOM, MRC) needs ``--frame``. What cannot be kept is refused, naming it (complex values, 2-channel
arrays, an output format that cannot hold the input's bit depth or alpha). Nothing is clamped silently: a time step
above the stability bound is refused unless ``--substeps`` splits it; an option the chosen method does not use is
refused. The output appears only when complete (written to a fresh temporary file beside it, then renamed, keeping
the permissions of a file it replaces). Long runs report progress on stderr (a bar on a terminal, a line per 10 %
otherwise).

Exit status: 0 done, 2 a request that cannot be served (one line naming the fix), 1 an internal error (one line;
``PDEDENOISE_DEBUG=1`` shows the traceback).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: output formats by extension: which value kinds each can hold
FORMATS = {".png": ("PNG", ("8-bit", "16-bit")), ".tif": ("TIFF", ("8-bit", "16-bit", "float")),
           ".tiff": ("TIFF", ("8-bit", "16-bit", "float")), ".jpg": ("JPEG", ("8-bit",)),
           ".jpeg": ("JPEG", ("8-bit",)), ".bmp": ("BMP", ("8-bit",)), ".npy": ("NPY", ("8-bit", "16-bit", "float"))}
#: the contrast K chosen by ``--K auto``, as a fraction of the value range (10 grey levels of 255)
AUTO_K_FRACTION = 10.0 / 255.0
PEAK = {"8-bit": 255.0, "16-bit": 65535.0}


class UserError(Exception):
    """A request the command line refuses (exit status 2); the message says what to do instead."""


@dataclass
class Loaded:
    """An input file as frames: ``frames`` (F, H, W, C) float32 on the stored scale, ``kind`` "8-bit", "16-bit" or
    "float", ``alpha`` whether the last channel is opacity, ``dtype`` the stored type (kept by a .npy output)."""

    frames: np.ndarray
    kind: str
    alpha: bool
    dtype: np.dtype = np.dtype(np.float32)


# --------------------------------------------------------------------------- reading

def _read_npy(path: Path) -> tuple[np.ndarray, str, bool]:
    """(array, kind, stack) of a ``.npy`` file, refusing what an image cannot be."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"cannot read {path} as a NumPy array ({type(exc).__name__}: {exc}); save it with "
                        "numpy.save (an empty or truncated file is not one)") from exc
    if not isinstance(arr, np.ndarray):
        raise UserError(f"{path} is not a single NumPy array")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise UserError(f"{path} holds complex values ({arr.dtype}), which the denoisers cannot keep; save the real "
                        "part, the imaginary part or the magnitude as its own array")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise UserError(f"{path} holds {arr.dtype} values, not numbers")
    if arr.ndim in (3, 4) and arr.shape[-1] == 2:
        raise UserError(f"{path} has shape {arr.shape}: 2 channels are ambiguous (grey+alpha, or a pair of "
                        "images?); save grey (H, W), colour (H, W, 3), colour+alpha (H, W, 4), or a stack (F, H, W)")
    kind = {np.dtype(np.uint8): "8-bit", np.dtype(np.uint16): "16-bit"}.get(arr.dtype, "float")
    stack = arr.ndim == 4 or (arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4))
    return arr, kind, stack


def read_input(path: Path) -> Loaded:
    """Read any supported image file (see :data:`pdedenoise.data.SUPPORTED`, plus ``.npy``) as :class:`Loaded`:
    bit depth, channels and alpha as stored (:mod:`pdedenoise.data.rasters`)."""
    from .data import DataError, read_image
    from .data.readers import DICOM_SUFFIXES, MRC_SUFFIXES, PIL_SUFFIXES, _is_dicom, read_stored

    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file")
    suffix = path.suffix.lower()
    dtype = np.dtype(np.float32)
    try:
        if suffix == ".npy":
            arr, kind, stack = _read_npy(path)
            dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.dtype(np.float32)
            alpha = arr.shape[-1] == 4 and arr.ndim >= 3 and not (arr.ndim == 3 and stack)
            arr = arr.astype(np.float32)
        elif suffix in DICOM_SUFFIXES + MRC_SUFFIXES or (suffix not in PIL_SUFFIXES and _is_dicom(path)):
            arr = read_image(path)
            # physical units (Hounsfield units, electron counts): floats; MRC has no colour, DICOM colour is (H, W, 3)
            kind, alpha = "float", False
            stack = arr.ndim == 4 or (arr.ndim == 3 and (suffix in MRC_SUFFIXES or arr.shape[-1] != 3))
        else:
            raster = read_stored(path)
            if raster.array.shape[-1] not in (1, 2, 3, 4):
                raise UserError(f"{path} has {raster.array.shape[-1]} channels per pixel; expected grey, grey+alpha, "
                                "colour or colour+alpha")
            arr, kind, alpha = raster.array.astype(np.float32), raster.kind, raster.alpha
            stack = True  # (F, H, W, C) already
            if raster.kind == "float":
                dtype = raster.array.dtype
    except (DataError, ValueError, OSError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from exc
    if arr.ndim < 2 or arr.ndim > 4 or (arr.ndim == 4 and arr.shape[-1] not in (1, 2, 3, 4)):
        raise UserError(f"{path} has shape {arr.shape}; expected an image (H, W), (H, W, 3|4) or a stack of them")
    frames = arr if stack else arr[None]
    if frames.ndim == 3:
        frames = frames[..., None]
    if 0 in frames.shape:
        raise UserError(f"{path} holds an empty image (shape {arr.shape})")
    bad = int(np.size(frames) - np.isfinite(frames).sum())
    if bad:
        raise UserError(f"{path} holds {bad} NaN or infinite values; the denoisers need finite values (replace or "
                        "mask them first)")
    return Loaded(frames, kind, alpha=alpha, dtype=dtype)


def pick_frame(img: Loaded, frame: int | None, path: Path) -> np.ndarray:
    """One frame (H, W, C) of the input; a stack needs ``frame`` (counted from 0)."""
    n = img.frames.shape[0]
    if frame is None:
        if n > 1:
            raise UserError(f"{path} has {n} frames (a stack); choose one with --frame N, N from 0 to {n - 1}")
        frame = 0
    if not 0 <= frame < n:
        raise UserError(f"--frame {frame} is outside {path}, which has {n} frame{'s' if n > 1 else ''} "
                        f"(--frame 0 to {n - 1})")
    return img.frames[frame]


# --------------------------------------------------------------------------- writing

def check_output(out: Path, kind: str, channels: int) -> str:
    """Refuse, before any work, an output that cannot hold the result (its bit depth, channels, alpha); return the
    format name."""
    from .data.rasters import CAPACITY, layout

    ext = out.suffix.lower()
    if ext not in FORMATS:
        raise UserError(f"cannot tell the output format of {out}: use the extension .png, .tif or .npy "
                        f"(supported: {', '.join(FORMATS)})" if not ext else
                        f"unknown output extension {ext!r} in {out}; use one of {', '.join(FORMATS)}")
    fmt, kinds = FORMATS[ext]
    if kind not in kinds:
        fits = ".tif (32-bit float) or .npy" if kind == "float" else ".png, .tif or .npy"
        raise UserError(f"{out}: a {fmt} file cannot hold {kind} values without destroying them (the input's range "
                        f"is not {'0-255' if kind != '8-bit' else kind}); write {fits} instead")
    if fmt != "NPY" and channels not in CAPACITY[fmt][1]:
        alpha = channels in (2, 4)
        raise UserError(f"{out}: {fmt} cannot store {layout(channels)} images"
                        + ("; write .png or .tif to keep the alpha channel" if alpha and fmt == "JPEG"
                           else "; write .png or .tif (or .npy)"))
    parent = out.parent
    if not parent.is_dir():
        raise UserError(f"cannot write {out}: its folder {parent} does not exist (or is not a folder); create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {out}: its folder {parent} is read-only (permission denied)")
    if out.is_dir():
        raise UserError(f"cannot write {out}: it is a folder; give a file name")
    return fmt


def _encode(arr: np.ndarray, kind: str, fmt: str, fh, dtype: np.dtype = np.dtype(np.float32)) -> None:
    """Write (H, W, C) values of ``kind`` to an open binary file in ``fmt`` (:func:`pdedenoise.data.rasters.
    write_raster`; ``.npy`` keeps 8/16-bit integers and float inputs' type)."""
    from .data.rasters import to_stored, write_raster

    if fmt == "NPY":
        out = to_stored(arr, kind) if kind != "float" else np.asarray(arr, dtype=dtype)
        np.save(fh, out[..., 0] if out.shape[-1] == 1 else out)
        return
    write_raster(fh, arr, kind, fmt)


def write_output(out: Path, arr: np.ndarray, kind: str, fmt: str, dtype: np.dtype = np.dtype(np.float32)) -> None:
    """Write whole or not at all (:func:`pdedenoise.atomic.atomic_file`: a fresh temporary file beside ``out``,
    renamed onto it, keeping the mode of a file it replaces; removed on any failure)."""
    from .atomic import atomic_file

    try:
        with atomic_file(out) as fh:
            _encode(arr, kind, fmt, fh, dtype)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc}") from exc


# --------------------------------------------------------------------------- the command

def _contrast(value: str) -> float | str:
    if value == "auto":
        return value
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--K must be a number or 'auto', got {value!r}") from None


#: the options each kind of method uses, and their defaults (given as None, so that an option set for a method that
#: does not use it can be told apart from its default)
SOLVER_OPTIONS = {"perona-malik": {"K": "auto", "steps": 20, "diffusivity": "rational", "dt": 0.2, "bc": "neumann"},
                  "heat": {"rho": 1.0, "T": 1.0, "dt": 0.2, "bc": "neumann"}}
NAMED_OPTIONS = {"sigma": None}
_FLAGS = {"K": "--K", "steps": "--steps", "diffusivity": "--diffusivity", "dt": "--dt", "bc": "--bc", "rho": "--rho",
          "T": "--T", "sigma": "--sigma", "substeps": "--substeps"}


def _options(args: argparse.Namespace) -> None:
    """Refuse options the chosen method does not use (they would be ignored silently) and fill in the defaults."""
    used = SOLVER_OPTIONS.get(args.method, NAMED_OPTIONS)
    given = [name for name in _FLAGS if name not in used and getattr(args, name) not in (None, False)
             and not (name == "substeps" and args.method in SOLVER_OPTIONS)]
    if given:
        flags = ", ".join(_FLAGS[n] for n in given)
        uses = ", ".join(_FLAGS[n] for n in used) + (", --substeps" if args.method in SOLVER_OPTIONS else "")
        raise UserError(f"{flags} {'is' if len(given) == 1 else 'are'} not used by --method {args.method} (it uses "
                        f"{uses or 'no method options'}); drop {'it' if len(given) == 1 else 'them'} or choose the "
                        "method that uses it")
    for name, default in used.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def _progress():
    """A bar on a terminal, a line per 10 % in logs and pipes (runs that end within a second print nothing)."""
    return True if sys.stderr.isatty() else "lines"


def _denoise(args: argparse.Namespace) -> int:
    import torch

    from . import diffusion, validate
    from .solvers import stability

    start = time.perf_counter()
    _options(args)
    inp, out = Path(args.input), Path(args.output)
    img = read_input(inp)
    arr = pick_frame(img, args.frame, inp)
    alpha = arr[..., -1:] if img.alpha else None
    values = arr[..., :-1] if img.alpha else arr
    if args.grey and values.shape[-1] == 3:
        from .data import rgb_to_grey
        values = rgb_to_grey(torch.from_numpy(values).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    channels = values.shape[-1] + (1 if alpha is not None else 0)
    fmt = check_output(out, img.kind, channels)
    u0 = torch.from_numpy(np.ascontiguousarray(values)).permute(2, 0, 1)[None].contiguous()

    if args.method not in SOLVERS:
        result, what = _denoise_by_name(args, u0, img.kind, values)
        return _finish(out, result, alpha, img, fmt, values, what, start)
    dt = validate.positive("--dt", args.dt, "it is the time step")
    progress = _progress()
    if args.method == "heat":
        rho = validate.positive("--rho", args.rho, "it is the diffusivity")
        T = validate.nonnegative("--T", args.T, "it is the final time")
        cert = stability.Certificate(dt, stability.scalar_dt_max_from_sup(rho), "max", "heat")
        what = f"heat equation, rho={rho:g}, T={T:g}"
    else:
        steps = validate.count("--steps", args.steps)
        if args.K == "auto":
            peak = PEAK.get(img.kind) or float(values.max() - values.min())
            K = AUTO_K_FRACTION * peak if peak > 0 else 1.0
            k_text = f"K={K:.4g} (auto: 10/255 of the value range {peak:.4g})"
        else:
            K = validate.positive("--K", args.K, "it is Perona-Malik's contrast, in the image's units")
            validate.squarable("--K", K, torch.float32)
            if K * K * 1e-30 > torch.finfo(torch.float32).max:
                raise UserError(f"--K {K:g} is too large: its square overflows float32 (Perona-Malik would be the heat "
                                "equation); use --method heat, or a K near the image's contrasts (e.g. --K auto)")
            k_text = f"K={K:g}"
        cert = stability.Certificate(dt, stability.scalar_dt_max_from_sup(1.0), "max", "Perona-Malik")
        what = f"Perona-Malik ({args.diffusivity}), {k_text}, {steps} steps"
    if not cert.holds and not args.substeps:
        raise UserError(f"--dt {dt:g} exceeds the stability bound of the {what} step, dt <= {cert.dt_max:.4g}; "
                        "lower --dt, or pass --substeps to split each step into stable sub-steps")
    n_sub = cert.substeps()
    if n_sub > 1:
        print(f"each step of dt={dt:g} runs as {n_sub} sub-steps of {dt / n_sub:.4g} (the stability bound is "
              f"{cert.dt_max:.4g})", file=sys.stderr)
    with torch.no_grad():
        if args.method == "heat":
            result = diffusion.heat(u0, rho, T, dt, bc=args.bc, substeps=True, progress=progress)
        else:
            result = diffusion.perona_malik(u0, K, dt, steps, diffusivity=args.diffusivity, bc=args.bc,
                                            substeps=True, progress=progress)
    return _finish(out, result, alpha, img, fmt, values, what, start)


def _finish(out: Path, result, alpha, img: Loaded, fmt: str, values: np.ndarray, what: str, start: float) -> int:
    """Write the result (alpha put back) and say what was done."""
    from .data.rasters import layout

    res = result[0].permute(1, 2, 0).numpy()
    if not np.isfinite(res).all():  # never written: a NaN image would be a silently wrong file
        raise UserError(f"the {what} run produced NaN or infinite values; nothing was written (lower --dt or check "
                        "the parameters)")
    if alpha is not None:
        res = np.concatenate([res, alpha], axis=-1)
    write_output(out, res, img.kind, fmt, img.dtype)
    print(f"wrote {out}: {what}, {img.kind} {layout(res.shape[-1])}, {res.shape[1]}x{res.shape[0]}, "
          f"{time.perf_counter() - start:.2f} s")
    return 0


#: the hand-set solvers (your parameters); every other --method is a leaderboard entry (pdedenoise methods)
SOLVERS = ("perona-malik", "heat")


def _value_range(u0, kind: str) -> tuple[float, float]:
    """``(low, span)`` that map the image to the leaderboard's 0–255 scale: 0 and the peak for integer images, the
    minimum and the range for float data."""
    if kind in PEAK:
        return 0.0, PEAK[kind]
    lo, hi = float(u0.min()), float(u0.max())
    if not hi > lo:
        raise UserError("the image is constant: there is no noise to remove")
    return lo, hi - lo


def _denoise_by_name(args: argparse.Namespace, u0, kind: str, values: np.ndarray):
    """A leaderboard entry on each channel of ``u0`` (1, C, H, W), on the 0–255 scale of the protocol; ``--sigma``
    is in the image's own units (grey levels for 8-bit), estimated when not given."""
    import torch

    from .leaderboard import analysis, methods, noise_level, weights

    lo, span = _value_range(u0, kind)
    x = ((u0 - lo) * (255.0 / span)).permute(1, 0, 2, 3).contiguous()  # channels as a batch of grey images
    if args.sigma is None:
        sigma255 = float(noise_level.estimate_sigma(x).mean())
        sigma_text = (f"sigma estimated as {sigma255 * span / 255.0:.3g} in the image's units ({noise_level.DEFAULT}; "
                      "pass --sigma to set it)")
    else:
        if not (math.isfinite(args.sigma) and args.sigma > 0):
            raise UserError(f"--sigma must be a positive number in the image's units, got {args.sigma}")
        sigma255 = args.sigma * 255.0 / span
        sigma_text = f"sigma {args.sigma:g}"
    if not sigma255 > 0:
        raise UserError("the estimated noise level is 0 (the image looks noise-free); pass --sigma to denoise anyway")
    try:
        denoise, used = analysis.denoiser_for(args.method, sigma255)
    except weights.MissingWeights as exc:
        raise UserError(str(exc)) from exc
    except ImportError as exc:
        raise UserError(str(exc)) from exc
    except FileNotFoundError as exc:
        raise UserError(f"{args.method} needs data that is not here: {exc}") from exc
    label = methods.get(args.method).label
    parts, t0 = [], time.perf_counter()
    with torch.no_grad():
        for i in range(x.shape[0]):
            parts.append(denoise(x[i:i + 1]))
            if x.shape[0] > 1 and time.perf_counter() - t0 >= 1.0:
                print(f"[pdedenoise] {label}: channel {i + 1} of {x.shape[0]} done, {time.perf_counter() - t0:.1f} s",
                      file=sys.stderr, flush=True)
    out = torch.cat(parts).permute(1, 0, 2, 3)
    return out * (span / 255.0) + lo, f"{label} ({used}), {sigma_text}"


def _stability_label(m) -> str:
    """The leaderboard's label of an entry: computed from its shipped state for a learned diffusivity (whose
    certificate may hold), else the registry's (no data folder needed)."""
    from .leaderboard import analysis, methods, weights

    have = weights.shipped_sigmas(m.name)
    if have and m.name in methods.DIFFUSIVITIES:
        return analysis.stability(m.name, weights.load_state(m.name, have[0]), have[0])
    return m.stability


def _list_methods(args: argparse.Namespace) -> int:
    """Print every method the command line can run by name, with its name in the book's tables
    (:data:`pdedenoise.labels.LABELS`) and what it needs."""
    from .labels import label
    from .leaderboard import methods, weights

    rows = [("perona-malik", "solver", "certificate", "your parameters (--K, --steps, --diffusivity)"),
            ("heat", "solver", "certificate", "your parameters (--rho, --T)")]
    for m in methods.METHODS.values():
        if m.oracle:
            need = "not usable: an oracle (needs the clean image)"
        elif m.requires:
            from .leaderboard.analysis import available

            need = (f"uses the package {m.requires} (installed)" if available(m.name) else
                    f"needs the package {m.requires}: pip install {m.requires}")
        elif not m.shipped and m.fit is None:
            need = "reads the authors' checkpoint from the data folder"
        else:
            have = weights.shipped_sigmas(m.name)
            held = weights.withheld_reason(m.name)
            need = (f"shipped for sigma {', '.join(f'{s:g}' for s in have)}" if have
                    else f"not shipped: {held.split(' (')[0]}" if held
                    else f"no shipped weights yet: they come from {m.weights_from}")
        rows.append((m.name, m.family, _stability_label(m), need))
    width = max(len(r[0]) for r in rows)
    shown = max(len(label(r[0])) for r in rows)
    for name, family, stability, need in rows:
        print(f"{name:<{width}}  {label(name):<{shown}}  {family:<13} {stability:<12} {need}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .notebooks import add_arguments

    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="pdedenoise", description=__doc__.split("\n\n")[0], formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("denoise", formatter_class=fmt, description=__doc__.split("\n\n")[1].replace("``", ""),
                       help="denoise an image file (Perona-Malik, heat, or any leaderboard entry), keeping its bit depth")
    d.add_argument("input", help="PNG/JPEG/TIFF/BMP, DICOM, MRC or .npy")
    d.add_argument("output", help=f"output file; its extension picks the format ({', '.join(FORMATS)})")
    from .leaderboard.methods import METHODS

    names = list(SOLVERS) + [n for n, m in METHODS.items() if not m.oracle]
    d.add_argument("--method", choices=names, default="perona-malik", metavar="NAME",
                   help="perona-malik or heat with your parameters, or any leaderboard entry by name "
                        "(pdedenoise methods lists them)")
    d.add_argument("--sigma", type=float, default=None,
                   help="leaderboard entries only: the noise level in the image's units (grey levels for 8-bit); "
                        "estimated from the image when not given")
    d.add_argument("--K", type=_contrast, default=None,
                   help="perona-malik only: contrast in the image's units; default: auto = 10/255 of the value range")
    d.add_argument("--steps", type=int, default=None, help="perona-malik only: number of steps (default: 20)")
    d.add_argument("--diffusivity", choices=["rational", "exponential"], default=None,
                   help="perona-malik only: g(s) = 1/(1+s^2/K^2) or exp(-s^2/K^2) (default: rational)")
    d.add_argument("--rho", type=float, default=None, help="heat only: diffusivity (default: 1)")
    d.add_argument("--T", type=float, default=None, help="heat only: final time, a whole number of --dt (default: 1)")
    d.add_argument("--dt", type=float, default=None, help="perona-malik and heat: time step (default: 0.2; stable up "
                                                         "to 0.25 for Perona-Malik, 1/(4 rho) for heat)")
    d.add_argument("--substeps", action="store_true", help="perona-malik and heat: split a --dt above the stability "
                                                           "bound into stable sub-steps instead of refusing it")
    d.add_argument("--bc", choices=["neumann", "dirichlet"], default=None,
                   help="perona-malik and heat: boundary condition (default: neumann)")
    d.add_argument("--grey", action="store_true", help="convert colour to grey (ITU-R BT.601) before denoising")
    d.add_argument("--frame", type=int, default=None, help="which frame of a stack (multi-page TIFF, DICOM, MRC), "
                                                            "from 0")
    sub.add_parser("methods", formatter_class=fmt, help="list every method --method accepts and what it needs")
    n = sub.add_parser("notebooks", formatter_class=fmt, help="execute the book's notebooks with papermill")
    add_arguments(n)
    return parser


def _package_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "this request cannot be served" (exit 2): the package's own errors (validation,
    data, checkpoints, weights, LPIPS) and the operating system's (files, memory)."""
    from .data import DataError
    from .data.tfcheckpoint import CheckpointError
    from .perceptual import LPIPSUnavailable

    return (UserError, ValueError, TypeError, DataError, CheckpointError, LPIPSUnavailable, OSError, EOFError,
            MemoryError, OverflowError, LookupError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .threads import configure

    configure()
    try:
        if args.command == "notebooks":
            from .notebooks import run

            return run(args)
        if args.command == "methods":
            return _list_methods(args)
        return _denoise(args)
    except KeyboardInterrupt:
        print("pdedenoise: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("PDEDENOISE_DEBUG"):
            raise
        text = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, _package_errors()):  # ValueError: the library's validation (StabilityError too)
            print(f"pdedenoise: {text}", file=sys.stderr)
            return 2
        print(f"pdedenoise: internal error ({type(exc).__name__}: {text}); rerun with PDEDENOISE_DEBUG=1 for the "
              "traceback and report it", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
