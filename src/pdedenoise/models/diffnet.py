"""DiffNet: learned explicit diffusion layers (Arridge and Hauptmann, J Math Imaging Vis 2020).

One DiffNet layer is one explicit step of a discrete diffusion whose 5-point stencil is predicted,
pixel by pixel, from the layer's own input::

    x <- x + dt * (zeta_1 x_up + zeta_2 x_left + zeta_3 x_down + zeta_4 x_right - zeta_5 x)

``x_up[i, j] = x[i - 1, j]`` etc. (:func:`pdedenoise.stencils.neighbours`, ghost pixels at the
boundary). The five filter images ``zeta`` come from a small CNN, the *filter estimator*:
``K - 1`` 3x3 convolutions with ``hidden`` channels and ReLU, then a 3x3 convolution to 5 channels
without nonlinearity (zero padding keeps the image size). ``dt`` is one learnable scalar per layer.
A DiffNet stacks ``L`` layers and ends with a ReLU, so its output is non-negative.

With ``zeta = c * (1, 1, 1, 1, 4)`` a layer is exactly the explicit heat step
``x + c dt * Laplacian(x)``; with ``zeta_5 = zeta_1 + ... + zeta_4`` it is a (non-conservative)
diffusion step; the *filter sum* ``zeta_1 + zeta_2 + zeta_3 + zeta_4 - zeta_5`` measures how far a
layer departs from that, i.e. the reaction part ``x <- x + dt * sum * x`` of the update.

Parameter count, with biases and the learnable dt (as the authors' TensorFlow code, whose
``tf.contrib.layers.conv2d`` has biases by default):

* first conv ``in -> hidden``: ``9 in hidden + hidden``;
* each of the ``K - 2`` middle convs: ``9 hidden^2 + hidden``;
* last conv ``hidden -> 5``: ``45 hidden + 5``;
* plus 1 for ``dt``.

For ``in = 1, hidden = 32, K = 4``: 320 + 2 * 9248 + 1445 + 1 = 20,262 per layer, and
5 layers give 101,310, the number printed in the paper. Without biases (100,805) or without the
learnable dt (101,305) the count does not match, so both are in.

Images are (N, C, H, W) float tensors on any value scale (the paper uses 0–1, max 1). The
estimator sees all C channels; the same 5 filters act on every channel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..solvers.stability import stencil_linf_gain
from ..stencils import BoundaryCondition, check_image, neighbours

N_FILTERS = 5
#: Initialisations of the filter estimators (see :class:`FilterEstimator`).
INITS = ("glorot", "identity")


# --------------------------------------------------------------------------- functional core


def diffusion_update(x: torch.Tensor, zeta: torch.Tensor, dt: torch.Tensor | float,
                     bc: BoundaryCondition = "neumann") -> torch.Tensor:
    """One DiffNet update ``x + dt (z1 x_up + z2 x_left + z3 x_down + z4 x_right - z5 x)``.

    Args:
        x: images, (N, C, H, W), any value scale.
        zeta: filter images, (N, 5, H, W) (broadcast over the C channels of ``x``) or (N, 5 C, H, W)
            grouped as 5 filters per channel. Order: up, left, down, right, centre.
        dt: step size (a float or a 0-d tensor, e.g. a learnable parameter).
        bc: boundary ghost pixels for the neighbours, ``"neumann"`` (repeat) or ``"dirichlet"`` (0).
    Returns:
        (N, C, H, W).
    """
    n, c, h, w = x.shape
    if zeta.shape[1] == N_FILTERS:
        z = zeta.unsqueeze(2)  # (N, 5, 1, H, W)
    elif zeta.shape[1] == N_FILTERS * c:
        z = zeta.reshape(n, N_FILTERS, c, h, w)
    else:
        raise ValueError(f"zeta must have 5 or 5*C={5 * c} channels, got shape {tuple(zeta.shape)}")
    up, left, down, right = neighbours(x, bc)
    flow = z[:, 0] * up + z[:, 1] * left + z[:, 2] * down + z[:, 3] * right - z[:, 4] * x
    return x + dt * flow


def filter_sum(zeta: torch.Tensor) -> torch.Tensor:
    """``zeta_1 + zeta_2 + zeta_3 + zeta_4 - zeta_5``, (N, 5, H, W) -> (N, 1, H, W).

    Zero where the layer is a pure diffusion step (its stencil sums to zero, constants are kept);
    positive where it amplifies, negative where it damps the pixel value.
    """
    return zeta[:, :4].sum(dim=1, keepdim=True) - zeta[:, 4:5]


def heat_filters(x: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """The filters ``c * (1, 1, 1, 1, 4)`` that turn a DiffNet layer into an explicit heat step."""
    n, _, h, w = x.shape
    base = torch.tensor([1.0, 1.0, 1.0, 1.0, 4.0], dtype=x.dtype, device=x.device)
    return (c * base).reshape(1, N_FILTERS, 1, 1).expand(n, N_FILTERS, h, w)


def estimator_parameter_count(in_channels: int = 1, hidden: int = 32, conv_layers: int = 4,
                              bias: bool = True) -> int:
    """Weights (and biases) of one filter estimator with ``conv_layers`` 3x3 convolutions."""
    if conv_layers < 1:
        raise ValueError(f"the estimator needs at least one convolution, got conv_layers={conv_layers}")
    chans = [in_channels] + [hidden] * (conv_layers - 1) + [N_FILTERS]
    return sum(9 * a * b + (b if bias else 0) for a, b in zip(chans[:-1], chans[1:]))


def diffnet_parameter_count(layers: int = 5, conv_layers: int = 4, hidden: int = 32, in_channels: int = 1,
                            bias: bool = True, learnable_dt: bool = True) -> int:
    """Closed-form parameter count of :class:`DiffNet` (101,310 for the paper's 5 x 4 network)."""
    per_layer = estimator_parameter_count(in_channels, hidden, conv_layers, bias) + int(learnable_dt)
    return layers * per_layer


# --------------------------------------------------------------------------- modules


class FilterEstimator(nn.Module):
    """Small CNN ``x -> zeta``: (N, C, H, W) -> (N, 5, H, W).

    ``conv_layers - 1`` 3x3 convolutions with ``hidden`` channels, each followed by ReLU, and a
    last 3x3 convolution to 5 channels without nonlinearity; zero padding ("same" size).

    ``init="glorot"`` (default): Glorot-uniform weights and zero biases, TensorFlow's default that the
    authors used; the first layers then predict random stencils. ``init="identity"``: the same, but the
    last convolution starts at zero, so ``zeta = 0`` and the layer starts as the identity map (like the
    residual U-Net); an option for the chapter's ablation, not the paper's choice.
    """

    def __init__(self, in_channels: int = 1, hidden: int = 32, conv_layers: int = 4, bias: bool = True,
                 init: str = "glorot"):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; use one of {INITS}")
        chans = [in_channels] + [hidden] * (conv_layers - 1) + [N_FILTERS]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1, bias=bias) for a, b in zip(chans[:-1], chans[1:]))
        for conv in self.convs:
            nn.init.xavier_uniform_(conv.weight)
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
        if init == "identity":
            nn.init.zeros_(self.convs[-1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for k, conv in enumerate(self.convs):
            x = conv(x)
            if k < len(self.convs) - 1:
                x = F.relu(x)
        return x


class DiffLayer(nn.Module):
    """One DiffNet layer: filters from :class:`FilterEstimator`, then :func:`diffusion_update`.

    Args:
        dt: initial step size (0.2 in the authors' code); learnable unless ``learnable_dt=False``.
        bc: boundary ghost pixels of the neighbour images.
        init: ``"glorot"`` (the authors') or ``"identity"`` (the layer starts as the identity map).
    """

    def __init__(self, in_channels: int = 1, hidden: int = 32, conv_layers: int = 4, dt: float = 0.2,
                 learnable_dt: bool = True, bc: BoundaryCondition = "neumann", bias: bool = True,
                 init: str = "glorot"):
        super().__init__()
        self.estimator = FilterEstimator(in_channels, hidden, conv_layers, bias, init)
        t = torch.tensor(float(dt))
        if learnable_dt:
            self.dt = nn.Parameter(t)
        else:
            self.register_buffer("dt", t)
        self.bc = bc

    def forward(self, x: torch.Tensor, return_filters: bool = False):
        zeta = self.estimator(x)
        out = diffusion_update(x, zeta, self.dt, self.bc)
        return (out, zeta) if return_filters else out


class DiffNet(nn.Module):
    """``layers`` DiffNet layers followed by a ReLU (non-negative output).

    Input and output: (N, C, H, W), value scale of the training data (0–1 in the paper).
    ``DiffNet()`` is the paper's 5-layer network with 4-layer estimators: 101,310 parameters.
    ``init="identity"`` starts every layer as the identity map (the network then starts as ``relu``).
    """

    def __init__(self, layers: int = 5, conv_layers: int = 4, hidden: int = 32, in_channels: int = 1,
                 dt: float = 0.2, learnable_dt: bool = True, bc: BoundaryCondition = "neumann",
                 bias: bool = True, final_relu: bool = True, init: str = "glorot"):
        super().__init__()
        self.config = dict(layers=layers, conv_layers=conv_layers, hidden=hidden, in_channels=in_channels,
                           dt=dt, learnable_dt=learnable_dt, bc=bc, bias=bias, final_relu=final_relu, init=init)
        self.layers = nn.ModuleList(
            DiffLayer(in_channels, hidden, conv_layers, dt, learnable_dt, bc, bias, init) for _ in range(layers))
        self.final_relu = final_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, "x")
        for layer in self.layers:
            x = layer(x)
        return F.relu(x) if self.final_relu else x

    @torch.no_grad()
    def trace(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Every intermediate state and the filters of every layer (no gradients).

        Returns:
            ``states``: ``[x, x_1, ..., x_L, relu(x_L)]`` (L + 2 tensors (N, C, H, W));
            ``filters``: ``[zeta_1, ..., zeta_L]``, each (N, 5, H, W).
        """
        states, filters = [x], []
        for layer in self.layers:
            x, zeta = layer(x, return_filters=True)
            states.append(x)
            filters.append(zeta)
        states.append(F.relu(x) if self.final_relu else x)
        return states, filters

    @torch.no_grad()
    def stencil_gains(self, x: torch.Tensor) -> list[float]:
        """Per layer, the largest l-infinity gain of its step on inputs ``x`` (float64).

        A layer whose gain is <= 1 at every pixel cannot amplify the image's largest absolute value (it
        is then a stable explicit diffusion step, :func:`pdedenoise.solvers.stability.stencil_linf_gain`);
        the paper's DiffNet is not constrained to this, so the gains report how far each learned layer is
        from such a step. ``x``: (N, C, H, W).
        """
        _, filters = self.trace(x)
        return [float(stencil_linf_gain(z, layer.dt).max()) for z, layer in zip(filters, self.layers)]

    @property
    def dts(self) -> list[float]:
        """The (learned) step size of each layer."""
        return [float(layer.dt.detach()) for layer in self.layers]


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of a module."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
