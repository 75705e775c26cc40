"""The authors' 18 trained models (TensorFlow checkpoints, AGPL-3.0) loaded into the torch models of :mod:`.method`.

The checkpoints are read from the data folder (dataset ``learned_diffusivities_ckpt`` of
:mod:`pdedenoise.data.registry`, checksum-verified) with the pure-Python reader
:mod:`pdedenoise.data.tfcheckpoint`; nothing converted from them is ever written into the project.

Names follow the authors' files: ``"{sigma}_2"`` (KA, rational g), ``"FoE_{type}_{sigma}_{k}_{F}"`` and
``"UNet_base_{sigma}_{k}_{depth}"``. Keras stores a model's variables under
``<submodel>/layer_with_weights-<n>/<variable>`` with ``n`` counting the layers that own weights in the order
the model built them; :meth:`KappaNet.weighted_layers`-style lists below give the torch modules in that order.
TensorFlow kernels are (kh, kw, in, out); torch's are (out, in, kh, kw) (depthwise: (in, 1, kh, kw);
transposed: (in, out, kh, kw) from TensorFlow's (kh, kw, out, in)); dense (in, out) -> (out, in).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ...data import registry
from ...data.tfcheckpoint import parse_index, read_bundle, shard_name
from . import method as M

DATASET = "learned_diffusivities_ckpt"
SIGMAS = (15, 25, 50)


@dataclass(frozen=True)
class Spec:
    """One released model: its file name and architecture parameters."""

    name: str
    architecture: str  # "KA", "FoE" or "UNet"
    sigma: int
    kind: str = "base"  # FoE: splines, decreasing, monomials, RothBlack
    first: int = 2  # KA: option; FoE and U-Net: kernel size
    second: int = 0  # FoE: experts; U-Net: depth

    @property
    def label(self) -> str:
        """The paper's name: KA, FoE-S, FoE-D, FoE-M, FoE-RB or U-Net."""
        return {"KA": "KA", "UNet": "U-Net"}.get(self.architecture) or \
            "FoE-" + {"splines": "S", "decreasing": "D", "monomials": "M", "RothBlack": "RB"}[self.kind]


def specs() -> list[Spec]:
    """The 18 released models: KA at each sigma, then the rows of the authors' ``architecture_description.csv``."""
    out = [Spec(f"{s}_2", "KA", s, first=2) for s in SIGMAS]
    text = registry.read_verified(DATASET, "architecture_description.csv").decode()
    for r in csv.DictReader(io.StringIO(text, newline="")):
        arch, kind = r["architecture"], r["function_type"]
        sigma, first, second = int(r["variance"]), int(r["first_parameter"]), int(r["second_parameter"])
        out.append(Spec(f"{arch}_{kind}_{sigma}_{first}_{second}", arch, sigma, kind, first, second))
    return out


def spec(name: str) -> Spec:
    """The :class:`Spec` of a released model by file name (e.g. ``"FoE_splines_25_5_30"``)."""
    for s in specs():
        if s.name == name:
            return s
    raise KeyError(f"no released model {name!r}; the names are {[s.name for s in specs()]}")


def build(s: Spec, faithful: bool = True) -> M.LearnedDiffusion:
    """A fresh torch model with the architecture of ``s`` (the paper's gamma, stability check off)."""
    if s.architecture == "KA":
        return M.make_model("KA", option=s.first)
    if s.architecture == "FoE":
        return M.make_model("FoE", kind=s.kind, kernel=s.first, experts=s.second, faithful=faithful)
    return M.make_model("UNet", kernel=s.first, depth=s.second)


def every_tensor(name: str) -> dict[str, np.ndarray]:
    """Every numeric tensor of the released checkpoint ``name``, read from the bytes the registry verified (the
    index and exactly the data shard it names; a file planted beside them is never read)."""
    if not isinstance(name, str) or "/" in name or name not in {s.name for s in specs()}:
        raise KeyError(f"no released model {name!r}; the names are {[s.name for s in specs()]}")
    index = registry.read_verified(DATASET, f"checkpoints/{name}.index")
    _, n = parse_index(index, f"checkpoints/{name}.index")
    data = registry.read_verified(DATASET, f"checkpoints/{shard_name(name, 0, n)}")
    return read_bundle(index, {0: data}, f"{DATASET}/checkpoints/{name}")


def tensors(name: str) -> dict[str, np.ndarray]:
    """The checkpoint's model variables (optimiser state left out), by TensorFlow name."""
    every = every_tensor(name)
    return {k.split("/.ATTRIBUTES")[0]: v for k, v in every.items()
            if "/.ATTRIBUTES/VARIABLE_VALUE" in k and not k.startswith(("optimizer", "loss_tracker", "save_counter"))}


# --------------------------------------------------------------------------- Keras layer order -> torch modules


def _weighted_layers(model: M.LearnedDiffusion) -> tuple[str, list[nn.Module]]:
    """(checkpoint prefix, the torch modules in Keras' ``layer_with_weights`` order) of a KA or U-Net model."""
    coeff = model.coefficients
    if isinstance(coeff, M.KACoefficients):
        k = coeff.kappa
        layers = list(k.stem)
        for block in k.blocks:
            layers += list(block)
        return "kappa", layers + list(k.head) + [k.dense]
    unet = coeff.g
    layers = []
    for block in unet.down:
        layers += list(block)
    layers += list(unet.bottom)
    for up, block in unet.up:
        layers += [up] + list(block)
    return "differential_operator", layers + [unet.head]


def _conv_weight(kernel: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(kernel).permute(3, 2, 0, 1)


def _assign(module: nn.Module, v: dict[str, np.ndarray]) -> None:
    """Copy one Keras layer's variables ``v`` (by variable name) into ``module``."""
    t = {name: torch.from_numpy(a) for name, a in v.items()}
    if isinstance(module, M.FrozenBatchNorm):
        module.gamma.copy_(t["gamma"]), module.beta.copy_(t["beta"])
        module.mean.copy_(t["moving_mean"]), module.var.copy_(t["moving_variance"])
    elif isinstance(module, M.SeparableConv):
        module.depthwise.weight.copy_(torch.from_numpy(v["depthwise_kernel"]).permute(2, 3, 0, 1))
        module.pointwise.weight.copy_(_conv_weight(v["pointwise_kernel"]))
        module.pointwise.bias.copy_(t["bias"])
    elif isinstance(module, M.Conv):
        module.weight.copy_(_conv_weight(v["kernel"]))
        if module.bias is not None:
            module.bias.copy_(t["bias"])
    elif isinstance(module, nn.ConvTranspose2d):  # TF (kh, kw, out, in) -> torch (in, out, kh, kw)
        module.weight.copy_(_conv_weight(v["kernel"]))
        module.bias.copy_(t["bias"])
    elif isinstance(module, nn.Linear):
        module.weight.copy_(t["kernel"].T)
        module.bias.copy_(t["bias"])
    else:  # pragma: no cover - every layer above is one of these
        raise TypeError(f"no TensorFlow mapping for {type(module).__name__}")


def _layers_of(variables: dict[str, np.ndarray], prefix: str) -> dict[int, dict[str, np.ndarray]]:
    out: dict[int, dict[str, np.ndarray]] = {}
    for key, value in variables.items():
        parts = key.split("/")
        if parts[0] == prefix and parts[1].startswith("layer_with_weights-"):
            out.setdefault(int(parts[1].rsplit("-", 1)[1]), {})[parts[2]] = value
    return out


def _load_foe(model: M.LearnedDiffusion, variables: dict[str, np.ndarray]) -> None:
    field: M.FoEField = model.coefficients.g
    fn = field.function
    experts = [v for k, v in variables.items() if k.endswith("layer_with_weights-0/kernel")
               and k.split("/")[0] in ("filter_experts", "experts")]
    field.experts.conv.weight.copy_(_conv_weight(experts[0]))
    functions = _layers_of(variables, "model_functions")
    with_bias = next((v for v in functions.values() if "bias" in v), None)  # none for Roth-Black
    without = next(v for v in functions.values() if "bias" not in v)
    if fn.kind in ("splines", "decreasing"):  # slopes f[n, k] = kernel[n * 20 + k]; offsets: the bias (input 0)
        fn.slopes.copy_(torch.from_numpy(without["kernel"].reshape(fn.in_features, M.N_CLASSES)))
        fn.offsets.copy_(torch.from_numpy(with_bias["bias"]))
    elif fn.kind == "monomials":  # c: the kernel on a constant 1; s: the bias on a constant 0
        fn.c.copy_(torch.from_numpy(without["kernel"].reshape(-1)))
        fn.s.copy_(torch.from_numpy(with_bias["bias"]))
    else:
        fn.w.copy_(torch.from_numpy(without["kernel"].reshape(-1)))


def load_into(model: M.LearnedDiffusion, name: str) -> M.LearnedDiffusion:
    """Copy the released checkpoint ``name`` into ``model`` (built by :func:`build`); returns it, in eval mode.

    Raises ``ValueError`` naming the first tensor whose shape does not fit, and when the checkpoint has
    variables the model does not use or the other way round.
    """
    variables = tensors(name)
    with torch.no_grad():
        if isinstance(model.coefficients, M.PixelNetCoefficients) and isinstance(model.coefficients.g, M.FoEField):
            _load_foe(model, variables)
            used = len(variables)
        else:
            prefix, modules = _weighted_layers(model)
            layers = _layers_of(variables, prefix)
            if sorted(layers) != list(range(len(modules))):
                raise ValueError(f"{name}: the checkpoint has {len(layers)} weighted layers under {prefix!r}, "
                                 f"the torch model {len(modules)}; is it the right architecture?")
            for i, module in enumerate(modules):
                try:
                    _assign(module, layers[i])
                except RuntimeError as err:
                    raise ValueError(f"{name}: layer_with_weights-{i} does not fit {type(module).__name__}: "
                                     f"{err}") from err
            used = sum(len(v) for v in layers.values())
    if used != len(variables):
        raise ValueError(f"{name}: {len(variables) - used} checkpoint variables were not used")
    return model.eval()


def load(name: str, faithful: bool = True) -> M.LearnedDiffusion:
    """The authors' trained model ``name`` as a torch :class:`~.method.LearnedDiffusion` (float32, eval mode).

    ``faithful=False`` loads the same weights into the variant the paper intends (FoE-D decreasing, FoE-M
    exponents ``i``, offsets as learned); only FoE models differ.
    """
    return load_into(build(spec(name), faithful), name)


def training_state(name: str) -> dict:
    """What a checkpoint says about its training: optimiser steps, final learning rate, the optimiser (Adam when
    it stores two moment tensors per trained variable; nothing stored for the FoE models) and the mean loss of
    the last epoch (the Keras loss tracker, MSE in grey levels squared)."""
    every = every_tensor(name)
    value = {k.split("/.ATTRIBUTES")[0]: v for k, v in every.items()}
    trained = [k for k in tensors(name) if "moving_" not in k]
    slots = [k for k in value if k.startswith("optimizer/_variables/")]
    total, count = value.get("loss_tracker/total"), value.get("loss_tracker/count")
    return {"checkpoint": name,
            "optimizer steps": int(value["optimizer/_iterations"]) if "optimizer/_iterations" in value else None,
            "final learning rate": float(value["optimizer/_learning_rate"]) if "optimizer/_learning_rate" in value
            else None,
            "optimizer": ("Adam" if len(slots) == 2 * len(trained) else f"{len(slots)} slot tensors") if slots
            else "not stored",
            "last epoch loss (MSE)": float(total / count) if total is not None and count else None}
