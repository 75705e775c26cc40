"""The explicit step evaluated fast: in place, on cache-sized strips of rows, when no gradient is needed.

:func:`pdedenoise.solvers.explicit.update` writes the step as whole-image tensor operations, a dozen
full passes over memory per step, with fresh temporaries; once an image no longer fits in the
core's cache (a 512x512 float32 image is 1 MB, and a step touches six such arrays) every pass runs
at memory speed, and the cost per pixel grows with the image. Here the step runs on strips of a few
rows at a time (about :data:`STRIP_ELEMENTS` elements per array, so the strip's working set stays in
the core's L2 cache), into preallocated buffers, with the two states swapped between steps, so the cost
per pixel no longer depends on the image size. On a CPU the solver runs on one thread
(:mod:`pdedenoise.threads`), so a busy machine cannot stall its steps.

It covers the coefficients that are local to an edge -- a constant (the heat equation), a fixed field
on the edges (``div(rho(x) grad u)``), and an edge function ``c = g(d^2)`` of the difference across
each edge (Perona–Malik's scheme, or a learned elementwise diffusivity) -- without reaction. Other
steps (pixel-averaged diffusivities, C x C blocks, reaction) take the whole-image path.

Two ways through a strip:

* the general one runs the same operations as the whole-image step, in the same order, and gives the
  same numbers, bit for bit (the tests hold it to that);
* Perona and Malik's two diffusivities (:func:`pdedenoise.diffusivities.rational` and
  :func:`~pdedenoise.diffusivities.exponential` in an :class:`EdgeFunction`) take a fused form with
  fewer passes over the strip (:class:`_ContrastStrip`): eight tensor operations per strip instead of
  seventeen for the rational one, ``h d / (1 + d^2 / K^2)`` as one ``addcmul`` and a division merged into
  the accumulation (``addcdiv``). The numbers equal the whole-image step's to round-off (float32:
  ~1e-4 grey levels after 100 steps on a 0-255 image), not bit for bit; the solver stays conservative
  (each edge's flux is the same number for both of its pixels).
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch

from ..diffusivities import EXP_FLOOR, exponential, rational
from ..stencils import BoundaryCondition, check_bc
from ..threads import limited, solver_threads
from .coefficients import EdgeDiffusivity, EdgeFunction, Edges

#: elements per strip array: 128 K float32 = 512 KB, so the strip's working set stays in a 2 MB L2 cache
#: (measured on 512^2 to 2048^2 images: smaller strips pay more per-operation overhead, larger ones
#: spill to memory); multiplied by the solver's threads (:func:`pdedenoise.threads.solver_threads`)
STRIP_ELEMENTS = 131_072

#: the same for the fused Perona–Malik strips, whose scratch holds both directions' differences and weights
#: (measured on a 512^2 image, 100 steps: 64 K elements 1.6x faster than 128 K, 32 K 1.3x slower than 64 K)
CONTRAST_STRIP_ELEMENTS = 65_536


def supported(coeff) -> bool:
    """True for coefficients this module evaluates: a constant, fixed :class:`Edges`, an :class:`EdgeFunction`."""
    from .explicit import Resolved

    if isinstance(coeff, Resolved):
        return coeff.kind in ("constant", "edges")
    return isinstance(coeff, EdgeFunction) or (isinstance(coeff, EdgeDiffusivity) and coeff.elementwise)


def strip_rows(u: torch.Tensor, elements: int | None = None) -> int:
    """Rows per strip for state ``u`` (N, C, H, W): about ``elements`` (default :data:`STRIP_ELEMENTS`) per
    array, at least one row."""
    elements = STRIP_ELEMENTS if elements is None else elements
    n, c, h, w = u.shape
    if u.device.type != "cpu":
        return h  # a GPU wants whole images per kernel
    return max(1, min(h, elements * solver_threads() // max(1, n * c * w)))


class _Strip:
    """Scratch buffers for one strip: differences and coefficients on x and y edges."""

    def __init__(self, u: torch.Tensor, rows: int):
        n, c, h, w = u.shape
        self.fx = u.new_zeros(n, c, rows, w + 1)  # fluxes on every vertical edge: the boundary columns stay 0
        self.sx = u.new_empty(n, c, rows, max(w - 1, 0))  # for zero-flux boundaries
        self.fy = u.new_empty(n, c, rows + 1, w)
        self.sy = torch.empty_like(self.fy)


def _edge_flux(d: torch.Tensor, s: torch.Tensor, coeff, fixed: torch.Tensor | None) -> None:
    """``d <- c * d`` in place: ``c = g(d^2)`` (into ``s``) for an edge function, or the fixed field slice."""
    if fixed is not None:
        d.mul_(fixed)
        return
    torch.mul(d, d, out=s)
    c = coeff.g_(s) if coeff.g_ is not None else coeff.g(s)
    d.mul_(c)


def _boundary_flux(diff: torch.Tensor, coeff, fixed: torch.Tensor | None) -> torch.Tensor:
    """Flux through a zero-value boundary edge, ``c * diff`` for the (small) boundary column or row."""
    c = fixed if fixed is not None else coeff.g(diff * diff)
    return c * diff


class _FluxStrip:
    """``nb <- div(c grad a)`` on rows ``r0:r1`` (in the order of :func:`pdedenoise.stencils.flux_divergence`),
    every view it touches sliced once, when the plan is made (slicing costs as much as a small operation)."""

    def __init__(self, a, nb, r0, r1, coeff, bc: BoundaryCondition, ws: _Strip, edges: Edges | None):
        h, w = a.shape[-2:]
        m = r1 - r0
        ua = a[..., r0:r1, :]
        self.coeff, self.nb, self.w = coeff, nb, w
        self.dirichlet = dirichlet = bc == "dirichlet"
        ex = None if edges is None else edges.x[..., r0:r1, :]
        fx = ws.fx[..., :m, :]
        # x edges of the strip, boundary edges included (0 for zero flux): (fxR - fxL) per pixel in one pass
        self.x = (ua[..., 1:], ua[..., :-1], fx[..., 1:-1], ws.sx[..., :m, :],
                  None if ex is None else ex[..., 1:-1]) if w > 1 else None
        if dirichlet:
            self.x_ends = (fx[..., 0], ua[..., 0], None if ex is None else ex[..., 0],
                           fx[..., -1], ua[..., -1], None if ex is None else ex[..., -1])
        self.x_div = (fx[..., 1:], fx[..., :-1])
        # y edges between rows e and e + 1 for e0 <= e < e1: (+ fyD) then (- fyU) per pixel
        e0, e1 = max(r0 - 1, 0), min(r1, h - 1)
        ne = e1 - e0
        self.y = self.down = self.up = None
        if ne > 0:
            fy = ws.fy[..., :ne, :]
            self.y = (a[..., e0 + 1:e1 + 1, :], a[..., e0:e1, :], fy, ws.sy[..., :ne, :],
                      None if edges is None else edges.y[..., e0 + 1:e1 + 1, :])
            nd = e1 - r0  # rows r0 .. e1 - 1 have a down edge inside the image
            self.down = (nb[..., :nd, :], fy[..., r0 - e0:r0 - e0 + nd, :]) if nd > 0 else None
            s0 = 1 if r0 == 0 else 0  # row 0 has no up edge inside the image
            self.up = (nb[..., s0:, :], fy[..., r0 + s0 - 1 - e0:r1 - 1 - e0, :]) if m > s0 else None
        self.bottom = (nb[..., -1, :], ua[..., -1, :], None if edges is None else edges.y[..., h, :]) \
            if dirichlet and r1 == h else None
        self.top = (nb[..., 0, :], ua[..., 0, :], None if edges is None else edges.y[..., 0, :]) \
            if dirichlet and r0 == 0 else None

    def run(self) -> None:
        coeff = self.coeff
        if self.x is not None:
            right, left, inner, sx, fixed = self.x
            torch.sub(right, left, out=inner)
            _edge_flux(inner, sx, coeff, fixed)
        if self.dirichlet:
            f0, u0, c0, f1, u1, c1 = self.x_ends
            f0.copy_(_boundary_flux(u0, coeff, c0))
            f1.copy_(_boundary_flux(-u1, coeff, c1))
        torch.sub(*self.x_div, out=self.nb)
        if self.y is not None:
            below, above, fy, sy, fixed = self.y
            torch.sub(below, above, out=fy)
            _edge_flux(fy, sy, coeff, fixed)
            if self.down is not None:
                self.down[0].add_(self.down[1])
        if self.bottom is not None:
            row, u, c = self.bottom
            row.add_(_boundary_flux(-u, coeff, c))
        if self.up is not None:
            self.up[0].sub_(self.up[1])
        if self.top is not None:
            row, u, c = self.top
            row.sub_(_boundary_flux(u, coeff, c))


def contrast_kind(coeff) -> str | None:
    """``"rational"`` or ``"exponential"`` for an :class:`EdgeFunction` of Perona and Malik's own diffusivities
    (the fused strips' case), else None."""
    if isinstance(coeff, EdgeFunction):
        return {rational: "rational", exponential: "exponential"}.get(coeff.fn)
    return None


class _ContrastScratch:
    """Scratch buffers of the fused strips, one pair per strip height ``m``: differences ``d`` and weights ``s``
    on every edge of a strip, boundary edges included, x (N, C, m, W + 1) and y (N, C, m + 1, W) as two
    views of one contiguous buffer (N, C, m (W + 1) + (m + 1) W), so that one operation computes the
    weights of both directions."""

    def __init__(self, u: torch.Tensor):
        self.u, self.pairs = u, {}

    def __call__(self, m: int):
        if m not in self.pairs:
            n, c, h, w = self.u.shape
            nx = m * (w + 1)
            d = self.u.new_zeros(n, c, nx + (m + 1) * w)  # zero-flux boundary columns: never written, stay 0
            s = self.u.new_ones(n, c, nx + (m + 1) * w)

            def views(t):
                return t, t[..., :nx].unflatten(-1, (m, w + 1)), t[..., nx:].unflatten(-1, (m + 1, w))

            self.pairs[m] = (views(d), views(s))
        return self.pairs[m]


class _ContrastStrip:
    """``nb <- a + h div(g(d^2) grad a)`` on rows ``r0:r1`` for Perona–Malik's rational or exponential g,
    fused: per direction one subtraction (the differences), one or a few operations for the weights ``s``,
    and two accumulations straight into ``nb``. The flux ``h d g`` of an edge is

    * rational, one K: ``d / s`` with ``s = 1/h + d^2 / (h K^2)`` (one ``addcmul``), accumulated by
      ``addcdiv``; per-image K (or constants out of the dtype's range): ``d / s`` with ``s = K^2 + d^2`` and
      the sum scaled by ``h K^2`` at the end;
    * exponential: ``h d s`` with ``s = exp(-min(d^2 / K^2, EXP_FLOOR))``, accumulated by ``addcmul``.

    Every view is sliced once, when the plan is made.
    """

    def __init__(self, a, nb, r0, r1, kind: str, K, h: float, bc: BoundaryCondition, ws: _ContrastScratch):
        hh, w = a.shape[-2:]
        m = r1 - r0
        dirichlet = bc == "dirichlet"
        self.kind, self.h, self.nb, self.ua = kind, h, nb, a[..., r0:r1, :]
        per_image = isinstance(K, torch.Tensor) and K.numel() > 1
        (d_all, dx, dy), (s_all, sx, sy) = ws(m)
        self.edges = d_all, s_all
        ua = self.ua
        # x: the inner edges of each row; a zero-value boundary's edges each step, a zero-flux one's stay 0
        self.x_inner = (ua[..., 1:], ua[..., :-1], dx[..., 1:-1]) if w > 1 else None
        self.x_ends = (ua[..., 0], dx[..., 0], ua[..., -1], dx[..., -1]) if dirichlet else None
        # y: edge r0 + j (between rows r0 + j - 1 and r0 + j) is row j of dy; the inner ones in one subtraction
        lo, hi = max(r0, 1), min(r1 + 1, hh)
        self.y_inner = (a[..., lo:hi, :], a[..., lo - 1:hi - 1, :], dy[..., lo - r0:hi - r0, :]) if hi > lo else None
        self.y_ends = []  # boundary edges of the image in this strip: 0 (zero flux) or the boundary difference
        if r0 == 0:
            self.y_ends.append((dy[..., 0, :], a[..., 0, :], False))
        if r1 == hh:
            self.y_ends.append((dy[..., m, :], a[..., hh - 1, :], True))
        self.dirichlet = dirichlet
        # accumulation: + right edge, - left edge, + edge below, - edge above
        self.terms = ((dx[..., 1:], sx[..., 1:], 1.0), (dx[..., :-1], sx[..., :-1], -1.0),
                      (dy[..., 1:, :], sy[..., 1:, :], 1.0), (dy[..., :-1, :], sy[..., :-1, :], -1.0))
        dtype = a.dtype
        if per_image:
            k2 = (K.to(dtype) ** 2).reshape(-1, 1, 1)  # broadcasts over the flat buffers (N, C, L)
        else:
            k2 = float(K) ** 2
        self.per_image = per_image
        if kind == "rational":
            # 1/h and 1/(h K^2) must be finite numbers of the image's dtype (K^2 near the smallest normal
            # number and a small h would give inf, and 0 * inf = nan on flat parts); else the scaled form
            top = torch.finfo(dtype).max
            self.scaled = per_image or not (1.0 / h < top and 1.0 / (h * k2) < top)
            if self.scaled:  # d / (K^2 + d^2), the sum times h K^2 at the end
                k2 = k2 if per_image else a.new_tensor(k2)
                self.base, self.scale, self.final = k2, 1.0, h * (k2.unsqueeze(-1) if per_image else k2)
            else:
                self.base, self.scale = a.new_tensor(1.0 / h), 1.0 / (h * k2)
        else:
            self.neg_inv = -1.0 / k2  # a float, or (N, 1, 1) per image
            self.zero = a.new_tensor(0.0)

    def _weights(self, d: torch.Tensor, s: torch.Tensor) -> None:
        if self.kind == "rational":
            torch.addcmul(self.base, d, d, value=self.scale, out=s)
            return
        if self.per_image:
            torch.mul(d, d, out=s)
            s.mul_(self.neg_inv)
        else:
            torch.addcmul(self.zero, d, d, value=self.neg_inv, out=s)
        s.clamp_(min=-EXP_FLOOR).exp_()

    def run(self) -> None:
        if self.x_inner is not None:
            right, left, inner = self.x_inner
            torch.sub(right, left, out=inner)
        if self.x_ends is not None:
            u0, d0, u1, d1 = self.x_ends
            d0.copy_(u0)  # u[0] - 0
            torch.neg(u1, out=d1)  # 0 - u[W - 1]
        if self.y_inner is not None:
            below, above, inner = self.y_inner
            torch.sub(below, above, out=inner)
        for d, u, bottom in self.y_ends:
            if not self.dirichlet:
                d.zero_()
            elif bottom:
                torch.neg(u, out=d)
            else:
                d.copy_(u)
        self._weights(*self.edges)  # both directions in one pass
        nb, ua, h = self.nb, self.ua, self.h
        (d, s, _), *rest = self.terms
        if self.kind == "exponential":
            torch.addcmul(ua, d, s, value=h, out=nb)
            for d, s, sign in rest:
                nb.addcmul_(d, s, value=sign * h)
        elif self.scaled:
            torch.div(d, s, out=nb)
            for d, s, sign in rest:
                nb.addcdiv_(d, s, value=sign)
            torch.addcmul(ua, nb, self.final, out=nb)
        else:
            torch.addcdiv(ua, d, s, out=nb)
            for d, s, sign in rest:
                nb.addcdiv_(d, s, value=sign)


class _LaplacianStrip:
    """``nb <- Laplacian(a)`` on rows ``r0:r1`` as :func:`pdedenoise.stencils.laplacian` sums it:
    ``((up + down) + left) + right - 4 u`` with ghost pixels at the boundary; views sliced once."""

    def __init__(self, a, nb, r0, r1, bc: BoundaryCondition):
        h, w = a.shape[-2:]
        neumann = bc == "neumann"
        # up + down
        i0, i1 = max(r0, 1), min(r1, h - 1)  # rows with both neighbours inside
        self.inner = (a[..., i0 - 1:i1 - 1, :], a[..., i0 + 1:i1 + 1, :], nb[..., i0 - r0:i1 - r0, :]) \
            if i1 > i0 else None
        self.rows = []
        for i in sorted({r0, r1 - 1} - set(range(i0, i1))):  # boundary rows 0 and h - 1 of this strip
            up = a[..., i - 1, :] if i >= 1 else (a[..., 0, :] if neumann else None)
            down = a[..., i + 1, :] if i <= h - 2 else (a[..., h - 1, :] if neumann else None)
            self.rows.append((up, down, nb[..., i - r0, :]))
        # + left, + right
        ua = a[..., r0:r1, :]
        self.adds = ([(nb[..., 1:], ua[..., :-1])] if w > 1 else []) + ([(nb[..., 0], ua[..., 0])] if neumann else []) \
            + ([(nb[..., :-1], ua[..., 1:])] if w > 1 else []) + ([(nb[..., -1], ua[..., -1])] if neumann else [])
        self.ua, self.nb = ua, nb

    def run(self) -> None:
        if self.inner is not None:
            up, down, out = self.inner
            torch.add(up, down, out=out)
        for up, down, row in self.rows:
            if up is not None and down is not None:
                torch.add(up, down, out=row)
            elif up is not None or down is not None:
                row.copy_(up if up is not None else down)  # 0 + x = x exactly
            else:
                row.zero_()
        for dst, src in self.adds:
            dst.add_(src)
        self.nb.sub_(self.ua, alpha=4.0)


def _strip_elements(coeff) -> int:
    """Elements per strip array for ``coeff``: :data:`CONTRAST_STRIP_ELEMENTS` on the fused strips, else
    :data:`STRIP_ELEMENTS`."""
    return CONTRAST_STRIP_ELEMENTS if contrast_kind(coeff) else STRIP_ELEMENTS


def _images(coeff, index: slice):
    """The coefficients of the images ``index`` of a batch (per-image values sliced, shared ones kept)."""
    from .explicit import Resolved

    def pick(t: torch.Tensor) -> torch.Tensor:
        return t[index] if t.shape[0] > 1 else t

    if isinstance(coeff, Resolved):
        if coeff.kind == "constant":
            return Resolved("constant", pick(coeff.value))
        return Resolved("edges", Edges(pick(coeff.value.x), pick(coeff.value.y)))
    if isinstance(coeff, EdgeFunction):
        return coeff.images(index)
    return coeff  # a module: the same parameters for every image


def evolve(u: torch.Tensor, coeff, h: float, steps: int, bc: BoundaryCondition = "neumann",
           every: Callable[[int], None] | None = None, rows: int | None = None) -> torch.Tensor:
    """``steps`` explicit steps of size ``h`` without autograd, strip by strip; returns a new tensor.

    A batch is advanced a group of images at a time (as many whole images as fit in a strip, at least
    one), all steps for one group before the next: images are independent, and each group's strips
    stay in the cache, so a batch costs the same per pixel as one image.

    Args:
        u: state (N, C, H, W).
        coeff: a resolved constant or :class:`Edges` (:class:`~pdedenoise.solvers.explicit.Resolved`),
            an :class:`EdgeFunction`, or an :class:`EdgeDiffusivity` of one variable.
        every: called with the step count after every step (a progress bar; with several image
            groups, after the last group's steps).
        rows: rows per strip (default :func:`strip_rows`).
    Returns:
        the state after ``steps`` steps, equal to ``steps`` calls of
        :func:`pdedenoise.solvers.explicit.update`: bit for bit, or to round-off for Perona–Malik's two
        diffusivities (the fused strips, :class:`_ContrastStrip`).
    """
    from .explicit import Resolved

    check_bc(bc)  # the strips below test for "dirichlet" and "neumann" only
    n, c, hh, w = u.shape
    elements = _strip_elements(coeff)
    group = n if u.device.type != "cpu" else max(1, min(n, elements * solver_threads() // max(1, c * hh * w)))
    # the whole path adds a single constant with one fused multiply-add, a per-image one in two operations
    fused = isinstance(coeff, Resolved) and coeff.kind == "constant" and coeff.value.numel() == 1
    with torch.no_grad(), limited(solver_threads()):
        if group >= n:
            return _evolve_group(u, coeff, h, steps, bc, fused, every, rows)
        out = torch.empty_like(u)
        for i0 in range(0, n, group):
            index = slice(i0, min(n, i0 + group))
            last = i0 + group >= n
            out[index] = _evolve_group(u[index], _images(coeff, index), h, steps, bc, fused,
                                       every if last else None, rows)
    return out


def _evolve_group(u, coeff, h: float, steps: int, bc: BoundaryCondition, fused: bool, every, rows) -> torch.Tensor:
    from .explicit import Resolved

    hh = u.shape[-2]
    rows = rows or strip_rows(u, _strip_elements(coeff))
    constant = isinstance(coeff, Resolved) and coeff.kind == "constant"
    edges = coeff.value if isinstance(coeff, Resolved) and coeff.kind == "edges" else None
    func = coeff if isinstance(coeff, (EdgeFunction, EdgeDiffusivity)) else None
    if constant:
        alpha = h * float(coeff.value) if fused else None
        hr = None if fused else h * coeff.value
    kind = contrast_kind(func)
    ws = _ContrastScratch(u) if kind else _Strip(u, rows)
    a = u.detach().clone()
    b = torch.empty_like(a)

    def plan(src, dst):
        """The strips of one step from ``src`` into ``dst``: (strip, its rows of src, its rows of dst)."""
        out = []
        for r0 in range(0, hh, rows):
            r1 = min(hh, r0 + rows)
            nb, ua = dst[..., r0:r1, :], src[..., r0:r1, :]
            if kind:
                strip = _ContrastStrip(src, nb, r0, r1, kind, func.K, h, bc, ws)
            elif constant:
                strip = _LaplacianStrip(src, nb, r0, r1, bc)
            else:
                strip = _FluxStrip(src, nb, r0, r1, func, bc, ws, edges)
            out.append((strip, ua, nb))
        return out

    plans = (plan(a, b), plan(b, a))  # the two states swap roles every step
    for k in range(steps):
        for strip, ua, nb in plans[k % 2]:
            strip.run()
            if kind:
                continue  # the fused strip wrote the whole update
            if not constant:
                nb.mul_(h).add_(ua)
            elif alpha is not None:
                torch.add(ua, nb, alpha=alpha, out=nb)
            else:
                nb.mul_(hr).add_(ua)
        if every is not None:
            every(k + 1)
    return b if steps % 2 else a


def steps_iter(n: int, desc: str, show: bool | str) -> tuple[Iterable[int], Callable[[int], None] | None]:
    """A range for a step loop and a matching per-step callback: a progress bar when ``show`` is True, one line on
    stderr per 10 % of the steps when ``show == "lines"`` (for logs and pipes, where a bar's carriage returns make
    one unreadable line; silent for runs that end within a second), nothing when False."""
    if not show:
        return range(n), None
    if show == "lines":
        import sys
        import time

        start, shown = time.perf_counter(), [0]

        def line(k: int) -> None:
            tenth = (10 * k) // max(n, 1)
            if tenth > shown[0]:
                shown[0] = tenth
                elapsed = time.perf_counter() - start
                if elapsed >= 1.0:
                    print(f"[pdedenoise] {desc}: {10 * tenth}% ({k}/{n} steps), {elapsed:.1f} s", file=sys.stderr,
                          flush=True)

        return range(n), line
    from tqdm.auto import tqdm

    bar = tqdm(total=n, desc=desc, leave=False)

    def tick(k: int) -> None:
        bar.update(1)
        if k == n:
            bar.close()

    return range(n), tick
