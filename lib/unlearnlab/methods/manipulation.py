"""Label reassignment and model manipulation (Liao & Lin, IEEE ISM 2024, P1).

- ``relabel``: give every forget sample another label and fine-tune on the relabelled
  D_f mixed with D_r (Graves et al. 2021 "Amnesiac ML"; SalUn's RL baseline).
- ``reset``: re-initialise named layers or stages and train them on D_r while the rest
  stays frozen or trains at a lower rate (EU-k, Goel et al. 2022).
- ``prune``: zero a fraction of the conv/linear weights chosen by magnitude or by
  forget-class importance, optionally followed by fine-tuning on D_r with the pruned
  weights held at zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..models import reinitialize, submodules
from ..training import as_input, model_device, predict, prepare_model, train_constant
from .base import UnlearningRequest, register

TARGETS = ("random", "second_best", "unknown")
CRITERIA = ("magnitude", "importance")


def relabel_targets(labels: torch.Tensor, num_classes: int, forget_classes: Sequence[int], how: str,
                    *, logits: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
    """New labels for D_f: never the true label, never another forgotten class.

    ``random``: uniform over the allowed classes; ``second_best``: the model's highest
    allowed logit (its nearest wrong class); ``unknown``: an extra class ``num_classes``.
    """
    if how not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {how!r}")
    if how == "unknown":
        return torch.full_like(labels, num_classes)
    allowed = torch.ones(len(labels), num_classes, dtype=torch.bool)
    allowed[torch.arange(len(labels)), labels] = False
    allowed[:, list(forget_classes)] = False
    if not allowed.any(1).all():
        raise ValueError("No class is left to relabel to")
    if how == "second_best":
        if logits is None:
            raise ValueError("second_best needs the model's logits")
        return logits.masked_fill(~allowed, float("-inf")).argmax(1)
    gen = torch.Generator().manual_seed(seed)
    scores = torch.rand(allowed.shape, generator=gen).masked_fill(~allowed, -1.0)
    return scores.argmax(1)


def _with_unknown_output(model: nn.Module) -> nn.Linear:
    """Give ``model.fc`` one extra output (the "unknown" class); returns the old layer."""
    old = model.fc
    new = nn.Linear(old.in_features, old.out_features + 1, device=old.weight.device)
    with torch.no_grad():
        new.weight[:-1] = old.weight
        new.bias[:-1] = old.bias
        new.weight[-1].zero_()
        new.bias[-1] = old.bias.min() - 1.0
    model.fc = new
    return old


def _drop_unknown_output(model: nn.Module, old: nn.Linear) -> None:
    with torch.no_grad():
        old.weight.copy_(model.fc.weight[:-1])
        old.bias.copy_(model.fc.bias[:-1])
    model.fc = old


@register("relabel", scenario="any", needs={"forget_data", "retain_data"})
def relabel(
    model: nn.Module,
    request: UnlearningRequest,
    *,
    target: str = "random",
    epochs: int = 2,
    lr: float = 0.01,
    retain_share: float = 0.5,
    batch_size: int = 128,
) -> nn.Module:
    """Label reassignment, then fine-tuning on relabelled D_f mixed with D_r.

    ``target``: random (a random other class), second_best (the model's own nearest
    wrong class) or unknown (an extra output, trained then removed again so the
    architecture is unchanged: D_f's logits on the real classes are what remains).
    ``retain_share``: the share of D_r images in the fine-tuning mix (0.5: as many D_r
    images as D_f images), drawn at random each call. SGD, constant ``lr``.
    """
    if not 0.0 <= retain_share < 1.0:
        raise ValueError(f"retain_share must be in [0, 1), got {retain_share}")
    xf, yf = request.forget_data()
    logits = predict(model, xf, normalize=request.normalize, device=request.device)
    new_labels = relabel_targets(yf, request.num_classes, request.forget_classes, target,
                                 logits=logits, seed=request.seed)
    xr, yr = request.retain_data()
    n_retain = min(len(yr), round(len(yf) * retain_share / (1 - retain_share)))
    pick = torch.randperm(len(yr), generator=torch.Generator().manual_seed(request.seed))[:n_retain]
    x, y = torch.cat([xf, xr[pick]]), torch.cat([new_labels, yr[pick]])
    old_fc = _with_unknown_output(model) if target == "unknown" else None
    steps = train_constant(model, x, y, epochs=epochs, lr=lr, batch_size=batch_size,
                           normalize=request.normalize, seed=request.seed, device=request.device,
                           weight_decay=request.recipe.weight_decay, desc="relabel")
    if old_fc is not None:
        _drop_unknown_output(model, old_fc)
    request.report.update(steps=steps, relabelled=len(yf))
    return model


@register("reset", scenario="any", needs={"retain_data"})
def reset(
    model: nn.Module,
    request: UnlearningRequest,
    *,
    layers: Sequence[str] = ("fc",),
    rest: str = "frozen",
    rest_lr_scale: float = 0.1,
    epochs: int = 2,
    lr: float = 0.02,
    batch_size: int = 128,
) -> nn.Module:
    """Weight resetting (EU-k): re-initialise ``layers`` (module or stage names, e.g.
    ``("fc",)`` or ``("stage2", "head", "fc")``) and train on D_r. ``rest``: frozen (the
    other parameters and BatchNorm statistics stay bit-identical) or ``lower_lr``
    (they train at ``rest_lr_scale`` times ``lr``)."""
    if rest not in ("frozen", "lower_lr"):
        raise ValueError(f"rest must be 'frozen' or 'lower_lr', got {rest!r}")
    chosen = submodules(model, layers)
    for i, module in enumerate(chosen):
        reinitialize(module, seed=request.seed + i)
    reset_params = {id(p) for m in chosen for p in m.parameters()}
    others = [p for p in model.parameters() if id(p) not in reset_params]
    groups = [{"params": [p for m in chosen for p in m.parameters()]}]
    eval_modules: list[nn.Module] = []
    if rest == "lower_lr":
        groups.append({"params": others, "lr_scale": rest_lr_scale})
    else:
        inside = {id(sub) for m in chosen for sub in m.modules()}
        eval_modules = [m for m in model.modules()
                        if isinstance(m, nn.modules.batchnorm._BatchNorm) and id(m) not in inside]
    x, y = request.retain_data()
    request.report["steps"] = train_constant(
        model, x, y, epochs=epochs, lr=lr, batch_size=batch_size, normalize=request.normalize,
        seed=request.seed, device=request.device, weight_decay=request.recipe.weight_decay,
        desc="reset", param_groups=groups, eval_modules=eval_modules)
    return model


def prunable_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{name}.weight": m.weight for name, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))}


def importance_on(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 256
                  ) -> dict[str, torch.Tensor]:
    """First-order importance of each weight for the loss on (x, y): |w * dL/dw|."""
    weights = prunable_weights(model)
    grads = {n: torch.zeros_like(w) for n, w in weights.items()}
    device = model_device(model)
    model.eval()
    for start in range(0, len(y), batch_size):
        model.zero_grad(set_to_none=True)
        xb, yb = x[start:start + batch_size].to(device), y[start:start + batch_size].to(device)
        loss = F.cross_entropy(model(as_input(xb)), yb, reduction="sum")
        loss.backward()
        for n, w in weights.items():
            grads[n] += w.grad.detach()
    model.zero_grad(set_to_none=True)
    return {n: (weights[n].detach() * grads[n]).abs() for n in weights}


@register("prune", scenario="any", needs={"forget_data", "retain_data"})
def prune(
    model: nn.Module,
    request: UnlearningRequest,
    *,
    fraction: float = 0.05,
    criterion: str = "importance",
    finetune_epochs: int = 0,
    lr: float = 0.01,
    batch_size: int = 128,
) -> nn.Module:
    """Weight pruning: zero ``fraction`` of the conv/linear weights of each layer,
    chosen by smallest magnitude or by largest importance for D_f (|w * dL_f/dw|), then
    optionally fine-tune on D_r for ``finetune_epochs`` with the pruned weights held at
    zero (their gradients are masked, and weight decay moves no zero weight) and the
    original recipe's weight decay, like every other fine-tuning method here."""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    prepare_model(model, request.device)
    weights = prunable_weights(model)
    if criterion == "importance":
        xf, yf = request.forget_data()
        scores = importance_on(model, request.normalize(xf.to(request.device)), yf.to(request.device))
    else:
        scores = {n: -w.detach().abs() for n, w in weights.items()}  # smallest first
    masks, pruned = {}, 0
    with torch.no_grad():
        for name, w in weights.items():
            k = max(1, round(fraction * w.numel()))
            cut = scores[name].flatten().topk(k).indices
            mask = torch.ones(w.numel(), device=w.device)
            mask[cut] = 0.0
            masks[name] = mask.view_as(w)
            w.mul_(masks[name])
            pruned += k
    if finetune_epochs > 0:
        x, y = request.retain_data()
        hooks = [w.register_hook(lambda g, m=masks[n]: g * m) for n, w in weights.items()]
        try:
            request.report["steps"] = train_constant(
                model, x, y, epochs=finetune_epochs, lr=lr, batch_size=batch_size,
                normalize=request.normalize, seed=request.seed, device=request.device,
                weight_decay=request.recipe.weight_decay, desc="prune fine-tune")
        finally:
            for h in hooks:
                h.remove()
    request.report["weights_pruned"] = pruned
    return model
