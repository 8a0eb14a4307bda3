"""The three baselines every paper compares with: retrain, fine-tune, NegGrad."""

from __future__ import annotations

import dataclasses
import hashlib
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..cache import cached
from ..models import reinitialize, structure_fingerprint
from ..training import fit, train_constant
from .base import UnlearningRequest, register


@register("retrain", scenario="any", needs={"retain_data"})
def retrain(model: nn.Module, request: UnlearningRequest, *, epochs: int | None = None) -> nn.Module:
    """Retrain from scratch on D_r with the original recipe: the gold standard.

    ``epochs`` overrides the recipe's epoch count (None = the original's). The result is
    cached by dataset, retain set, architecture, recipe and seed; a cache hit reports
    the time the training took when it was computed.
    """
    recipe = request.recipe if epochs is None else dataclasses.replace(request.recipe, epochs=epochs)
    x, y = request.retain_data()
    key = {
        "dataset": request.dataset_fingerprint,
        "retain": _index_hash(request.split.retain_indices),
        "model": request.model_name,
        "architecture": type(model).__name__,
        "structure": structure_fingerprint(model),
        "recipe": recipe,
        "seed": request.seed,
    }

    computed = []

    def train() -> dict:
        computed.append(True)
        reinitialize(model, seed=request.seed)
        start = time.perf_counter()
        history = fit(model, x, y, recipe, normalize=request.normalize, seed=request.seed,
                      device=request.device, desc="retrain")
        return {"state": _cpu_state(model), "time_s": time.perf_counter() - start,
                "epochs": history.epoch}

    hit = cached("retrain", key, train)
    model.load_state_dict(hit["state"])
    request.report.update(time_s=hit["time_s"], cached=not computed)
    return model.to(request.device).eval()


@register("finetune", scenario="any", needs={"retain_data"})
def finetune(
    model: nn.Module,
    request: UnlearningRequest,
    *,
    epochs: int = 10,
    lr: float = 0.02,
    batch_size: int = 128,
) -> nn.Module:
    """Fine-tune on D_r only ("FT"; Golatkar et al. 2020), so D_f is forgotten by
    catastrophic forgetting. Defaults: 10 epochs, SGD lr 0.02 (constant), momentum 0.9,
    the usual CIFAR setting of the FT baseline."""
    x, y = request.retain_data()
    request.report["steps"] = train_constant(
        model, x, y, epochs=epochs, lr=lr, batch_size=batch_size, normalize=request.normalize,
        seed=request.seed, device=request.device, weight_decay=request.recipe.weight_decay,
        augment=request.recipe.augment, desc="finetune")
    return model


@register("neggrad", scenario="any", needs={"forget_data"})
def neggrad(
    model: nn.Module,
    request: UnlearningRequest,
    *,
    epochs: int = 5,
    lr: float = 1e-4,
    batch_size: int = 128,
) -> nn.Module:
    """Gradient ascent on D_f ("NegGrad"/"GA"; Golatkar et al. 2020, Thudi et al. 2022):
    minimise -CE on the forget samples. BatchNorm stays in eval mode so its statistics
    do not drift towards D_f. Defaults: 5 epochs, SGD lr 1e-4 (constant), momentum 0.9."""
    x, y = request.forget_data()
    request.report["steps"] = train_constant(
        model, x, y, epochs=epochs, lr=lr, batch_size=batch_size, normalize=request.normalize,
        seed=request.seed, device=request.device, desc="neggrad", freeze_batchnorm=True,
        loss_fn=lambda logits, labels: -F.cross_entropy(logits, labels))
    return model


def _index_hash(indices: torch.Tensor) -> str:
    return hashlib.sha256(indices.contiguous().numpy().tobytes()).hexdigest()[:20]


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
