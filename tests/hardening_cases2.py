"""The second hardening table: images that must come back whole, reads that must be verified, writes that must not
follow planted links or loosen permissions, NaN that must never pass, and command-line errors that must be one line.

Same outcomes and classifier as the first table (:mod:`hardening_cases`): ``correct`` / ``clear error`` pass;
``silent wrong``, ``unclear error``, ``crash``, ``leftover`` and ``security`` fail. ``tools/hardening_table.py
--table 2`` tabulates these cases against any checkout.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

from hardening_cases import CLIResult, Case, _smooth

CLI_TIMEOUT = float(os.environ.get("PDEDENOISE_HARDENING_TIMEOUT", "120"))


def cli(tmp: Path, *args: str, env: dict | None = None, timeout: float | None = None) -> CLIResult:
    """``pdedenoise *args`` run in this process, in ``tmp``, as the installed command would (its exit status, stdout
    and stderr; an exception escaping ``main`` is a traceback and exit status 1, as from a process). Running in
    process keeps a table of many command-line cases fast on a busy machine; the first table runs the same
    command as a subprocess."""
    import contextlib
    import io
    import traceback
    import warnings

    from pdedenoise import cli as C

    out, err = io.StringIO(), io.StringIO()
    old_cwd, old_env = os.getcwd(), dict(os.environ)
    os.chdir(tmp)
    os.environ.update(env or {})
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                code = C.main(list(args))
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)
    return CLIResult(subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue()))

PNG_SIG = b"\x89PNG\r\n\x1a\n"
CKPT = "learned_diffusivities_ckpt"
FOE = "FoE_splines_25_5_30"


# --------------------------------------------------------------------------- independent readers for the checks


def png_mode(path: Path) -> tuple[int, int]:
    """(bit depth, colour type) from the file's IHDR (read here, not by the package)."""
    data = Path(path).read_bytes()[:33]
    assert data[:8] == PNG_SIG and data[12:16] == b"IHDR"
    return data[24], data[25]


def png16_values(path: Path) -> np.ndarray:
    """The high bytes of a 16-bit PNG as Pillow reads them (an independent decoder: it keeps value >> 8)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im)


def tiff_info(path: Path) -> tuple[np.ndarray, tuple]:
    """(array, extra samples) by tifffile."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        return page.asarray(), tuple(int(e) for e in (page.extrasamples or ()))


def png_bytes(arr: np.ndarray, filters=(0, 1, 2, 3, 4)) -> bytes:
    """A PNG of (H, W, C) uint8/uint16 written by this test's own encoder, cycling through the five row filters
    (so that a reader is checked on every filter, independently of the package's encoder)."""
    h, w, c = arr.shape
    depth = 16 if arr.dtype == np.uint16 else 8
    rows = np.ascontiguousarray(arr.astype(">u2") if depth == 16 else arr).view(np.uint8).reshape(h, -1).astype(int)
    bpp = c * depth // 8
    out = bytearray()
    prev = np.zeros(rows.shape[1], int)
    for y in range(h):
        f, r = filters[y % len(filters)], rows[y]
        left = np.concatenate([np.zeros(bpp, int), r[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, int), prev[:-bpp]])
        if f == 0:
            line = r
        elif f == 1:
            line = r - left
        elif f == 2:
            line = r - prev
        elif f == 3:
            line = r - (left + prev) // 2
        else:
            p = left + prev - upleft
            pa, pb, pc = abs(p - left), abs(p - prev), abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
            line = r - pred
        out += bytes([f]) + bytes((line % 256).astype(np.uint8))
        prev = r

    def chunk(k, p):
        return struct.pack(">I", len(p)) + k + p + struct.pack(">I", zlib.crc32(k + p) & 0xFFFFFFFF)

    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    return PNG_SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(bytes(out))) + chunk(b"IEND", b"")


def _image(depth: int, channels: int, seed: int = 0, h: int = 40, w: int = 56) -> np.ndarray:
    """A smooth noisy test image (H, W, C) of ``depth`` bits; channel 1 of grey+alpha and 3 of colour+alpha are
    the alpha (a gradient, 7 to 250 of 255)."""
    _, noisy = _smooth(h, w, seed)
    peak = 255 if depth == 8 else 65535
    planes = [noisy, np.roll(noisy, 5, 1), 1 - noisy][:3 if channels >= 3 else 1]
    if channels in (2, 4):
        planes.append(np.linspace(7 / 255, 250 / 255, w)[None].repeat(h, 0))
    arr = np.stack(planes, -1) * peak
    return np.rint(arr).astype(np.uint8 if depth == 8 else np.uint16)


def write_png(tmp: Path, name: str, arr: np.ndarray) -> Path:
    (tmp / name).write_bytes(png_bytes(arr))
    return tmp / name


def write_tiff(tmp: Path, name: str, arr: np.ndarray) -> Path:
    import tifffile

    c = arr.shape[-1]
    tifffile.imwrite(tmp / name, arr if c > 1 else arr[..., 0], photometric="rgb" if c >= 3 else "minisblack",
                     extrasamples=["unassalpha"] if c in (2, 4) else None)
    return tmp / name


# --------------------------------------------------------------------------- case bodies


def _io_roundtrip(fmt: str, depth, channels: int):
    """Read a file with the command line's reader and write it back with its writer: values, bit depth, channels
    and alpha must come back (checked with tifffile / the PNG header and Pillow)."""
    def run(tmp: Path):
        from pdedenoise import cli as C

        if depth == "float":
            arr = (_image(16, channels).astype(np.float32) / 65535.0 * 3.0 - 1.0).astype(np.float32)
        else:
            arr = _image(depth, channels)
        src = write_png(tmp, "in.png", arr) if fmt == "png" else write_tiff(tmp, "in.tif", arr)
        img = C.read_input(src)
        out = tmp / f"out.{fmt}"
        f = C.check_output(out, img.kind, img.frames.shape[-1])
        C.write_output(out, img.frames[0], img.kind, f, *([img.dtype] if hasattr(img, "dtype") else []))
        return arr, img, out

    def check(res, tmp):
        arr, img, out = res
        want_kind = "float" if depth == "float" else f"{depth}-bit"
        if img.kind != want_kind or img.alpha != (channels in (2, 4)) or img.frames.shape[-1] != channels:
            return False
        if fmt == "png":
            from PIL import Image

            if png_mode(out) != (depth, {1: 0, 2: 4, 3: 2, 4: 6}[channels]):
                return False
            with Image.open(out) as im:  # Pillow: all of 8-bit and 16-bit grey, the high byte of 16-bit colour
                seen = np.asarray(im).reshape(arr.shape[:2] + (-1,))
            if depth == 8 or channels == 1:
                return np.array_equal(seen.reshape(arr.shape), arr)
            if channels in (3, 4) and not np.array_equal(seen, arr >> 8):
                return False
            return _own_equal(out, arr)  # the reader itself was checked on this test's own encoder above
        got, extra = tiff_info(out)
        got = got.reshape(arr.shape)
        return got.dtype == arr.dtype and np.array_equal(got, arr) and (bool(extra) == (channels in (2, 4)))
    return run, check


def _own_equal(path: Path, arr: np.ndarray) -> bool:
    """The package's reader gives ``arr`` back (False where the package has no such reader)."""
    try:
        from pdedenoise.data.rasters import read_raster
    except ImportError:
        return False
    return np.array_equal(read_raster(path).array[0], arr)


def _png_filters_case(tmp: Path):
    """A 16-bit colour+alpha PNG whose rows use all five filters (written by this test's encoder) reads exactly."""
    from pdedenoise.data import read_image

    arr = _image(16, 4)
    write_png(tmp, "f.png", arr)
    return np.array_equal(read_image(tmp / "f.png"), arr.astype(np.float32))


def _cli_keeps(fmt: str, depth: int, channels: int, method=()):
    """``pd denoise`` on a file keeps its bit depth, channels and alpha (alpha values untouched)."""
    def run(tmp: Path):
        arr = _image(depth, channels)
        src = write_png(tmp, f"in.{fmt}", arr) if fmt == "png" else write_tiff(tmp, f"in.{fmt}", arr)
        return cli(tmp, "denoise", src.name, f"out.{fmt}", *method), arr

    def check(res, tmp):
        r, arr = res
        out = tmp / f"out.{fmt}"
        if r.returncode != 0 or not out.exists():
            return False
        if fmt == "png":
            if png_mode(out) != (depth, {1: 0, 2: 4, 3: 2, 4: 6}[channels]):
                return False
            try:
                from pdedenoise.data.rasters import read_raster
            except ImportError:
                return False
            got = read_raster(out).array[0]
        else:
            got, extra = tiff_info(out)
            got = got.reshape(arr.shape)
            if got.dtype != arr.dtype or bool(extra) != (channels in (2, 4)):
                return False
        if channels in (2, 4) and not np.array_equal(got[..., -1], arr[..., -1]):
            return False
        noisy = arr[..., :channels - (channels in (2, 4))].astype(float)
        return got.shape == arr.shape and not np.array_equal(got[..., :noisy.shape[-1]], noisy)
    return lambda t: _wrap_cli(run(t)), check


def _wrap_cli(pair):
    r, data = pair
    r.data = data
    return r


def _cli_check(check):
    return lambda r, t: check((r, r.data), t)


def _data_copy(tmp: Path, plant: dict[str, bytes] | None = None, corrupt: str | None = None) -> Path:
    """A data folder in ``tmp`` with the authors' checkpoint files (links to the staged copies), files planted beside
    them and one file replaced by a damaged copy."""
    from pdedenoise.data import registry

    root = tmp / "data"
    folder = root / CKPT
    (folder / "checkpoints").mkdir(parents=True)
    for rel in registry.files(CKPT):
        src = registry.fetch(CKPT, rel)
        dst = folder / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel == corrupt:
            data = bytearray(src.read_bytes())
            data[len(data) // 2] ^= 0xFF
            dst.write_bytes(bytes(data))
        else:
            os.symlink(src, dst)
    for rel, data in (plant or {}).items():
        (folder / rel).write_bytes(data)
    return root


class _DataEnv:
    def __init__(self, root: Path | str):
        self.root = str(root)

    def __enter__(self):
        self.old = os.environ.get("PDEDENOISE_DATA")
        os.environ["PDEDENOISE_DATA"] = self.root
        return self

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop("PDEDENOISE_DATA", None)
        else:
            os.environ["PDEDENOISE_DATA"] = self.old


def _planted_shard_api(tmp: Path):
    """A data file planted beside the authors' checkpoint with a name that sorts first is never read."""
    from pdedenoise.papers.valdivia2024 import checkpoints as CK

    genuine = CK.tensors(FOE)
    size = len((_data_file(f"checkpoints/{FOE}.data-00000-of-00001")).read_bytes())
    root = _data_copy(tmp, plant={f"checkpoints/{FOE}.data-00000-of-00000": os.urandom(size)})
    with _DataEnv(root):
        got = CK.tensors(FOE)
    return all(np.array_equal(genuine[k], got[k]) for k in genuine)


def _data_file(rel: str) -> Path:
    from pdedenoise.data import registry

    return registry.fetch(CKPT, rel)


def _corrupt_checkpoint_api(rel: str):
    def run(tmp: Path):
        from pdedenoise.papers.valdivia2024 import checkpoints as CK

        root = _data_copy(tmp, corrupt=rel)
        with _DataEnv(root):
            return CK.tensors(FOE)
    return run


def _tf_copy(tmp: Path) -> Path:
    """A private copy of one checkpoint (index + data) in ``tmp``; returns its prefix."""
    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(_data_file(f"checkpoints/{FOE}{suffix}"), tmp / f"{FOE}{suffix}")
    return tmp / FOE


def _tf_planted(tmp: Path):
    from pdedenoise.data.tfcheckpoint import read_checkpoint

    prefix = _tf_copy(tmp)
    genuine = read_checkpoint(prefix)
    size = (tmp / f"{FOE}.data-00000-of-00001").stat().st_size
    (tmp / f"{FOE}.data-00000-of-00000").write_bytes(os.urandom(size))
    got = read_checkpoint(prefix)
    return all(np.array_equal(genuine[k], got[k]) for k in genuine)


def _tf_missing_shard(tmp: Path):
    from pdedenoise.data.tfcheckpoint import read_checkpoint

    prefix = _tf_copy(tmp)
    (tmp / f"{FOE}.data-00000-of-00001").rename(tmp / f"{FOE}.data-00000-of-00002")
    return read_checkpoint(prefix)


def _tf_garbled_index(tmp: Path):
    from pdedenoise.data.tfcheckpoint import read_checkpoint

    prefix = _tf_copy(tmp)
    data = bytearray((tmp / f"{FOE}.index").read_bytes())
    data[:len(data) - 48] = os.urandom(len(data) - 48)  # the footer (and its magic) kept, the tables destroyed
    (tmp / f"{FOE}.index").write_bytes(bytes(data))
    return read_checkpoint(prefix)


def _tf_truncated_data(tmp: Path):
    from pdedenoise.data.tfcheckpoint import read_checkpoint

    prefix = _tf_copy(tmp)
    p = tmp / f"{FOE}.data-00000-of-00001"
    p.write_bytes(p.read_bytes()[:100])
    return read_checkpoint(prefix)


def _weights_folder(tmp: Path) -> Path:
    """A copy of one shipped leaderboard state with its manifest."""
    from pdedenoise.leaderboard import weights as W

    folder = tmp / "w"
    folder.mkdir()
    man = W.manifest()
    name = sorted(man)[0]
    shutil.copy(W.WEIGHTS_DIR / name, folder / name)
    (folder / W.MANIFEST).write_text(json.dumps({name: man[name]}))
    return folder


def _weights_tampered(tmp: Path):
    from pdedenoise.leaderboard import weights as W

    folder = _weights_folder(tmp)
    name = next(iter(W.manifest(folder)))
    p = folder / name
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    return W.load_state(*W.parse_file_name(name), folder=folder)


def _weights_unloadable(tmp: Path):
    """A state file that matches its manifest entry but is not a state (a manifest rewritten to match garbage)."""
    import hashlib

    from pdedenoise.leaderboard import weights as W

    folder = _weights_folder(tmp)
    name = next(iter(W.manifest(folder)))
    (folder / name).write_bytes(b"not a torch file")
    man = json.loads((folder / W.MANIFEST).read_text())
    man[name]["sha256"] = hashlib.sha256(b"not a torch file").hexdigest()
    (folder / W.MANIFEST).write_text(json.dumps(man))
    return W.load_state(*W.parse_file_name(name), folder=folder)


def _weights_bad_manifest(text: str):
    def run(tmp: Path):
        from pdedenoise.leaderboard import weights as W

        folder = _weights_folder(tmp)
        (folder / W.MANIFEST).write_text(text)
        return W.shipped_sigmas("foe-s", folder)
    return run


def _runcache_json(content: str):
    def run(tmp: Path):
        import warnings

        from pdedenoise.runcache import RunCache

        cache = RunCache(tmp / "c")
        cache.json("k", lambda: {"a": 1})
        path = next((tmp / "c").glob("*.json"))
        path.write_text(content)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cache.json("k", lambda: {"a": 2})
    return run


def _runcache_trained(damage: str):
    def run(tmp: Path):
        import warnings

        import torch

        from pdedenoise.runcache import RunCache

        cache = RunCache(tmp / "c")
        model = torch.nn.Linear(2, 2)
        cache.trained("k", model, lambda: {"loss": 1.0})
        path = next((tmp / "c").glob("*.pt"))
        path.write_bytes(path.read_bytes()[:40] if damage == "truncate" else b"\x00" * 200)
        fresh = torch.nn.Linear(2, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cache.trained("k", fresh, lambda: {"loss": 2.0})
    return run


def _lpips_cache(kind: str):
    """LPIPS weights in the cache that were not made by the package (no recorded checksum, or another file's)."""
    def run(tmp: Path):
        import io

        import torch

        from pdedenoise import metrics, perceptual as P

        target = tmp / "lpips" / "alexnet_v0.1.pt"
        target.parent.mkdir()
        buf = io.BytesIO()
        torch.save({"features.0.weight": torch.zeros(1)}, buf)
        target.write_bytes(buf.getvalue())
        if kind == "tampered":
            import hashlib

            (tmp / "lpips" / "alexnet_v0.1.pt.sha256").write_text(hashlib.sha256(b"other").hexdigest())
        old, P._MODEL = P._MODEL, None
        env = os.environ.get("PDEDENOISE_CACHE")
        os.environ["PDEDENOISE_CACHE"] = str(tmp)
        try:
            x = torch.rand(1, 3, 32, 32) * 255
            return metrics.lpips(x, x, 255.0)
        finally:
            P._MODEL = old
            if env is None:
                os.environ.pop("PDEDENOISE_CACHE", None)
            else:
                os.environ["PDEDENOISE_CACHE"] = env
    return run


def _mode_kept(tmp: Path):
    from pdedenoise.atomic import atomic_file

    p = tmp / "s.bin"
    p.write_bytes(b"old")
    p.chmod(0o600)
    with atomic_file(p) as fh:
        fh.write(b"new")
    return stat.S_IMODE(p.stat().st_mode) == 0o600 and p.read_bytes() == b"new"


def _mode_new(tmp: Path):
    from pdedenoise.atomic import atomic_file

    umask = os.umask(0o022)
    try:
        with atomic_file(tmp / "n.bin") as fh:
            fh.write(b"x")
    finally:
        os.umask(umask)
    return stat.S_IMODE((tmp / "n.bin").stat().st_mode) == 0o644


def _cli_mode_kept(tmp: Path):
    from hardening_cases import png8

    png8(tmp, "s.png")
    (tmp / "s.png").chmod(0o600)
    r = cli(tmp, "denoise", "s.png", "s.png")
    r.data = stat.S_IMODE((tmp / "s.png").stat().st_mode)
    return r


def _sigterm_write(tmp: Path):
    code = (f"import sys, time; sys.path[:0] = {sys.path[:3]!r}\n"
            "from pdedenoise.atomic import atomic_file\n"
            f"with atomic_file({str(tmp / 'big.bin')!r}) as fh:\n"
            "    fh.write(b'x' * 1000); fh.flush(); print('ready', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path[:3])})
    proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(30)
    return rc == -signal.SIGTERM and not (tmp / "big.bin").exists()


def _exception_write(tmp: Path):
    from pdedenoise.atomic import atomic_file

    (tmp / "t.txt").write_text("before")
    try:
        with atomic_file(tmp / "t.txt", "w") as fh:
            fh.write("half")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    return (tmp / "t.txt").read_text() == "before"


def _link_at_target(tmp: Path):
    from pdedenoise.results import write_json_atomic

    (tmp / "victim.txt").write_text("precious")
    os.symlink(tmp / "victim.txt", tmp / "r.json")
    write_json_atomic(tmp / "r.json", {"a": 1})
    return not (tmp / "r.json").is_symlink() and json.loads((tmp / "r.json").read_text()) == {"a": 1}


def _notebook_link(tmp: Path):
    """A symlink planted at every fixed name the runner could use is neither followed nor left as the copy."""
    import nbformat

    from pdedenoise import notebooks

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"},
                                            "language_info": {"name": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("scale = 'ci'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("x = 1 + 1")]
    src = tmp / "nbs"
    src.mkdir()
    nbformat.write(nb, src / "07_tiny.ipynb")
    out = tmp / "executed"
    out.mkdir()
    (tmp / "victim.txt").write_text("precious")
    for name in (".07_tiny.running.ipynb", ".07_tiny.ipynb.running.ipynb", "07_tiny.ipynb.partial"):
        os.symlink(tmp / "victim.txt", out / name)
    final = notebooks.execute(src / "07_tiny.ipynb", "ci", out_dir=out)
    return final.is_file() and not final.is_symlink() and "x = 1 + 1" in final.read_text()


def _figure_atomic(tmp: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pdedenoise import book

    (tmp / "victim.txt").write_text("precious")
    (tmp / "f.png").write_bytes(b"old")
    (tmp / "f.png").chmod(0o600)
    fig = plt.figure()
    plt.plot([0, 1])
    book.show(fig, save_as=tmp / "f.png")
    plt.close("all")
    return (tmp / "f.png").read_bytes()[:8] == PNG_SIG and stat.S_IMODE((tmp / "f.png").stat().st_mode) == 0o600


def _stl10_link(tmp: Path):
    from pdedenoise.data import write_stl10

    (tmp / "victim.txt").write_text("precious")
    os.symlink(tmp / "victim.txt", tmp / "s.bin")
    write_stl10(tmp / "s.bin", np.zeros((1, 3, 96, 96)))
    return (tmp / "s.bin").stat().st_size == 3 * 96 * 96 and not (tmp / "s.bin").is_symlink()


def _nan(*shape):
    import torch

    u = torch.rand(*shape) * 255
    u.view(-1)[3] = float("nan")
    return u


def _u(*shape, seed=0, dtype=None):
    import torch

    g = torch.Generator().manual_seed(seed)
    u = torch.rand(*shape, generator=g) * 255
    return u if dtype is None else u.to(dtype)


def _roth_black_flow(value: float):
    def run(tmp: Path):
        import torch

        from pdedenoise import diffusivities as D
        from pdedenoise.solvers.coefficients import EdgeDiffusivity
        from pdedenoise.solvers.explicit import ExplicitFlow

        g = D.RothBlack(2, 0.0)
        with torch.no_grad():
            g.w[0] = value
        flow = ExplicitFlow(EdgeDiffusivity(D.Spline(in_features=2, log=True)), 3, 0.2)
        flow.coefficients.g = g  # a trained Fields-of-Experts g of two experts, one weight gone infinite
        return flow(_u(1, 2, 12, 12))
    return run


def _half(fn, dtype_name: str, tol: float):
    """``fn(u)`` on a half-precision image is within ``tol`` of the float32 result, or refused."""
    def run(tmp: Path):
        import torch

        dtype = getattr(torch, dtype_name)
        u = _u(1, 1, 24, 24)
        got = fn(u.to(dtype))
        want = fn(u.to(dtype).float())
        return got, want

    def check(res, tmp):
        import torch

        got, want = res
        return bool(torch.isfinite(got.float()).all()) and float((got.float() - want.float()).abs().max()) <= tol
    return run, check


def _large_heat_tuned(tmp: Path):
    _, noisy = _smooth(4, 20000)
    from PIL import Image

    Image.fromarray((noisy * 255).astype(np.uint8)).save(tmp / "wide.png")
    return cli(tmp, "denoise", "wide.png", "out.png", "--method", "heat-tuned", "--sigma", "20")


def _progress_lines(tmp: Path):
    from PIL import Image

    # 512 x 512 and 8,000 steps: about 2 G pixel-steps, several seconds even for the fused step on an idle core
    # (progress lines start once a run has taken a second)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (512, 512), dtype=np.uint8)).save(tmp / "in.png")
    r = cli(tmp, "denoise", "in.png", "out.png", "--steps", "8000")
    r.data = None
    return r


def _npy(tmp: Path, name: str, arr) -> str:
    np.save(tmp / name, arr)
    return name


def _cli_env(env: dict, *args):
    def run(tmp: Path):
        from hardening_cases import png8

        png8(tmp)
        (tmp / "empty").mkdir(exist_ok=True)
        (tmp / "afile").write_text("x")
        return cli(tmp, *args, env={k: str(v).replace("{tmp}", str(tmp)) for k, v in env.items()})
    return run


def _cli_planted_shard(tmp: Path):
    from hardening_cases import png8

    png8(tmp)
    size = _data_file(f"checkpoints/{FOE}.data-00000-of-00001").stat().st_size
    root = _data_copy(tmp, plant={f"checkpoints/{FOE}.data-00000-of-00000": os.urandom(size)})
    return cli(tmp, "denoise", "in.png", "out.png", "--method", "foe-s-authors", "--sigma", "25",
               env={"PDEDENOISE_DATA": str(root)})


def _cli_corrupt_data(tmp: Path):
    from hardening_cases import png8

    png8(tmp)
    root = _data_copy(tmp, corrupt=f"checkpoints/{FOE}.data-00000-of-00001")
    return cli(tmp, "denoise", "in.png", "out.png", "--method", "foe-s-authors", "--sigma", "25",
               env={"PDEDENOISE_DATA": str(root)})


def _improved_png(r, tmp):
    from hardening_cases import _improved

    return _improved("out.png", "clean8.npy", lambda t: t / "in.png", 255)(r, tmp)


# --------------------------------------------------------------------------- the table


def _cases() -> list[Case]:
    import torch

    c: list[Case] = []

    def add(name, area, run, expect, match="", check=None, leftovers=""):
        c.append(Case(name, area, run, expect, match, check, leftovers))

    # ------------------------------------------------------------ 1. the image comes back as it came in
    for fmt in ("png", "tif"):
        for depth in (8, 16) + (("float",) if fmt == "tif" else ()):
            for ch in (1, 2, 3, 4):
                run, check = _io_roundtrip(fmt, depth, ch)
                lay = {1: "grey", 2: "grey+alpha", 3: "RGB", 4: "RGBA"}[ch]
                add(f"image I/O: {depth}{'-bit' if depth != 'float' else ''} {lay} {fmt.upper()} round-trips values "
                    "and mode", "image", run, "ok", check=check)
    add("image I/O: every PNG row filter of a 16-bit RGBA file decodes exactly", "image", _png_filters_case, "ok",
        check=lambda r, t: r is True)
    for fmt, depth, ch in (("png", 16, 3), ("png", 16, 4), ("png", 16, 2), ("png", 8, 2), ("tif", 16, 3),
                           ("tif", 16, 4), ("tif", 8, 2)):
        run, check = _cli_keeps(fmt, depth, ch)
        lay = {1: "grey", 2: "grey+alpha", 3: "RGB", 4: "RGBA"}[ch]
        add(f"CLI: {depth}-bit {lay} {fmt.upper()} comes back {depth}-bit {lay}, alpha untouched", "image", run, "ok",
            check=_cli_check(check))
    add("CLI: a complex .npy is refused, naming it", "image",
        lambda t: cli(t, "denoise", _npy(t, "z.npy", np.ones((20, 20), np.complex64)), "o.npy"), "error", r"complex")
    add("CLI: a 2-channel .npy is refused, naming it", "image",
        lambda t: cli(t, "denoise", _npy(t, "two.npy", np.ones((20, 20, 2), np.float32)), "o.npy"), "error",
        r"2 channels")
    add("CLI: a .npy with NaN is refused, naming the file", "image",
        lambda t: cli(t, "denoise", _npy(t, "n.npy", np.where(np.eye(20) > 0, np.nan, 1.0)), "o.npy"), "error",
        r"n\.npy.*NaN")
    add("CLI: a 0-byte .npy", "image", lambda t: ((t / "e.npy").write_bytes(b""), cli(t, "denoise", "e.npy", "o.npy"))[1],
        "error", r"e\.npy")
    add("CLI: grey+alpha to JPEG is refused (no alpha in JPEG)", "image",
        lambda t: cli(t, "denoise", write_png(t, "la.png", _image(8, 2)).name, "o.jpg"), "error", r"alpha|JPEG")
    add("CLI: grey+alpha to BMP is refused", "image",
        lambda t: cli(t, "denoise", write_png(t, "la.png", _image(8, 2)).name, "o.bmp"), "error", r"BMP|alpha")
    add("CLI: 16-bit RGB to BMP is refused", "image",
        lambda t: cli(t, "denoise", write_png(t, "c.png", _image(16, 3)).name, "o.bmp"), "error", r"BMP|16-bit")
    add("CLI: a damaged 16-bit PNG (bad CRC) names the file", "image",
        lambda t: ((t / "d.png").write_bytes(png_bytes(_image(16, 3))[:60] + b"\x00" * 40),
                   cli(t, "denoise", "d.png", "o.png"))[1], "error", r"d\.png")
    # ------------------------------------------------------------ 2. verify what is read
    add("checkpoint: a shard planted beside the authors' files is never read", "verify", _planted_shard_api, "ok",
        check=lambda r, t: r is True)
    add("checkpoint: a damaged data file is refused, naming it", "verify",
        _corrupt_checkpoint_api(f"checkpoints/{FOE}.data-00000-of-00001"), "error", FOE + r".*(checksum|sha256)")
    add("checkpoint: a damaged index is refused, naming it", "verify",
        _corrupt_checkpoint_api(f"checkpoints/{FOE}.index"), "error", FOE + r"\.index.*(checksum|sha256)")
    add("checkpoint: a damaged architecture table is refused", "verify",
        _corrupt_checkpoint_api("architecture_description.csv"), "error", r"architecture_description")
    add("TF reader: a planted data-00000-of-00000 is not read", "verify", _tf_planted, "ok",
        check=lambda r, t: r is True)
    add("TF reader: the named shard missing", "verify", _tf_missing_shard, "error", r"of-00001")
    add("TF reader: an index with its tables destroyed", "verify", _tf_garbled_index, "error", r"index|checkpoint")
    add("TF reader: a truncated data file", "verify", _tf_truncated_data, "error", r"truncated")
    add("TF reader: no index at the prefix", "verify",
        lambda t: __import__("pdedenoise.data.tfcheckpoint", fromlist=["x"]).read_checkpoint(t / "nothing"), "error",
        r"nothing\.index")
    add("shipped weights: a damaged state file", "verify", _weights_tampered, "error", r"checksum")
    add("shipped weights: a state that matches its manifest but does not load", "verify", _weights_unloadable,
        "error", r"does not load|ship_weights")
    add("shipped weights: a broken manifest names it", "verify", _weights_bad_manifest("{broken"), "error",
        r"MANIFEST\.json")
    add("shipped weights: a manifest that is a list", "verify", _weights_bad_manifest("[1, 2]"), "error",
        r"MANIFEST\.json")
    add("run cache: a damaged JSON entry is computed again", "verify", _runcache_json("{trunc"), "ok",
        check=lambda r, t: r == {"a": 2})
    add("run cache: a JSON entry of the wrong shape is computed again", "verify", _runcache_json("[1]"), "ok",
        check=lambda r, t: r == {"a": 2})
    add("run cache: a truncated state is trained again", "verify", _runcache_trained("truncate"), "ok",
        check=lambda r, t: r == {"loss": 2.0})
    add("run cache: a zeroed state is trained again", "verify", _runcache_trained("zeros"), "ok",
        check=lambda r, t: r == {"loss": 2.0})
    add("LPIPS cache: weights without a recorded checksum are refused", "verify", _lpips_cache("unrecorded"),
        "error", r"alexnet_v0\.1\.pt.*perceptual", )
    add("LPIPS cache: weights that do not match their checksum are refused", "verify", _lpips_cache("tampered"),
        "error", r"alexnet_v0\.1\.pt.*perceptual")
    # ------------------------------------------------------------ 3. no write through a planted link, no loosened mode
    add("atomic writer keeps a replaced file's mode (0600)", "write", _mode_kept, "ok", check=lambda r, t: r is True)
    add("atomic writer gives a new file the umask's mode", "write", _mode_new, "ok", check=lambda r, t: r is True)
    add("CLI: chmod 600 s.png; denoise s.png s.png keeps 0600", "security", _cli_mode_kept, "ok",
        check=lambda r, t: r.data == 0o600)
    add("atomic writer: SIGTERM mid-write leaves no temporary file", "write", _sigterm_write, "ok",
        check=lambda r, t: r is True, leftovers=".*partial*")
    add("atomic writer: an exception leaves the old file and no temporary file", "write", _exception_write, "ok",
        check=lambda r, t: r is True, leftovers=".*partial*")
    add("results: a link planted at the target is replaced, not followed", "security", _link_at_target, "ok",
        check=lambda r, t: r is True)
    add("notebook runner: links planted at temporary names are not followed", "security", _notebook_link, "ok",
        check=lambda r, t: r is True, leftovers="executed/.07_tiny.ipynb.*.running.ipynb")
    add("figures: save_as is written whole, keeping its mode", "write", _figure_atomic, "ok",
        check=lambda r, t: r is True, leftovers=".*partial*")
    add("STL-10 writer: a link at the target is replaced, not followed", "security", _stl10_link, "ok",
        check=lambda r, t: r is True)
    add("CLI: notebooks --only with no names runs nothing", "cli", lambda t: cli(t, "notebooks", "--only"), "error",
        r"--only|expected")
    add("notebooks.run_all with an empty --only list runs nothing", "cli",
        _api_call(lambda: __import__("pdedenoise.notebooks", fromlist=["x"]).run_all("ci", [])), "error",
        r"at least one")
    add("notebooks.run_all with a blank name runs nothing", "cli",
        _api_call(lambda: __import__("pdedenoise.notebooks", fromlist=["x"]).run_all("ci", [" "])), "error",
        r"at least one|non-empty")
    # ------------------------------------------------------------ 4. validation at every public entry
    from pdedenoise import degradations as G, diffusion, diffusivities as D, metrics
    from pdedenoise.solvers import coefficients as CO, explicit as EX, spectral as SP, stability as ST

    nan, inf = float("nan"), float("inf")
    ctor = [
        ("Rational(K=nan)", lambda: D.Rational(nan), r"\bK\b"), ("Rational(K=-1)", lambda: D.Rational(-1.0), r"\bK\b"),
        ("Rational(K='10')", lambda: D.Rational("10"), r"\bK\b"), ("Exponential(K=inf)", lambda: D.Exponential(inf), r"\bK\b"),
        ("Rational(K=1e-30)", lambda: D.Rational(1e-30), r"\bK\b"),
        ("Spline(nodes=1)", lambda: D.Spline(nodes=1), r"nodes"), ("Spline(nodes=2.5)", lambda: D.Spline(nodes=2.5), r"nodes"),
        ("Spline(lo=nan)", lambda: D.Spline(lo=nan), r"\blo\b"), ("Spline(cap=-1)", lambda: D.Spline(cap=-1.0), r"cap"),
        ("Spline(init=nan)", lambda: D.Spline(init=nan), r"init"),
        ("Spline(in_features=0, log=True)", lambda: D.Spline(in_features=0, log=True), r"in_features"),
        ("Monomial(c=nan)", lambda: D.Monomial(c=nan), r"\bc\b"), ("Monomial(s=inf)", lambda: D.Monomial(s=inf), r"\bs\b"),
        ("RothBlack(w=nan)", lambda: D.RothBlack(w=nan), r"\bw\b"), ("RothBlack(w=inf)", lambda: D.RothBlack(w=inf), r"\bw\b"),
        ("RothBlack(in_features=0)", lambda: D.RothBlack(0), r"in_features"),
        ("GaussianRBF(width=0)", lambda: D.GaussianRBF(width=0.0), r"width"),
        ("GaussianRBF(hi=inf)", lambda: D.GaussianRBF(hi=inf), r"\bhi\b"),
        ("GaussianRBF(centers=1)", lambda: D.GaussianRBF(centers=1), r"centers"),
        ("BoundedRBF(cap=nan)", lambda: D.BoundedRBF(cap=nan), r"cap"),
        ("BoundedRBF(width=-2)", lambda: D.BoundedRBF(width=-2.0), r"width"),
        ("Reaction(init=nan)", lambda: CO.Reaction(init=nan), r"init"), ("Reaction(cap=inf)", lambda: CO.Reaction(cap=inf), r"cap"),
        ("StableBlock(dt=nan)", lambda: CO.StableBlock(dt=nan), r"\bdt\b"),
        ("StableBlock(g_sup=inf)", lambda: CO.StableBlock(g_sup=inf), r"g_sup"),
        ("RotationBlock(theta=nan)", lambda: CO.RotationBlock(nan), r"theta"),
        ("FreeBlock(init with inf)", lambda: CO.FreeBlock(init=torch.tensor([[1.0, inf], [0.0, 1.0]])), r"init"),
        ("EdgeFunction(K=nan)", lambda: CO.EdgeFunction(D.rational, nan), r"\bK\b"),
        ("PeronaMalik(K=10, steps=2.5)", lambda: diffusion.PeronaMalik(K=10.0, steps=2.5), r"steps"),
        ("PeronaMalik(K=10, dt=nan)", lambda: diffusion.PeronaMalik(K=10.0, dt=nan), r"\bdt\b"),
        ("HeatEquation(rho=nan)", lambda: diffusion.HeatEquation(rho=nan), r"rho"),
        ("HeatEquation(dt=inf)", lambda: diffusion.HeatEquation(dt=inf), r"\bdt\b"),
        ("ExplicitFlow(steps=-1)", lambda: EX.ExplicitFlow(CO.EdgeDiffusivity(D.Rational(5.0)), -1, 0.2), r"steps"),
        ("add_gaussian_noise(sigma='5')", lambda: G.add_gaussian_noise(_u(1, 1, 8, 8), "5", seed=0), r"sigma"),
        ("add_gaussian_noise(data_range=0)", lambda: G.add_gaussian_noise(_u(1, 1, 8, 8), 5.0, seed=0, data_range=0),
         r"data_range"),
        ("add_gaussian_noise(data_range=nan, clip=True)",
         lambda: G.add_gaussian_noise(_u(1, 1, 8, 8), 5.0, seed=0, clip=True, data_range=nan), r"data_range"),
        ("add_gaussian_noise(seed=2.5)", lambda: G.add_gaussian_noise(_u(1, 1, 8, 8), 5.0, seed=2.5), r"seed"),
        ("store('clip', data_range=nan)", lambda: G.store(_u(1, 1, 8, 8), "clip", nan), r"data_range"),
        ("heat_blur(T=nan)", lambda: G.heat_blur(_u(1, 1, 8, 8), nan), r"\bT\b"),
    ]
    for name, fn, pattern in ctor:
        add(name, "api", _api_call(fn), "error", pattern)
    steps = [
        ("PeronaMalik(K=10)(u with a NaN)", lambda: diffusion.PeronaMalik(K=10.0)(_nan(1, 1, 8, 8)), r"NaN"),
        ("HeatEquation()(u with inf)", lambda: diffusion.HeatEquation()(_u(1, 1, 8, 8) / 0), r"NaN|inf"),
        ("divergence_step(u, NaN coefficients, .1)",
         lambda: diffusion.divergence_step(_u(1, 1, 8, 8), torch.full((1, 1, 8, 8), nan), 0.1), r"NaN"),
        ("divergence_step(u, Edges with inf, .1, check=False)",
         lambda: diffusion.divergence_step(_u(1, 1, 8, 8), (torch.full((1, 1, 8, 9), inf), torch.ones(1, 1, 9, 8)),
                                           0.1, check=False), r"NaN|inf"),
        ("divergence_step(u with NaN, c, .1)",
         lambda: diffusion.divergence_step(_nan(1, 1, 8, 8), torch.ones(1, 1, 8, 8) * 0.1, 0.1), r"NaN"),
        ("heat_step(u, nan, .1)", lambda: diffusion.heat_step(_u(1, 1, 8, 8), nan, 0.1), r"rho.*NaN|NaN"),
        ("heat_step(u with NaN, 1, .1)", lambda: diffusion.heat_step(_nan(1, 1, 8, 8), 1.0, 0.1), r"NaN"),
        ("heat_step(u, per-pixel rho with inf, .1)",
         lambda: diffusion.heat_step(_u(1, 1, 8, 8), torch.full((1, 1, 8, 8), inf), 0.1), r"rho"),
        ("perona_malik_step(u with NaN)", lambda: diffusion.perona_malik_step(_nan(1, 1, 8, 8), 10.0, 0.1), r"NaN"),
        ("perona_malik_step(dt=nan)", lambda: diffusion.perona_malik_step(_u(1, 1, 8, 8), 10.0, nan), r"\bdt\b"),
        ("flux_step with a NaN reaction", lambda: EX.flux_step(_u(1, 1, 8, 8), 0.1, 0.1, reaction=nan,
                                                             reference=_u(1, 1, 8, 8)), r"reaction"),
        ("flow with a NaN reference", lambda: diffusion.PeronaMalik(K=10.0)(_u(1, 1, 8, 8), _nan(1, 1, 8, 8)),
         r"reference"),
        ("certificate of a NaN diffusivity", lambda: EX.certificate(EX.resolve(nan, _u(1, 1, 8, 8)), 0.1), r"NaN"),
        ("scalar_dt_max of NaN edges", lambda: ST.scalar_dt_max(torch.full((1, 1, 4, 5), nan), torch.ones(1, 1, 5, 4)),
         r"NaN"),
        ("scalar_dt_max_from_sup(inf)", lambda: ST.scalar_dt_max_from_sup(inf), r"finite"),
        ("block_dt_max with a NaN block",
         lambda: ST.block_dt_max(torch.full((1, 2, 2, 4, 5), nan), torch.eye(2)[None, :, :, None, None]), r"NaN"),
        ("max_diffusivity(dt=inf)", lambda: ST.max_diffusivity(inf), r"\bdt\b"),
        ("Certificate(dt=nan).require()", lambda: ST.Certificate(nan, 0.25).require(), r"NaN|number"),
        ("Certificate(dt_max=nan).require(substeps=True)", lambda: ST.Certificate(0.1, nan).require(True),
         r"NaN|number"),
        ("Edge diffusivity with NaN K (certificate)", lambda: _nan_k_certificate(), r"NaN|K"),
    ]
    for name, fn, pattern in steps:
        add(name, "api", _api_call(fn), "error", pattern)
    add("Certificate(dt=nan).holds is False", "api", _api_call(lambda: ST.Certificate(nan, 0.25).holds), "ok",
        check=lambda r, t: r is False)
    add("Certificate(0.1, dt_max=nan).holds is False", "api", _api_call(lambda: ST.Certificate(0.1, nan).holds), "ok",
        check=lambda r, t: r is False)
    add("Roth-Black flow with an infinite weight is not certified", "api", _roth_black_flow(inf), "error",
        r"w.*(NaN|inf)")
    add("Roth-Black flow with a NaN weight is not certified", "api", _roth_black_flow(nan), "error", r"w.*(NaN|inf)")
    add("Roth-Black sup() with an infinite weight", "api",
        _api_call(lambda: _set(D.RothBlack(1), "w", inf).sup()), "error", r"\bw\b")
    add("Spline sup() with a NaN node", "api", _api_call(lambda: _set(D.Spline(), "raw", nan).sup()), "error", r"raw")
    for label, fn, dtype, tol in (
            ("perona_malik bfloat16", lambda x: diffusion.perona_malik(x, 10.0, 0.2, 5), "bfloat16", 0.51),
            ("perona_malik float16", lambda x: diffusion.perona_malik(x, 10.0, 0.2, 5), "float16", 0.07),
            ("heat float16", lambda x: diffusion.heat(x, 1.0, 1.0, 0.2), "float16", 0.07),
            ("heat_spectral bfloat16", lambda x: diffusion.heat_spectral(x, 1.0, 1.0), "bfloat16", 0.51),
            ("perona_malik_step bfloat16", lambda x: diffusion.perona_malik_step(x, 10.0, 0.2), "bfloat16", 0.51),
            ("ssim float16 (0-255)", lambda x: metrics.ssim(x, _other(x, torch.float16), 255.0), "float16", 1e-5),
            ("psnr bfloat16", lambda x: metrics.psnr(x, _other(x, torch.bfloat16), 255.0), "bfloat16", 1e-4)):
        run, check = _half(fn, dtype, tol)
        add(f"half precision: {label} within {tol:g} of float32", "api", run, "ok", check=check)
    add("heat_spectral on a 4 x 20,000 image names a method that suits", "api",
        _api_call(lambda: diffusion.heat_spectral(torch.zeros(1, 1, 4, 20000), 1.0, 1.0)), "error",
        r"diffusion\.heat|explicit")
    add("laplacian_eigenbasis(40,000) is sized first", "api",
        _api_call(lambda: SP.laplacian_eigenbasis(40000, "neumann")), "error", r"GiB|heat")
    add("relative_error of differently shaped images", "api",
        _api_call(lambda: metrics.relative_error(_u(1, 1, 8, 8), _u(1, 1, 8, 9))), "error", r"shape")
    add("relative_error with NaN", "api",
        _api_call(lambda: metrics.relative_error(_nan(1, 1, 8, 8), _u(1, 1, 8, 8))), "error", r"NaN")
    # ------------------------------------------------------------ 5. the command line
    from hardening_cases import png8

    def pm(*a):
        return lambda t: (png8(t), cli(t, "denoise", "in.png", "out.png", *a))[1]

    add("CLI: --K 1e200", "cli", pm("--K", "1e200"), "error", r"--K", leftovers=".*partial*")
    add("CLI: --rho with perona-malik is refused", "cli", pm("--rho", "2"), "error", r"--rho.*not used")
    add("CLI: --T with perona-malik is refused", "cli", pm("--T", "3"), "error", r"--T.*not used")
    add("CLI: --K with heat is refused", "cli", pm("--method", "heat", "--K", "5"), "error", r"--K.*not used")
    add("CLI: --steps with heat is refused", "cli", pm("--method", "heat", "--steps", "5"), "error",
        r"--steps.*not used")
    add("CLI: --sigma with perona-malik is refused", "cli", pm("--sigma", "20"), "error", r"--sigma.*not used")
    add("CLI: --steps with a leaderboard method is refused", "cli", pm("--method", "bm3d", "--steps", "5"), "error",
        r"--steps.*not used")
    add("CLI: --dt 1e300 --substeps is refused (too many sub-steps)", "cli", pm("--dt", "1e300", "--substeps"),
        "error", r"sub-steps")
    add("CLI: output path is a folder", "cli",
        lambda t: (png8(t), (t / "d.png").mkdir(), cli(t, "denoise", "in.png", "d.png"))[2], "error",
        r"folder|directory")
    add("CLI: input path is a folder", "cli", lambda t: ((t / "d.png").mkdir(), cli(t, "denoise", "d.png", "o.png"))[1],
        "error", r"d\.png")
    add("CLI: long runs show progress lines when not on a terminal", "cli", _progress_lines, "ok",
        check=lambda r, t: len(re.findall(r"\d+% \(\d+/\d+ steps\)", r.stderr)) >= 3)
    add("CLI: heat-tuned on a 4 x 20,000 image names a method that suits", "cli", _large_heat_tuned, "error",
        r"heat")
    add("CLI: an empty data folder (PDEDENOISE_DATA) for the authors' model", "cli",
        _cli_env({"PDEDENOISE_DATA": "{tmp}/empty", "PDEDENOISE_CACHE": "{tmp}/empty"}, "denoise", "in.png",
                 "out.png", "--method", "foe-s-authors", "--sigma", "20"), "error", r"PDEDENOISE_DATA|data")
    add("CLI: PDEDENOISE_DATA naming a file", "cli",
        _cli_env({"PDEDENOISE_DATA": "{tmp}/afile"}, "denoise", "in.png", "out.png", "--method", "foe-s-authors",
                 "--sigma", "20"), "error", r"PDEDENOISE_DATA")
    add("CLI: a checksum mismatch in the data folder is one line, exit 2", "cli", _cli_corrupt_data, "error",
        r"checksum")
    add("CLI: a planted shard does not change the authors' model", "security", _cli_planted_shard, "ok",
        check=_improved_png)
    add("CLI: methods lists without a traceback", "cli", lambda t: cli(t, "methods"), "ok",
        check=lambda r, t: "perona-malik" in r.stdout)
    return c


import re  # noqa: E402  (used by the checks above)


def _api_call(fn):
    return lambda tmp: fn()


def _other(x, half):
    """A second image from ``x``, rounded to ``half`` and then given ``x``'s dtype (the same values either way)."""
    return (x.float() * 0.9 + 5).to(half).to(x.dtype)


def _set(module, name: str, value: float):
    import torch

    with torch.no_grad():
        getattr(module, name).fill_(value)
    return module


def _nan_k_certificate():
    import torch

    from pdedenoise import diffusivities as D
    from pdedenoise.solvers.coefficients import EdgeDiffusivity

    g = D.Rational(5.0, learnable=True)
    with torch.no_grad():
        g.log_K.fill_(float("nan"))
    return EdgeDiffusivity(g).dt_max()


CASES2 = _cases
