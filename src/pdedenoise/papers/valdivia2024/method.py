"""Valdivia Ortega, Haas and Effland (2024): the learned-diffusivity models, in torch, on the shared solver.

Every model is 10 explicit steps ``u <- u + gamma div(g grad u)`` of the book's flux-form solver
(:class:`~pdedenoise.solvers.explicit.ExplicitFlow`), with the diffusivity ``g`` recomputed from the
current iterate at every step by the model's network, on the image padded by 8 pixels with one constant
(the mean of the whole batch) and cropped afterwards. As in the authors' code (their checkpoints and
tables follow it), differences are forward differences, zero across the last row and column, and the
diffusivity of the edge between pixels ``i`` and ``i + 1`` is the value at pixel ``i`` (no averaging), or
for KA the value computed from that edge's own difference:

* **KA** (:class:`KAutomation`): ``g = 1 / (1 + k d^2)`` per edge, ``k = 1 / (1 + z^2)`` with ``z`` from an
  Xception-like CNN of the current iterate (:class:`KappaNet`), i.e. Perona–Malik with ``K^2 = 1 + z^2``;
* **FoE** (:class:`FieldsOfExperts`): experts ``e = sigmoid(conv_{k x k, F}(standardised u))`` and
  ``g = exp(sum_f phi_f(e_f))`` with ``phi`` piecewise linear on 20 intervals of [0, 1] (``"splines"``,
  ``"decreasing"``), ``g = exp(sum_i c_i (e_i - s_i)^p)`` (``"monomials"``), or
  ``g = prod_i (1 + e_i^2 / 2)^(-exp(w_i))`` (``"RothBlack"``);
* **U-Net** (:class:`UNetDiffusivity`): ``g`` from a small U-Net with a sigmoid output.

TensorFlow details kept: "same" convolutions put the extra padding pixel after (bottom/right), max pooling
pads with -inf, per-image standardisation divides by ``max(std, 1/sqrt(n))``, batch normalisation runs in
inference mode (the checkpoints' moving means are 0 and variances 1: an affine map), epsilon 1e-3.

**Three bugs of the authors' code are reproduced by default** (``faithful=True``), each with the switch
the paper intends: FoE "decreasing" is identical to "splines" (the code tests ``'Decreasing'`` with a
capital D, so the slopes are never made negative); FoE "monomials" raises every expert to the power
``F - 1`` (a Python closure binds the loop variable late) instead of ``i``; the spline offsets ``n^2``
start at 0 and so never train (their gradient ``2n`` is 0).

The step ``gamma = 1`` (KA, FoE) lies beyond the explicit scheme's stability bound once ``g > 1/4``; the
faithful models therefore run with the solver's check switched off (``check="off"``), as the paper does.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ... import kernels, nativeconv
from ...kernels import reference_path, use_compiled  # noqa: F401  (re-exported)
from ...diffusivities import Diffusivity
from ...solvers.coefficients import CoefficientModel, Edges
from ...solvers.explicit import ExplicitFlow, flux_step
from ...solvers.stability import scalar_dt_max_from_sup

PAD = 8
STEPS = 10
N_CLASSES = 20
BN_EPS = 1e-3
FOE_TYPES = ("splines", "decreasing", "monomials", "RothBlack")


# --------------------------------------------------------------------------- TensorFlow conventions in torch


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding (before, after) of one dimension: the extra pixel goes after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _keep_format(padded: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``padded`` in ``like``'s memory format (``F.pad`` returns a contiguous tensor)."""
    if like.dim() == 4 and like.is_contiguous(memory_format=torch.channels_last) and not like.is_contiguous():
        return padded.contiguous(memory_format=torch.channels_last)
    return padded


def conv_same(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1,
              groups: int = 1) -> torch.Tensor:
    """``Conv2D(padding="same")`` with a torch weight (out, in / groups, kh, kw). Symmetric padding is the
    convolution's own (no padded copy), so a channels-last input stays channels-last; TensorFlow's uneven padding
    (the extra pixel after) pads first."""
    kh, kw = weight.shape[-2:]
    top, bottom = same_pads(x.shape[-2], kh, stride)
    left, right = same_pads(x.shape[-1], kw, stride)
    if top == bottom and left == right:
        return F.conv2d(x, weight, bias, stride=stride, padding=(top, left), groups=groups)
    return F.conv2d(_keep_format(F.pad(x, (left, right, top, bottom)), x), weight, bias, stride=stride, groups=groups)


def max_pool_same(x: torch.Tensor, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    """``MaxPooling2D(kernel, stride, padding="same")``: pads with -inf. The pooling's own padding (symmetric)
    or its ceil mode (one extra pixel after, TensorFlow's uneven case) where they give the same windows, without
    a padded copy."""
    top, bottom = same_pads(x.shape[-2], kernel, stride)
    left, right = same_pads(x.shape[-1], kernel, stride)
    if top == bottom and left == right and max(top, left) <= kernel // 2:
        return F.max_pool2d(x, kernel, stride, padding=(top, left))
    if stride > 1 and top == left == 0 and bottom <= 1 and right <= 1:  # the last window starts inside, runs past
        return F.max_pool2d(x, kernel, stride, ceil_mode=True)
    return F.max_pool2d(F.pad(x, (left, right, top, bottom), value=-math.inf), kernel, stride)


def per_image_standardization(x: torch.Tensor) -> torch.Tensor:
    """``tf.image.per_image_standardization``: ``(x - mean) / max(std, 1 / sqrt(n))`` per image."""
    n = x[0].numel()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = (x - mean).pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
    return (x - mean) / std.clamp_min(1.0 / math.sqrt(n))


class Conv(nn.Module):
    """A "same" convolution with TensorFlow's padding (optionally strided, depthwise or without bias)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, bias: bool = True, groups: int = 1):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin // groups, kernel, kernel))
        nn.init.xavier_uniform_(self.weight)  # Keras' default (Glorot uniform)
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.stride, self.groups = stride, groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_same(x, self.weight, self.bias, self.stride, self.groups)


class FrozenBatchNorm(nn.Module):
    """Batch normalisation in inference mode: ``gamma (x - mean) / sqrt(var + eps) + beta`` (trainable gamma, beta)."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # one pass over x: x a + (beta - mean a), a = gamma / sqrt(var + eps) (equal to the four-pass form up to
        # float32 round-off)
        shape = (1, -1, 1, 1)
        a = self.gamma / torch.sqrt(self.var + BN_EPS)
        return torch.addcmul((self.beta - self.mean * a).reshape(shape), x, a.reshape(shape))


class SeparableConv(nn.Module):
    """``SeparableConv2D``: a depthwise k x k convolution, then a pointwise 1 x 1 one with a bias."""

    def __init__(self, cin: int, cout: int, kernel: int = 3):
        super().__init__()
        self.depthwise = Conv(cin, cin, kernel, bias=False, groups=cin)
        self.pointwise = Conv(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


# --------------------------------------------------------------------------- the networks


class _PerImage:
    """A network whose images do not interact (frozen normalisations) runs a batch image by image: each image's
    activations stay in the cache where the whole batch's would not (about 2x faster at batch 8 on CPU, the same
    numbers). ``batch_coupled`` (set by the gap experiment of training-mode batch norm, whose batch statistics
    couple the images) runs the batch in one pass."""

    batch_coupled = False

    def _per_image(self, run, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 1 and not _PerImage.batch_coupled:
            return torch.cat([run(x[i:i + 1]) for i in range(x.shape[0])])
        return run(x)


class KappaNet(_PerImage, nn.Module):
    """KA's CNN: conv 32 stride 2, conv 64, four residual blocks of separable convolutions (16/32/64/128)
    with max pooling, a separable convolution to 1024 channels, global average pooling, a dense layer.
    (N, 1, H, W) -> (N,)."""

    def __init__(self, latent: int = 1024):
        super().__init__()
        self.stem = nn.ModuleList([Conv(1, 32, 3, stride=2), FrozenBatchNorm(32), Conv(32, 64, 3), FrozenBatchNorm(64)])
        blocks, cin = [], 64
        for size in (16, 32, 64, 128):
            blocks.append(nn.ModuleList([SeparableConv(cin, size), FrozenBatchNorm(size), SeparableConv(size, size),
                                         FrozenBatchNorm(size), Conv(cin, size, 1, stride=2)]))
            cin = size
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.ModuleList([SeparableConv(128, latent), FrozenBatchNorm(latent)])
        self.dense = nn.Linear(latent, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._per_image(self._forward, x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        c1, b1, c2, b2 = self.stem
        # channels-last activations from the first convolution on (one input channel has no layout to keep): the
        # convolutions' fast layout on CPU, the depthwise ones above all
        x = c1(x).contiguous(memory_format=torch.channels_last)
        x = F.relu(b2(c2(F.relu(b1(x)))))
        previous = x
        for sep1, bn1, sep2, bn2, residual in self.blocks:
            x = bn1(sep1(F.relu(x)))
            x = bn2(sep2(F.relu(x)))
            x = max_pool_same(x, 3, 2) + residual(previous)
            previous = x
        x = F.relu(self.head[1](self.head[0](x)))
        return self.dense(x.mean(dim=(2, 3)))[:, 0]


class UNetG(_PerImage, nn.Module):
    """The U-Net diffusivity: standardised input, ``depth`` levels of three k x k convolutions (4, 8, ... channels,
    batch norm, ReLU) with 2 x 2 max pooling, a 5 x 5 bottleneck, transposed k x k convolutions and 5 x 5 blocks on
    the way up, a 1 x 1 convolution with a sigmoid. (N, 1, H, W) -> (N, 1, H, W) in (0, 1); H, W divisible by 2^depth."""

    def __init__(self, depth: int = 2, kernel: int = 3, n_conv: int = 3):
        super().__init__()

        def block(cin, cout, k):
            layers = []
            for i in range(n_conv):
                layers += [Conv(cin if i == 0 else cout, cout, k), FrozenBatchNorm(cout)]
            return nn.ModuleList(layers)

        widths = [2 ** (2 + level) for level in range(depth)]
        self.down = nn.ModuleList(block(1 if i == 0 else widths[i - 1], w, kernel) for i, w in enumerate(widths))
        self.bottom = block(widths[-1], 2 ** (2 + depth), 5)
        ups, cin = [], 2 ** (2 + depth)
        for w in reversed(widths):
            up = nn.ConvTranspose2d(cin, w, kernel, stride=2)
            ups.append(nn.ModuleList([up, block(2 * w, w, 5)]))
            cin = w
        self.up = nn.ModuleList(ups)
        self.head = Conv(widths[0], 1, 1)
        self.kernel = kernel

    @staticmethod
    def _run(block, x):
        for conv, bn in zip(block[0::2], block[1::2]):
            x = F.relu(bn(conv(x)))
        return x

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self._per_image(lambda v: torch.sigmoid(self.head(self.features(per_image_standardization(v)))), u)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The U-Net body before the 1x1 head: (N, 1, H, W) -> (N, C, H, W), channels-last inside (the
        convolutions' fast layout on CPU)."""
        x = x.contiguous(memory_format=torch.channels_last)
        skips = []
        for block in self.down:
            x = self._run(block, x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self._run(self.bottom, x)
        for (up, block), skip in zip(self.up, reversed(skips)):
            h, w = skip.shape[-2:]
            before = same_pads(h, self.kernel, 2)[0]  # the transposed "same" convolution keeps 2 x in
            x = up(x)[..., before:before + h, before:before + w]
            x = self._run(block, torch.cat([x, skip], dim=1))
        return x


# --------------------------------------------------------------------------- Fields-of-Experts diffusivities


class FoEDiffusivity(Diffusivity):
    """The FoE diffusivity of the authors' code, ``g(e)`` for experts ``e`` in (0, 1)^F (their parameterisation).

    Args:
        kind: ``"splines"``, ``"decreasing"``, ``"monomials"`` or ``"RothBlack"``.
        experts: F.
        faithful: reproduce the authors' code (see the module docstring) or the paper's intent.
    Parameters: splines/decreasing: ``slopes`` (F, 20) and ``offsets`` (F,) with ``phi_f(0) = offsets^2``
    (faithful) or ``offsets`` (intended); monomials: ``c`` (F,) and ``s`` (F,); Roth–Black: ``w`` (F,).
    """

    def __init__(self, kind: str, experts: int, faithful: bool = True):
        super().__init__()
        if kind not in FOE_TYPES:
            raise ValueError(f"unknown FoE type {kind!r}; use one of {FOE_TYPES}")
        self.kind, self.in_features, self.faithful = kind, experts, faithful
        self.domain = (0.0, 1.0)
        if kind in ("splines", "decreasing"):
            self.slopes = nn.Parameter(torch.zeros(experts, N_CLASSES))
            self.offsets = nn.Parameter(torch.zeros(experts))
            edges = torch.linspace(0, 1, N_CLASSES + 1, dtype=torch.float64)
            self.register_buffer("low", edges[:-1].float())
            self.register_buffer("up", edges[1:].float())
        elif kind == "monomials":
            self.c = nn.Parameter(torch.zeros(experts))
            self.s = nn.Parameter(torch.zeros(experts))
        else:
            self.w = nn.Parameter(torch.zeros(experts))

    def effective_slopes(self) -> torch.Tensor:
        """The slopes the model uses: as learned, or ``-slopes^2`` for the paper's decreasing family."""
        if self.kind == "decreasing" and not self.faithful:
            return -self.slopes ** 2
        return self.slopes

    def phi(self, e: torch.Tensor) -> torch.Tensor:
        """Per expert ``phi_f(e_f)``, (N, F, H, W), for the spline families.

        As the authors' code: ``e`` in interval ``k`` when ``low_k < e <= up_k``; ``phi = offset + sum of the
        slopes / 20 of the intervals passed (e > up_k) + slope_k * fmod(e, 1/20)``. Evaluated by a lookup of
        the interval (one gather) instead of the code's 20 masks per expert: the same numbers up to the
        order of a float32 sum.
        """
        f = self.effective_slopes()
        F_ = self.in_features
        passed = torch.searchsorted(self.up, e.contiguous())  # (N, F, H, W): intervals passed (up_k < e), 0..20
        cumulative = F.pad(torch.cumsum(f / N_CLASSES, dim=1), (1, 0))  # (F, 21): sum over the intervals passed
        row = (torch.arange(F_, device=e.device) * (N_CLASSES + 1)).reshape(1, -1, 1, 1)
        base = cumulative.reshape(-1)[passed + row]
        k = passed.clamp(max=N_CLASSES - 1)
        inside = (passed < N_CLASSES) & (e > self.low[k])
        width = torch.tensor(1.0 / N_CLASSES, dtype=e.dtype, device=e.device)
        slope = f.reshape(-1)[k + (row // (N_CLASSES + 1)) * N_CLASSES]
        full = slope * (torch.remainder(e, width) * inside)
        offset = (self.offsets ** 2 if self.faithful else self.offsets).reshape(1, -1, 1, 1)
        return base + offset + full

    def phi_sum(self, e: torch.Tensor) -> torch.Tensor:
        """``sum_f phi_f(e_f)``, (N, F, H, W) -> (N, 1, H, W), for the spline families: equal to
        ``phi(e).sum(1)`` to float32 round-off of the sum's order (tested, values and gradients), in one fused
        pass (:class:`_SplineSum`) that locates the interval arithmetically and keeps only ``e`` for the backward."""
        offset = self.offsets ** 2 if self.faithful else self.offsets
        return _SplineSum.apply(e, self.effective_slopes(), offset)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        if self.kind in ("splines", "decreasing"):
            if kernels.reference():
                return torch.exp(self.phi(e).sum(dim=1, keepdim=True))
            return torch.exp(self.phi_sum(e))
        if self.kind == "monomials":
            F_ = self.in_features
            p = torch.full((F_,), float(F_ - 1)) if self.faithful else torch.arange(F_, dtype=torch.float32)
            terms = self.c.reshape(1, -1, 1, 1) * (e - self.s.reshape(1, -1, 1, 1)) ** p.to(e).reshape(1, -1, 1, 1)
            return torch.exp(terms.sum(dim=1, keepdim=True))
        factors = (1.0 + 0.5 * e ** 2) ** (-torch.exp(self.w)).reshape(1, -1, 1, 1)
        return torch.prod(factors, dim=1, keepdim=True)

    @torch.no_grad()
    def sup(self) -> float:
        """Exact over [0, 1]^F: splines peak at a knot; a monomial term at 0, 1 or s; Roth–Black at e = 0."""
        if self.kind in ("splines", "decreasing"):
            f = self.effective_slopes().double()
            knots = torch.cat([torch.zeros(self.in_features, 1, dtype=f.dtype), f.cumsum(1) / N_CLASSES], dim=1)
            offset = self.offsets.double() ** 2 if self.faithful else self.offsets.double()
            return float(torch.exp((knots.max(dim=1).values + offset).sum()))
        if self.kind == "monomials":
            F_ = self.in_features
            p = torch.full((F_,), float(F_ - 1), dtype=torch.float64) if self.faithful else \
                torch.arange(F_, dtype=torch.float64)
            c, s = self.c.double(), self.s.double()
            pts = torch.stack([torch.zeros_like(s), torch.ones_like(s), s.clamp(0, 1)])
            return float(torch.exp((c * (pts - s) ** p).max(dim=0).values.sum()))
        return 1.0


def _spline_intervals(e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """For experts ``e`` (any shape, float): the number of knots passed ``#{k : up_k < e}`` (0..20, int64), the
    interval ``min(passed, 19)`` (int64), ``inside`` (``low_k < e``, bool) and the factor ``fmod(e, 1/20) * inside``
    of the authors' rule
    (:meth:`FoEDiffusivity.phi`), with the interval found by ``ceil(20 e) - 1`` and corrected by one knot where
    rounding put it on the wrong side: the knots ``(k + 1) / 20`` are computed in ``e``'s dtype as the buffers
    ``up`` hold them (float32 ``linspace``; equal to ``float32(k + 1) / 20`` for every knot, tested; for other
    dtypes the float32 knots are converted, as the buffers are)."""
    n = N_CLASSES

    def knot(i: torch.Tensor) -> torch.Tensor:  # the buffers' float32 knots, in e's dtype
        return i / n if e.dtype == torch.float32 else (i / n).float().to(e.dtype)

    est = (torch.ceil(e * n) - 1).clamp_(0, n)
    # one knot too few (up_est < e) or one too many (up_{est-1} >= e)
    passed = est + ((est < n) & (e > knot(est + 1))).to(e.dtype) - ((est > 0) & (e <= knot(est))).to(e.dtype)
    k = passed.clamp(max=n - 1)
    inside = (passed < n) & (e > knot(k))
    factor = torch.remainder(e, torch.tensor(1.0 / n, dtype=e.dtype, device=e.device)) * inside
    return passed.long(), k.long(), inside, factor


def _spline_table(slopes: torch.Tensor) -> torch.Tensor:
    """(F, 20) slopes -> (F * 21, 2): per expert and number of knots passed, the sum of the slopes / 20 of the
    intervals passed and the slope of the interval (the last one repeated for ``passed = 20``)."""
    cumulative = F.pad(torch.cumsum(slopes / N_CLASSES, dim=1), (1, 0))
    return torch.stack([cumulative, F.pad(slopes, (0, 1), mode="replicate")], dim=-1).reshape(-1, 2)


def _spline_values(e: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``sum_f (cumulative_f[passed] + slope_f[k] fmod * inside)``, (N, F, H, W) -> (N, 1, H, W), offsets excluded."""
    passed, _, _, factor = _spline_intervals(e)
    row = (torch.arange(e.shape[1], device=e.device) * (N_CLASSES + 1)).reshape(1, -1, 1, 1)
    idx = passed + row
    return torch.addcmul(table[:, 0][idx], table[:, 1][idx], factor).sum(dim=1, keepdim=True)


def _spline_gradients(e: torch.Tensor, grad: torch.Tensor, slopes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The backward of :func:`_spline_values`: ``(d/de, d/dslopes)`` for the upstream gradient ``grad`` (N, 1, H, W)."""
    nf = e.shape[1]
    passed, k, inside, factor = _spline_intervals(e)
    row20 = (torch.arange(nf, device=e.device) * N_CLASSES).reshape(1, -1, 1, 1)
    row21 = (torch.arange(nf, device=e.device) * (N_CLASSES + 1)).reshape(1, -1, 1, 1)
    grad_e = grad * slopes.reshape(-1)[k + row20] * inside
    g = grad.expand_as(e)
    # [j == k] fmod * inside: a weighted histogram of the interval per expert
    direct = torch.zeros(nf * N_CLASSES, dtype=grad.dtype, device=grad.device).index_add(
        0, (k + row20).reshape(-1), (g * factor).reshape(-1))
    # [j < passed] / 20: a histogram of the knots passed, summed from the top
    counts = torch.zeros(nf * (N_CLASSES + 1), dtype=grad.dtype, device=grad.device).index_add(
        0, (passed + row21).reshape(-1), g.reshape(-1))
    above = counts.reshape(nf, N_CLASSES + 1).flip(1).cumsum(1).flip(1)[:, 1:]  # sum over passed > j
    return grad_e, direct.reshape(nf, N_CLASSES) + above / N_CLASSES


class _SplineSum(torch.autograd.Function):
    """``sum_f phi_f(e_f)`` of the spline FoE with its gradients in closed form (memory: ``e`` only is kept).

    ``phi_f(e) = offset_f + sum_{j < passed} slope_fj / 20 + slope_fk * fmod(e, 1/20) * inside``;
    d/de = ``slope_fk * inside``; d/dslope_fj = ``[j < passed] / 20 + [j == k] fmod * inside``; d/doffset_f = 1.
    """

    @staticmethod
    def forward(ctx, e, slopes, offsets):
        ctx.save_for_backward(e, slopes)
        values = kernels.kernel("foe values", _spline_values)(e, _spline_table(slopes))
        return values + offsets.sum().to(e.dtype)

    @staticmethod
    def backward(ctx, grad):
        e, slopes = ctx.saved_tensors
        grad_e, grad_slopes = kernels.kernel("foe gradients", _spline_gradients)(e, grad.contiguous(), slopes)
        grad_offsets = grad.sum().expand(e.shape[1]).to(slopes.dtype) if ctx.needs_input_grad[2] else None
        return (grad_e if ctx.needs_input_grad[0] else None,
                grad_slopes.to(slopes.dtype) if ctx.needs_input_grad[1] else None, grad_offsets)


class Experts(nn.Module):
    """``sigmoid(conv_{k x k, F}(standardised u))`` without bias: (N, 1, H, W) -> (N, F, H, W) in (0, 1)."""

    def __init__(self, kernel: int, experts: int):
        super().__init__()
        self.conv = Conv(1, experts, kernel, bias=False)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        x = per_image_standardization(u)
        if kernels.reference():
            return torch.sigmoid(self.conv(x))
        # oneDNN's backward is ~4x slower for one input channel (measured 97 against 23 ms for ten 128² images)
        kh, kw = self.conv.weight.shape[-2:]
        top, bottom = same_pads(x.shape[-2], kh, 1)
        left, right = same_pads(x.shape[-1], kw, 1)
        return torch.sigmoid(nativeconv.conv2d(F.pad(x, (left, right, top, bottom)), self.conv.weight))


# --------------------------------------------------------------------------- coefficient models and the flow


def forward_edges(g: torch.Tensor) -> Edges:
    """The authors' edges: the edge between pixels ``i`` and ``i + 1`` takes ``g`` at pixel ``i`` (boundary edges 0).

    ``g``: (N, 1, H, W) -> :class:`Edges` for the solver.
    """
    cx = F.pad(g[..., :, :-1], (1, 1))
    cy = F.pad(g[..., :-1, :], (0, 0, 1, 1))
    return Edges(cx, cy)


class PixelNetCoefficients(CoefficientModel):
    """Coefficients from a network's diffusivity map ``g(u)`` (N, 1, H, W), put on the forward edges."""

    def __init__(self, g: nn.Module, g_sup: float = math.nan):
        super().__init__()
        self.g, self.g_sup = g, g_sup

    def forward(self, u, dx, dy, bc) -> Edges:
        return forward_edges(self.g(u))

    def dt_max(self, reaction_sup: float = 0.0) -> float:
        sup = self.g.sup() if hasattr(self.g, "sup") else self.g_sup
        return scalar_dt_max_from_sup(sup, reaction_sup) if not math.isnan(sup) else math.nan


class FoEField(nn.Module):
    """The FoE diffusivity map of an iterate: experts, then :class:`FoEDiffusivity`."""

    def __init__(self, kind: str, kernel: int, experts: int, faithful: bool = True):
        super().__init__()
        self.experts = Experts(kernel, experts)
        self.function = FoEDiffusivity(kind, experts, faithful)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.function(self.experts(u))

    def sup(self) -> float:
        return self.function.sup()


class KACoefficients(CoefficientModel):
    """KA: ``g = 1 / (1 + k d^2)`` (``option=2``, the published models) or ``exp(-k d^2)`` (``option=1``) on each
    edge from its own difference, ``k = 1 / (1 + z(u)^2)`` per image, i.e. Perona–Malik with ``K^2 = 1 + z^2``."""

    def __init__(self, option: int = 2):
        super().__init__()
        if option not in (1, 2):
            raise ValueError(f"KA option must be 1 (exponential g) or 2 (rational g), got {option!r}")
        self.kappa, self.option = KappaNet(), option

    def contrast(self, u: torch.Tensor) -> torch.Tensor:
        """Perona–Malik's contrast ``K = sqrt(1 + z^2)`` the network gives each image: (N, 1, H, W) -> (N,)."""
        return torch.sqrt(1.0 + self.kappa(u) ** 2)

    def forward(self, u, dx, dy, bc) -> Edges:
        k = (1.0 / (1.0 + self.kappa(u) ** 2)).reshape(-1, 1, 1, 1)
        if self.option == 1:
            return Edges(torch.exp(-(k * (dx * dx))), torch.exp(-(k * (dy * dy))))
        return Edges(1.0 / (1.0 + k * (dx * dx)), 1.0 / (1.0 + k * (dy * dy)))

    def dt_max(self, reaction_sup: float = 0.0) -> float:
        return scalar_dt_max_from_sup(1.0, reaction_sup)  # g <= 1 for any k >= 0


class CappedCoefficients(CoefficientModel):
    """A model's diffusivity bounded by construction: ``g_c = cap (1 - exp(-g / cap))`` (smooth, increasing,
    ``g_c ~ g`` for ``g << cap``, ``g_c < cap``). With ``cap = 1 / (4 gamma)`` every step of size gamma obeys the
    maximum principle whatever the parameters: the certificate holds from the parameters alone."""

    def __init__(self, inner: CoefficientModel, cap: float):
        super().__init__()
        if not cap > 0:
            raise ValueError(f"cap must be positive, got {cap}")
        self.inner, self.cap = inner, float(cap)

    def forward(self, u, dx, dy, bc) -> Edges:
        e = self.inner(u, dx, dy, bc)
        return Edges(self.cap * -torch.expm1(-e.x / self.cap), self.cap * -torch.expm1(-e.y / self.cap))

    def dt_max(self, reaction_sup: float = 0.0) -> float:
        return scalar_dt_max_from_sup(self.cap, reaction_sup)


def certified(model: "LearnedDiffusion") -> "LearnedDiffusion":
    """The same architecture with its diffusivity capped at ``1 / (4 gamma)`` (:class:`CappedCoefficients`) and the
    solver's data-free check on: stable by construction at the model's own step. The U-Net (gamma = 0.1, a sigmoid
    g <= 1) already satisfies its certificate and is returned with the check on."""
    inner = model.coefficients
    if isinstance(inner, PixelNetCoefficients) and isinstance(inner.g, UNetG):
        return LearnedDiffusion(inner, model.gamma, model.flow.steps, model.pad, check="bound")
    return LearnedDiffusion(CappedCoefficients(inner, 1.0 / (4.0 * model.gamma)), model.gamma, model.flow.steps,
                            model.pad, check="bound")


class LearnedDiffusion(nn.Module):
    """Pad by 8 with the batch mean, run ``steps`` solver steps of size ``gamma``, crop. (N, 1, H, W), 0–255.

    Args:
        coefficients: the model's coefficient model (KA, FoE or U-Net).
        gamma: the step (1 for KA and FoE, 0.1 for the U-Net in the paper).
        check: the solver's stability check (``"off"`` for the faithful models, see the module docstring).
    """

    def __init__(self, coefficients: CoefficientModel, gamma: float, steps: int = STEPS, pad: int = PAD,
                 check: str = "off"):
        super().__init__()
        self.flow = ExplicitFlow(coefficients, steps, gamma, "neumann", check=check)
        self.pad = pad

    @property
    def coefficients(self) -> CoefficientModel:
        return self.flow.coefficients

    @property
    def gamma(self) -> float:
        return self.flow.dt

    def padded(self, noisy: torch.Tensor) -> torch.Tensor:
        """The input padded by ``pad`` pixels with one constant, the mean of the whole batch (as the authors)."""
        p = self.pad
        level = noisy.mean()
        return F.pad(noisy - level, (p, p, p, p)) + level if p else noisy

    def crop(self, out: torch.Tensor) -> torch.Tensor:
        p = self.pad
        return out[..., p:out.shape[-2] - p, p:out.shape[-1] - p] if p else out

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return self.crop(self.flow(self.padded(noisy)))

    @torch.no_grad()
    def run(self, noisy: torch.Tensor, steps: int, bounded: bool = False, crop: bool = True) -> torch.Tensor:
        """``steps`` steps of the model (not only the 10 it was trained for), padded and cropped like ``forward``.

        ``bounded=True`` splits every step of size gamma into as many equal sub-steps as the maximum principle
        needs for the coefficients of that step (the solver's data certificate, ``substeps=True``): the network
        is evaluated once per step, as in the model, and the flow keeps the range of its input by construction.
        ``crop=False`` returns the padded domain (whose mean the flux form conserves exactly).
        """
        u = self.padded(noisy)
        for _ in range(steps):
            u = flux_step(u, self.coefficients, self.gamma, "neumann", check=bounded, substeps=bounded)
        return self.crop(u) if crop else u


def make_model(architecture: str, kind: str = "splines", kernel: int = 5, experts: int = 30, depth: int = 2,
               option: int = 2, faithful: bool = True, gamma: float | None = None,
               check: str = "off") -> LearnedDiffusion:
    """A fresh model: ``architecture`` ``"KA"`` (``option``), ``"FoE"`` (``kind``, ``kernel``, ``experts``) or
    ``"UNet"`` (``kernel``, ``depth``); ``gamma`` defaults to the paper's (1, or 0.1 for the U-Net)."""
    if architecture == "KA":
        return LearnedDiffusion(KACoefficients(option), 1.0 if gamma is None else gamma, check=check)
    if architecture == "FoE":
        coeff = PixelNetCoefficients(FoEField(kind, kernel, experts, faithful))
        return LearnedDiffusion(coeff, 1.0 if gamma is None else gamma, check=check)
    if architecture == "UNet":
        return LearnedDiffusion(PixelNetCoefficients(UNetG(depth, kernel), g_sup=1.0), 0.1 if gamma is None else gamma,
                                check=check)
    raise ValueError(f"unknown architecture {architecture!r}; use 'KA', 'FoE' or 'UNet'")


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (the frozen batch-norm statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)



# --------------------------------------------------------------------------- the authors' Perona–Malik baseline


def numpy_gradient(u: torch.Tensor, dim: int) -> torch.Tensor:
    """``np.gradient`` along ``dim``: central differences inside, one-sided differences at the two ends."""
    n = u.shape[dim]
    inner = (u.narrow(dim, 2, n - 2) - u.narrow(dim, 0, n - 2)) / 2
    first = u.narrow(dim, 1, 1) - u.narrow(dim, 0, 1)
    last = u.narrow(dim, n - 1, 1) - u.narrow(dim, n - 2, 1)
    return torch.cat([first, inner, last], dim=dim)


@torch.no_grad()
def authors_perona_malik(u: torch.Tensor, niter: int, K: float, gamma: float = 0.1, option: int = 2) -> torch.Tensor:
    """The authors' baseline ``pm_algorithm.anisodiff``, batched: (N, 1, H, W) -> same, 0–255.

    ``niter - 1`` steps ``u += gamma (S_i - S_{i-1} + E_j - E_{j-1})`` with ``S = g(dy) dy``, ``E = g(dx) dx``,
    ``dy, dx`` from :func:`numpy_gradient` (central differences), ``S_{-1} = E_{-1} = 0``, and ``g = exp(-(d/K)^2)``
    (option 1) or ``1 / (1 + (d/K)^2)`` (option 2). Unlike the book's Perona–Malik scheme, this one is not in
    flux form at the boundary (the first row's flux is never subtracted) and lets a checkerboard pass
    unsmoothed (central differences do not see it); it is kept as the baseline the paper's Table 1 used.
    """
    if option not in (1, 2):
        raise ValueError(f"option must be 1 (exponential) or 2 (rational), got {option!r}")
    if u.shape[-1] < 3 or u.shape[-2] < 3:
        raise ValueError(f"images must be at least 3 x 3, got {tuple(u.shape[-2:])}")
    out = u.to(torch.float32).clone()
    for _ in range(1, niter):
        ds, de = numpy_gradient(out, -2), numpy_gradient(out, -1)
        if option == 1:
            gs, ge = torch.exp(-(ds / K) ** 2), torch.exp(-(de / K) ** 2)
        else:
            gs, ge = 1.0 / (1.0 + (ds / K) ** 2), 1.0 / (1.0 + (de / K) ** 2)
        s, e = gs * ds, ge * de
        ns, ew = s.clone(), e.clone()
        ns[..., 1:, :] -= s[..., :-1, :]
        ew[..., :, 1:] -= e[..., :, :-1]
        out += gamma * (ns + ew)
    return out


# --------------------------------------------------------------------------- own training: a stable start


@torch.no_grad()
def stable_foe_init(model: LearnedDiffusion, g_start: float = 0.1) -> LearnedDiffusion:
    """Start an FoE model where one step of gamma = 1 is stable: ``g ~ g_start`` for experts at 0.5 (*choice*).

    Keras' default start (slopes and weights drawn around 0) gives ``g = exp(0) = 1`` for the spline and
    monomial families, four times the explicit bound ``1/4`` at gamma = 1: the flow diverges in the first steps.
    Here the spline slopes are all ``-2 ln(1/g_start) / F`` (``g = g_start`` when every expert is 0.5); the
    monomials (faithful exponent ``p = F - 1`` for every expert) start at ``s = 2`` and
    ``c = (-1)^F ln(1/g_start) / (F 1.5^p)``: ``g = g_start`` when every expert is 0.5, ``g < 1`` on all of
    [0, 1], but above the bound 1/4 for experts near 1 (a single power ``p`` cannot be both below 1/4 on
    [0, 1] and near ``g_start`` at 0.5: the faithful family is badly conditioned); with the intended exponents
    ``i``, the constant term ``c_0 = ln g_start`` alone;
    Roth–Black weights start at ``w = ln(-ln(g_start) / (F ln 1.125))`` (``g = g_start`` at ``e = 0.5``). The
    experts' filters keep Keras' Glorot start.

    This is a start, not a certificate: ``g`` grows where experts are small (up to 1 where all are 0; with the
    faithful offsets ``b^2 >= 0`` no parameter value can bring ``g(0)`` below 1), but on images it stays near
    ``g_start`` (mean about 0.1 on noise at sigma 25) and the first ten steps keep their input's range, where
    the default start explodes (tested).
    """
    fn = model.coefficients.g.function
    F_ = fn.in_features
    if fn.kind in ("splines", "decreasing"):
        slope = -2 * math.log(1 / g_start) / F_
        fn.slopes.fill_(slope if (fn.kind == "splines" or fn.faithful) else math.sqrt(-slope))
        fn.offsets.zero_()
    elif fn.kind == "monomials":
        if fn.faithful:  # c (e - 2)^(F - 1) = ln(g_start) / F at e = 0.5, negative on all of [0, 1]: g < 1
            p = F_ - 1
            fn.c.fill_((-1) ** (p + 1) * math.log(1 / g_start) / (F_ * 1.5 ** p))
            fn.s.fill_(2.0)
        else:  # the constant term (exponent 0) alone: g = g_start
            fn.c.zero_()
            fn.c[0] = math.log(g_start)
            fn.s.zero_()
    else:
        fn.w.fill_(math.log(-math.log(g_start) / (F_ * math.log(1.125))))
    return model
