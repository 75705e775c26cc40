"""pdedenoise: batched, differentiable PDE solvers for image denoising, and the book that uses them.

Images are float tensors of shape (N, C, H, W); every function's docstring says whether it expects
values on the 0–255 or the 0–1 scale. Submodules are imported on demand:
``from pdedenoise import diffusion, stencils, metrics, data``.
"""
__version__ = "0.1.0"
