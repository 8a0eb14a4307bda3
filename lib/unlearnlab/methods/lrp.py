"""Zero-shot class unlearning by layer-wise relevance and neuronal path perturbation
(Chang, Zhu, Wu, Zhou 2024, arXiv 2410.23693; reference code LRA-NPP).

No training sample is touched: the method sees the model and a few forget-class samples
from the *test* split (``needs={"unseen_forget"}``).

1. Relevance: LRP (Captum ``LayerLRP``, epsilon rule by default) from each sample's
   predicted logit back to the input of the last linear layer (the penultimate units).
   There, LRP-epsilon equals activation x outgoing weight to the explained class.
2. Selection: per sample the top-k units by signed relevance; the N units that occur
   most often across samples are kept (ties broken by summed relevance).
3. Perturbation of the paths through the kept units: zero them (the method) or add
   Gaussian / Laplace noise of scale 1.0 (the paper's baselines). Biases are untouched
   and there is no fine-tuning.

Reference settings (k per sample / N kept / share of the layer): MNIST 50/80 of 512
(15.6 %), CIFAR-10 ResNet-50 200/400 of 2048 (19.5 %), CIFAR-100 ResNet-50 150/250
(12.2 %), ImageNet VGG-16 150/400 of 4096 (9.8 %). ``k`` and ``n_keep`` take counts or
fractions of the layer's width; by default each model takes its family's reference shares
(ResNets the CIFAR-10 ones, VGG the ImageNet ones, smaller networks the MNIST ones).

Multi-layer mode (beyond the reference code): ``layers`` names further conv/linear
modules; in each, channels are ranked by LRP relevance at the module's output summed
over height and width, the same top-k / frequency selection keeps ``n_keep`` of them,
and their incoming weights (the filters that produce them) are perturbed. Residual
sums are ``Addition_Module``s, so relevance is conserved through residual blocks.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from captum.attr import LRP, LayerLRP
from captum.attr._core.lrp import SUPPORTED_LAYERS_WITH_RULES, SUPPORTED_NON_LINEAR_LAYERS
from captum.attr._utils.lrp_rules import Alpha1_Beta0_Rule, EpsilonRule, GammaRule, IdentityRule
from torch import nn

from ..training import model_device
from .base import UnlearningRequest, register

RULES = {"epsilon": EpsilonRule, "gamma": GammaRule, "alpha1beta0": Alpha1_Beta0_Rule,
         "identity": IdentityRule}
PERTURBATIONS = ("zero", "gaussian", "laplace")
PATHS = ("auto", "incoming+outgoing_forget", "outgoing_all", "outgoing_forget", "incoming")


def count_from(value: float | int, width: int, name: str) -> int:
    """A count given as an int, or as a fraction (0, 1] of ``width``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive count or a fraction in (0, 1], got {value!r}")
    count = round(value * width) if isinstance(value, float) and value <= 1.0 else int(value)
    return max(1, min(count, width))


#: The reference's (k per sample, N units cut) as shares of the penultimate layer, by
#: model family: MNIST's small network 50 and 80 of 512, CIFAR-10's ResNet-50 200 and 400
#: of 2048, ImageNet's VGG-16 150 and 400 of 4096.
REFERENCE_SHARES = {"small": (50 / 512, 80 / 512), "resnet": (200 / 2048, 400 / 2048),
                    "vgg": (150 / 4096, 400 / 4096)}


def model_family(model: nn.Module) -> str:
    """``resnet``, ``vgg`` or ``small`` (every other network: the reference's MNIST setting)."""
    from ..models import VGG16, ResNet

    return "resnet" if isinstance(model, ResNet) else "vgg" if isinstance(model, VGG16) else "small"


class LRPIncompatibleModel(TypeError):
    """The model has a module Captum's LRP cannot pass relevance through."""


_FIXES = {
    nn.Flatten: "call torch.flatten(x, 1) in forward() instead of an nn.Flatten module",
    nn.Identity: "drop the nn.Identity module (pass the tensor on in forward())",
    nn.BatchNorm1d: "use BatchNorm2d before flattening, or give the module a rule (rules={...})",
}


def check_lrp_compatible(model: nn.Module, x: torch.Tensor) -> None:
    """Refuse, before Captum runs, a model that LRP cannot explain: a module that takes
    part in the forward pass and has no LRP rule (Captum 0.9 supports Conv2d, Linear,
    BatchNorm2d, max/average pooling and ``Addition_Module`` with rules, and lets ReLU,
    Dropout and Tanh pass through; a module given a ``rule`` attribute is accepted), or
    one module called twice in one forward pass (Captum keeps one set of hooks per
    module). The message names each module's path and type and how to fix it."""
    supported = tuple(SUPPORTED_LAYERS_WITH_RULES) + tuple(SUPPORTED_NON_LINEAR_LAYERS)
    calls: dict[str, int] = {}
    hooks = []
    for name, module in model.named_modules():
        if name and not list(module.children()):
            hooks.append(module.register_forward_hook(
                lambda mod, inp, out, name=name: calls.__setitem__(name, calls.get(name, 0) + 1)))
    try:
        with torch.no_grad():
            model(x[:1].to(model_device(model)))
    finally:
        for hook in hooks:
            hook.remove()
    modules = dict(model.named_modules())
    problems = []
    for name, count in calls.items():
        module = modules[name]
        if not isinstance(module, supported) and not hasattr(module, "rule"):
            fix = next((f for t, f in _FIXES.items() if isinstance(module, t)),
                       "replace it by a supported layer, or give it a rule (rules={name: 'epsilon'})")
            problems.append(f"  {name} ({type(module).__name__}): no LRP rule; {fix}")
        if count > 1:
            problems.append(f"  {name} ({type(module).__name__}): called {count} times in one forward "
                            f"pass; give each use its own module")
    if problems:
        names = ", ".join(sorted({t.__name__ for t in supported}))
        raise LRPIncompatibleModel(
            f"{type(model).__name__} cannot be explained by Captum's LRP:\n" + "\n".join(problems)
            + f"\nSupported modules: {names}.")


def _probe(model: nn.Module, rules: dict[str, str] | None) -> nn.Module:
    """A copy of the model for Captum (its hooks and rule attributes stay off the result)."""
    probe = copy.deepcopy(model).eval()
    modules = dict(probe.named_modules())
    for name, rule in (rules or {}).items():
        if name not in modules:
            raise ValueError(f"No module {name!r} to give a rule to")
        if rule not in RULES:
            raise ValueError(f"Unknown rule {rule!r}; choose from {sorted(RULES)}")
        modules[name].rule = RULES[rule]()
    return probe


def unit_relevance(model: nn.Module, x: torch.Tensor, layer: str = "fc", *,
                   to_input: bool = True, rules: dict[str, str] | None = None) -> torch.Tensor:
    """LRP relevance of each unit/channel at ``layer`` for each sample's predicted class.

    ``to_input=True`` gives the relevance of the layer's input (for ``fc``: the
    penultimate units), otherwise of its output. Conv maps are summed over height and
    width, so the result is (samples, units).
    """
    probe = _probe(model, rules)
    module = dict(probe.named_modules())[layer]
    x = x.to(model_device(probe))
    with torch.no_grad():
        target = probe(x).argmax(1)
    relevance = LayerLRP(probe, module).attribute(
        x.clone().requires_grad_(), target=target, attribute_to_layer_input=to_input)
    if isinstance(relevance, tuple):
        relevance = relevance[0]
    relevance = relevance.detach()
    return (relevance.sum(dim=(2, 3)) if relevance.dim() == 4 else relevance).cpu()


def input_relevance(model: nn.Module, x: torch.Tensor, *,
                    rules: dict[str, str] | None = None) -> torch.Tensor:
    """LRP relevance of every input pixel for each sample's predicted class (heatmaps),
    on the CPU."""
    probe = _probe(model, rules)
    x = x.to(model_device(probe))
    with torch.no_grad():
        target = probe(x).argmax(1)
    return LRP(probe).attribute(x.clone().requires_grad_(), target=target).detach().cpu()


def pixel_relevance(model: nn.Module, pixels: torch.Tensor, mean: Sequence[float], std: Sequence[float], *,
                    rules: dict[str, str] | None = None) -> torch.Tensor:
    """LRP relevance of each pixel's intensity (``pixels`` in [0, 1]) for the predicted
    class, black pixels carrying none.

    The model sees normalised inputs x = (p - mean) / std, and LRP's first layer gives
    input i the relevance R_i = x_i * G_i, where G_i is the relevance the rule sends back
    per unit of input. On normalised inputs a black background (x = -mean/std) is not 0
    and takes relevance, so the map spreads over the background. With the normalisation
    folded into the first layer's weights (w / std) and bias, that layer's inputs are the
    pixels themselves and the same rule gives R_i = (p_i / std) * G_i: the relevance of
    the intensity above black, which lies on the object. Computed from Captum's R_i
    (G_i = R_i / x_i; x_i is never 0 for 8-bit images, whose levels miss mean exactly).
    """
    mean_t = torch.tensor(list(mean), dtype=pixels.dtype, device=pixels.device).view(1, -1, 1, 1)
    std_t = torch.tensor(list(std), dtype=pixels.dtype, device=pixels.device).view(1, -1, 1, 1)
    x = (pixels - mean_t) / std_t
    relevance = input_relevance(model, x, rules=rules).to(pixels.device)
    safe = torch.where(x == 0, torch.ones_like(x), x)
    return torch.where(x == 0, torch.zeros_like(relevance), relevance / safe * pixels / std_t)


@dataclass(frozen=True)
class UnitSelection:
    """Units kept at one layer, and how often each unit made a sample's top-k."""

    layer: str
    units: torch.Tensor
    frequency: torch.Tensor


def select_units(relevance: torch.Tensor, k: int, n_keep: int, layer: str = "fc") -> UnitSelection:
    """Per-sample top-k by signed relevance, then the ``n_keep`` most frequent units
    (ties broken by summed relevance)."""
    top = relevance.topk(k, dim=1).indices
    frequency = torch.bincount(top.flatten(), minlength=relevance.shape[1]).float()
    by_relevance = relevance.sum(0).argsort(descending=True, stable=True)
    by_frequency = by_relevance[frequency[by_relevance].argsort(descending=True, stable=True)]
    units = by_frequency[:n_keep].sort().values
    return UnitSelection(layer, units, frequency)


def _incoming_linear(model: nn.Module) -> nn.Linear | None:
    """The linear layer that produces the penultimate units (an MLP head), if any."""
    head = getattr(model, "head", None)
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)] if head is not None else []
    if linears and linears[-1].out_features == model.fc.in_features:
        return linears[-1]
    return None


def path_weights(model: nn.Module, units: torch.Tensor, forget_classes: Sequence[int],
                 paths: str = "auto") -> list[tuple[torch.Tensor, tuple]]:
    """The (parameter, index) pairs on the paths through penultimate ``units``.

    ``auto`` is the reference code's choice: for an MLP head, incoming weights of the
    unit and its outgoing weights to the forget class(es); otherwise (ResNet-style
    pooled features) the unit's outgoing weights to every class.
    """
    if paths not in PATHS:
        raise ValueError(f"paths must be one of {PATHS}, got {paths!r}")
    incoming = _incoming_linear(model)
    if paths == "auto":
        paths = "incoming+outgoing_forget" if incoming is not None else "outgoing_all"
    if "incoming" in paths and incoming is None:
        raise ValueError(f"{type(model).__name__} has no linear layer feeding its last layer; "
                         f"use paths='outgoing_all' or 'outgoing_forget'")
    forget = torch.tensor(list(forget_classes), dtype=torch.long)
    out: list[tuple[torch.Tensor, tuple]] = []
    if paths in ("incoming+outgoing_forget", "incoming"):
        out.append((incoming.weight, (units,)))
    if paths in ("incoming+outgoing_forget", "outgoing_forget"):
        out.append((model.fc.weight, (forget[:, None], units[None, :])))
    if paths == "outgoing_all":
        out.append((model.fc.weight, (slice(None), units)))
    return out


def perturb(weights: list[tuple[torch.Tensor, tuple]], how: str, *, scale: float | str = 1.0,
            seed: int = 0) -> int:
    """Zero the selected weights, or add Gaussian / Laplace noise of ``scale``: a number,
    or ``"tensor_std"`` for each weight tensor's own standard deviation (taken before any
    edit; the paper's 1.0 is 10-30x the weights of a trained small network).
    Returns the number of weights changed."""
    if how not in PERTURBATIONS:
        raise ValueError(f"perturbation must be one of {PERTURBATIONS}, got {how!r}")
    if isinstance(scale, str) and scale != "tensor_std":
        raise ValueError(f"noise_scale must be a number or 'tensor_std', got {scale!r}")
    stds = {id(param): float(param.detach().std()) for param, _ in weights}
    gen = torch.Generator().manual_seed(seed)
    changed = 0
    with torch.no_grad():
        for param, index in weights:
            view = param[index]
            if how == "zero":
                param[index] = 0.0
            else:
                noise = torch.randn(view.shape, generator=gen) if how == "gaussian" else \
                    _laplace(view.shape, gen)
                size = stds[id(param)] if scale == "tensor_std" else scale
                param[index] = view + size * noise.to(param.device, param.dtype)
            changed += view.numel()
    return changed


def default_layers(model: nn.Module, stages: int = 2) -> tuple[str, ...]:
    """For the multi-layer mode: the last conv layer of each of the last ``stages``
    stages that contain convs (e.g. ``stage1.0``, ``stage2.0`` for the small CNN)."""
    last_conv: dict[str, str] = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and "shortcut" not in name:
            last_conv[name.split(".")[0]] = name
    return tuple(list(last_conv.values())[-stages:])


def _laplace(shape: torch.Size, generator: torch.Generator) -> torch.Tensor:
    """Standard Laplace samples by inverse CDF, from a seeded generator."""
    u = torch.rand(shape, generator=generator) - 0.5
    return -torch.sign(u) * torch.log1p(-2 * u.abs().clamp(max=0.5 - 1e-7))


@register("lrp_path", scenario="class", needs={"unseen_forget"})
def lrp_path(
    model: nn.Module,
    request: UnlearningRequest,
    *,
    n_samples: int = 36,
    k: float | int | None = None,
    n_keep: float | int | None = None,
    perturbation: str = "zero",
    noise_scale: float | str = 1.0,
    paths: str = "auto",
    layers: Sequence[str] = (),
    rules: dict[str, str] | None = None,
) -> nn.Module:
    """Zero-shot LRP path perturbation (Chang et al. 2024).

    ``n_samples`` unseen forget-class test images (reference: 36); ``k`` units per
    sample and ``n_keep`` units cut (the paper's N), as counts or fractions of the layer's
    width; None takes the reference's shares for the model's family
    (:data:`REFERENCE_SHARES`: ResNets 9.8 % and 19.5 %, VGG 3.7 % and 9.8 %, any other
    network the MNIST setting 9.8 % and 15.6 %); ``perturbation``
    zero | gaussian | laplace with ``noise_scale`` (reference: 1.0; ``"tensor_std"``: each
    weight tensor's own standard deviation); ``paths`` which
    weights through a kept unit (see :func:`path_weights`); ``layers`` extra conv/linear
    modules for the multi-layer mode; ``rules`` maps module names to LRP rules
    (epsilon | gamma | alpha1beta0 | identity; Captum's defaults elsewhere).
    """
    family = model_family(model)
    k = REFERENCE_SHARES[family][0] if k is None else k
    n_keep = REFERENCE_SHARES[family][1] if n_keep is None else n_keep
    x, _ = request.unseen_forget_samples(n_samples)
    x = request.normalize(x.to(request.device))
    model.to(request.device).eval()
    check_lrp_compatible(_probe(model, rules), x)
    selections = []
    relevance = unit_relevance(model, x, "fc", to_input=True, rules=rules)
    width = relevance.shape[1]
    selections.append(select_units(relevance, count_from(k, width, "k"),
                                   count_from(n_keep, width, "n_keep"), "fc"))
    weights = path_weights(model, selections[0].units, request.forget_classes, paths)
    modules = dict(model.named_modules())
    for layer in layers:
        module = modules.get(layer)
        if not isinstance(module, (nn.Conv2d, nn.Linear)):
            raise ValueError(f"Multi-layer mode needs conv or linear modules; {layer!r} is "
                             f"{type(module).__name__ if module is not None else 'missing'}")
        channel_relevance = unit_relevance(model, x, layer, to_input=False, rules=rules)
        width = channel_relevance.shape[1]
        selection = select_units(channel_relevance, count_from(k, width, "k"),
                                 count_from(n_keep, width, "n_keep"), layer)
        selections.append(selection)
        weights.append((module.weight, (selection.units,)))
    changed = perturb(weights, perturbation, scale=noise_scale, seed=request.seed)
    request.report.update(model_family=family, weights_changed=changed, units_kept=sum(len(s.units) for s in selections),
                          samples_used=len(x))
    return model
