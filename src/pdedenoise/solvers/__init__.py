"""The shared solver core: one explicit flux-form step, its stability certificate, and the exact heat flow.

* :mod:`.explicit` -- :func:`~.explicit.flux_step` (per-channel or C x C coefficients, reaction) and
  :class:`~.explicit.ExplicitFlow` (unrolled steps, shared or per-step parameters);
* :mod:`.coefficients` -- coefficient containers and models (Perona–Malik schemes, ``g(v) B`` blocks);
* :mod:`.stability` -- admissible time steps, certificates, :class:`~.stability.StabilityError`;
* :mod:`.spectral` -- the heat equation solved exactly in the Laplacian's eigenbasis.
"""
from .coefficients import Blocks, Edges
from .explicit import ExplicitFlow, flux_step
from .stability import Certificate, StabilityError

__all__ = ["Blocks", "Edges", "ExplicitFlow", "flux_step", "Certificate", "StabilityError"]
