"""The DeepXDE inverse problem of Kharro, Douiri and Moumni (2026): a PINN with a trainable diffusivity.

A network ``v(x, y, t; theta)`` with tanh activations is fitted together with a scalar
diffusivity ``rho`` (Algorithm 3.1/3.2 of the paper) by minimising the sum of three mean squared
terms:

* the PDE residual ``v_t - rho * Laplacian(v)`` at random collocation points in space-time,
* ``v - v0`` at ``t = 0`` on the pixel grid (``v0`` = the noisy image),
* ``v - vT`` at ``t = T`` on the pixel grid (``vT`` = the clean image).

The paper's loss has no boundary term, and neither has this one. ``rho = exp(s)`` with ``s`` a
trainable DeepXDE variable, so it stays positive.

Units. ``rho`` must mean what it means in the restoration solver, whose 5-point Laplacian has unit
pixel spacing. The network sees normalised inputs ``(x~, y~, t~) in [0, 1]^3`` with ``x = x~ * W``
pixels, ``y = y~ * H`` pixels and ``t = t~ * T``, and the residual is written in pixel units:
``v_t~ / T - rho * (v_x~x~ / W^2 + v_y~y~ / H^2)``. Grey values are divided by 255.

DeepXDE is imported lazily, inside :func:`fit_heat_pinn`, with the PyTorch backend chosen through
``DDE_BACKEND`` (never an interactive prompt), and torch's default device is restored afterwards
(importing DeepXDE on a GPU machine changes it).
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

os.environ.setdefault("DDE_BACKEND", "pytorch")


@dataclass
class PINNConfig:
    """Settings of the PINN (the paper states only tanh, Adam and the learning rate 1e-4).

    Attributes:
        hidden: width of each hidden layer.
        depth: number of hidden layers.
        iterations: Adam iterations.
        lr: Adam learning rate (the paper: 1e-4), shared by the network and ``log rho``.
        rho_init: initial diffusivity.
        num_domain: random collocation points in space-time for the PDE residual.
        record_every: iterations between records of rho and of the three loss terms.
        seed: seeds DeepXDE (Python, NumPy, torch): network initialisation and collocation points.
        boundary: ``"none"`` (the paper's three-term loss) or ``"dirichlet"``: a fourth term
            ``v = 0`` on the spatial boundary of the unit square at ``num_boundary`` random points.
            Without a boundary term the inverse problem is not well posed: the boundary values are
            free and can trade off against rho (a known rho is then recovered with a bias).
        num_boundary: boundary points for ``boundary="dirichlet"``.
        num_threads: torch CPU threads during training (restored afterwards); ``None`` leaves the
            setting alone. The tensors are small: on a shared 2-core machine 1 thread avoids
            thread oversubscription, which was seen to slow training down by 10x or more.
    """

    hidden: int = 50
    depth: int = 3
    iterations: int = 2000
    lr: float = 1e-4
    rho_init: float = 1.0
    num_domain: int = 2000
    record_every: int = 50
    seed: int = 0
    boundary: str = "none"
    num_boundary: int = 400
    num_threads: int | None = None


@dataclass
class PINNResult:
    """What a PINN run found.

    Attributes:
        rho: the final diffusivity rho*.
        steps: iterations at which rho and the losses were recorded.
        rho_history: rho at each recorded step (its trajectory).
        loss_steps: iterations at which the three loss terms were recorded.
        loss_pde, loss_initial, loss_final: the three loss terms (mean squared, grey values / 255).
        seconds: training wall time.
        v0, vT: the network's images at t = 0 and t = T on the pixel grid, (1, 1, H, W), 0–255.
        config: the settings used.
    """

    rho: float
    steps: list[int]
    rho_history: list[float]
    loss_steps: list[int]
    loss_pde: list[float]
    loss_initial: list[float]
    loss_final: list[float]
    seconds: float
    v0: torch.Tensor
    vT: torch.Tensor
    config: PINNConfig = field(default_factory=PINNConfig)

    def summary(self) -> dict:
        """A JSON-friendly dict (no images)."""
        return {"rho": self.rho, "steps": self.steps, "rho_history": self.rho_history,
                "loss_steps": self.loss_steps, "loss_pde": self.loss_pde, "loss_initial": self.loss_initial, "loss_final": self.loss_final,
                "seconds": self.seconds, "config": asdict(self.config)}


def pixel_points(h: int, w: int, t: float) -> np.ndarray:
    """Pixel centres of an h x w image as normalised ``(x~, y~, t~)`` rows, shape (h*w, 3), row-major."""
    ys, xs = np.meshgrid((np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel(), np.full(h * w, t)], axis=1).astype(np.float32)


def _quiet():
    """Swallow DeepXDE's console chatter (its backend banner on import, "Compiling model..." lines)."""
    sink = io.StringIO()
    return contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink)


def _import_deepxde():
    previous = torch.get_default_device() if hasattr(torch, "get_default_device") else torch.device("cpu")
    out, err = _quiet()
    with out, err:
        import deepxde as dde  # noqa: WPS433 (lazy on purpose)

    if dde.backend.backend_name != "pytorch":
        raise RuntimeError(f"pdedenoise.pinn needs DeepXDE's PyTorch backend, got {dde.backend.backend_name!r}; "
                           "set DDE_BACKEND=pytorch before importing deepxde")
    return dde, previous


def fit_heat_pinn(v0: torch.Tensor, vT: torch.Tensor, T: float = 1.0, config: PINNConfig | None = None,
                  progress: bool = False) -> PINNResult:
    """Fit ``v(x, y, t)`` and ``rho`` to ``v(0) = v0``, ``v(T) = vT`` and ``v_t = rho Laplacian v``.

    Args:
        v0: the image at t = 0 (the noisy image), (1, 1, H, W), 0–255.
        vT: the image at t = T (the clean image), (1, 1, H, W), 0–255.
        T: final time, in the solver's time units (pixel spacing 1).
        config: network and training settings.
        progress: show a tqdm bar over the iterations.
    Returns:
        a :class:`PINNResult`.
    """
    config = config or PINNConfig()
    if v0.shape != vT.shape or v0.ndim != 4 or v0.shape[:2] != (1, 1):
        raise ValueError(f"v0 and vT must both have shape (1, 1, H, W); got {tuple(v0.shape)} and {tuple(vT.shape)}")
    h, w = v0.shape[-2:]
    dde, previous_device = _import_deepxde()
    previous_threads = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        dde.config.set_random_seed(config.seed)
        log_rho = dde.Variable(math.log(config.rho_init), dtype=torch.float32)

        def pde(x, v):
            v_t = dde.grad.jacobian(v, x, i=0, j=2)
            v_xx = dde.grad.hessian(v, x, i=0, j=0)
            v_yy = dde.grad.hessian(v, x, i=1, j=1)
            return v_t - (T * torch.exp(log_rho)) * (v_xx / w**2 + v_yy / h**2)

        geomtime = dde.geometry.GeometryXTime(dde.geometry.Rectangle([0.0, 0.0], [1.0, 1.0]),
                                              dde.geometry.TimeDomain(0.0, 1.0))
        p0, pT = pixel_points(h, w, 0.0), pixel_points(h, w, 1.0)
        val0 = (v0.detach().double().cpu().numpy().reshape(-1, 1) / 255.0).astype(np.float32)
        valT = (vT.detach().double().cpu().numpy().reshape(-1, 1) / 255.0).astype(np.float32)
        bcs = [dde.icbc.PointSetBC(p0, val0), dde.icbc.PointSetBC(pT, valT)]
        if config.boundary == "dirichlet":
            bcs.append(dde.icbc.DirichletBC(geomtime, lambda x: np.zeros((len(x), 1)),
                                            lambda x, on_boundary: on_boundary))
        elif config.boundary != "none":
            raise ValueError(f"boundary must be 'none' or 'dirichlet', got {config.boundary!r}")
        n_boundary = config.num_boundary if config.boundary == "dirichlet" else 0
        data = dde.data.TimePDE(geomtime, pde, bcs, num_domain=config.num_domain, num_boundary=n_boundary,
                                num_initial=0,
                                anchors=np.concatenate([p0, pT]))
        net = dde.nn.FNN([3] + [config.hidden] * config.depth + [1], "tanh", "Glorot normal")
        model = dde.Model(data, net)
        out, err = _quiet()
        with out, err:
            model.compile("adam", lr=config.lr, external_trainable_variables=[log_rho])

        steps: list[int] = []
        rho_hist: list[float] = []

        class Record(dde.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.bar = None

            def on_train_begin(self):
                steps.append(0)
                rho_hist.append(float(torch.exp(log_rho).detach()))
                if progress:
                    from tqdm.auto import tqdm

                    self.bar = tqdm(total=config.iterations, desc="PINN", leave=False)

            def on_epoch_end(self):
                it = self.model.train_state.step
                if self.bar is not None:
                    self.bar.update(1)
                if it % config.record_every == 0:
                    steps.append(int(it))
                    rho_hist.append(float(torch.exp(log_rho).detach()))
                    if self.bar is not None:
                        self.bar.set_postfix(rho=f"{rho_hist[-1]:.4f}")

            def on_train_end(self):
                if self.bar is not None:
                    self.bar.close()

        t0 = time.perf_counter()
        model.train(iterations=config.iterations, display_every=config.record_every, callbacks=[Record()],
                    verbose=0)
        seconds = time.perf_counter() - t0

        hist = model.losshistory
        losses = np.asarray(hist.loss_train, dtype=float).reshape(len(hist.steps), -1)
        pred0 = np.asarray(model.predict(p0), dtype=np.float64).reshape(1, 1, h, w) * 255.0
        predT = np.asarray(model.predict(pT), dtype=np.float64).reshape(1, 1, h, w) * 255.0
        return PINNResult(
            rho=float(torch.exp(log_rho).detach()), steps=steps, rho_history=rho_hist,
            loss_steps=[int(s) for s in hist.steps], loss_pde=losses[:, 0].tolist(),
            loss_initial=losses[:, 1].tolist(), loss_final=losses[:, 2].tolist(), seconds=seconds,
            v0=torch.from_numpy(pred0), vT=torch.from_numpy(predT), config=config,
        )
    finally:
        torch.set_num_threads(previous_threads)
        if hasattr(torch, "set_default_device"):
            torch.set_default_device(previous_device)

