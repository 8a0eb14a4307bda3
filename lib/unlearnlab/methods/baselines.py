"""The baselines every paper compares with: retrain, fine-tune, NegGrad; and two that
2025-26 papers and toolkits add: NegGrad+ (Kurmanji et al. 2023) and l1-sparse
fine-tuning (Jia et al. 2023)."""

from __future__ import annotations

import dataclasses
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..cache import cached
from ..data import index_hash
from ..models import reinitialize, structure_fingerprint
from ..training import as_input, batches, fit, prepare_model, train_constant
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
        "retain": index_hash(request.split.retain_indices),
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


@register("neggrad_plus", scenario="any", needs={"forget_data", "retain_data"})
def neggrad_plus(
    model: nn.Module,
    request: UnlearningRequest,
    *,
    epochs: int = 5,
    lr: float = 0.01,
    alpha: float = 0.95,
    batch_size: int = 128,
) -> nn.Module:
    """NegGrad+ (Kurmanji, Triantafillou, Hayes, Triantafillou, NeurIPS 2023, the SCRUB
    paper's baseline; reference code meghdadk/SCRUB): fine-tune on D_r and ascend on D_f
    at once, loss = alpha * CE(retain batch) - (1 - alpha) * CE(forget batch), one forget
    batch (D_f cycled) beside every retain batch.

    ``alpha`` 0.95 is the reference's ``ng_alpha``; SGD momentum 0.9, weight decay 5e-4,
    constant rate. The epochs (over D_r) and rate are ours (5 and 0.01, the scale of the
    fine-tuning baseline): the reference sets them per experiment. Train mode throughout,
    as the reference.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    xf, yf = request.forget_data()
    xr, yr = request.retain_data()
    device = request.device
    prepare_model(model, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    generator = torch.Generator().manual_seed(request.seed)
    forget_order = iter(())
    steps = 0
    model.train()
    for _ in range(epochs):
        for idx in batches(len(yr), batch_size, shuffle=True, generator=generator):
            forget_idx = next(forget_order, None)
            if forget_idx is None:  # D_f is cycled: a new shuffled pass when it runs out
                forget_order = iter(batches(len(yf), batch_size, shuffle=True, generator=generator))
                forget_idx = next(forget_order)
            retain_loss = F.cross_entropy(model(as_input(request.normalize(xr[idx].to(device)))),
                                          yr[idx].to(device))
            forget_loss = F.cross_entropy(model(as_input(request.normalize(xf[forget_idx].to(device)))),
                                          yf[forget_idx].to(device))
            loss = alpha * retain_loss - (1 - alpha) * forget_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
    request.report["steps"] = steps
    return model.eval()


@register("l1_sparse", scenario="any", needs={"retain_data"})
def l1_sparse(
    model: nn.Module,
    request: UnlearningRequest,
    *,
    epochs: int = 10,
    lr: float = 0.01,
    gamma: float = 5e-4,
    batch_size: int = 128,
) -> nn.Module:
    """l1-sparse unlearning (Jia, Liu, Ram, Yao, Liu, Liu, Sharma, Liu, "Model Sparsity Can
    Simplify Machine Unlearning", NeurIPS 2023; reference code OPTML-Group/Unlearn-Sparse,
    ``FT`` with ``with_l1``): fine-tune on D_r with loss CE + gamma_e * ||theta||_1
    (Eq. 5), where gamma_e = gamma * (1 - e / epochs) decays linearly over the epochs
    e = 0..epochs-1 (the reference's ``current_alpha``) and ||theta||_1 sums every
    parameter's absolute value.

    Defaults are the reference scripts' 10 epochs at lr 0.01 with gamma 5e-4; one SGD
    optimizer (momentum 0.9, weight decay as the original's recipe) for the run, constant
    rate (the reference's cosine decay over 10 epochs is not reproduced).
    """
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    x, y = request.retain_data()
    prepare_model(model, request.device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=request.recipe.weight_decay)
    steps = 0
    for epoch in range(epochs):
        weight = gamma * (1 - epoch / epochs)

        def penalised(logits: torch.Tensor, labels: torch.Tensor, weight: float = weight) -> torch.Tensor:
            return F.cross_entropy(logits, labels) + weight * sum(p.abs().sum() for p in params)

        steps += train_constant(model, x, y, epochs=1, lr=lr, batch_size=batch_size,
                                normalize=request.normalize, seed=request.seed + epoch,
                                device=request.device, desc="l1_sparse", loss_fn=penalised,
                                shared_optimizer=optimizer)
    request.report["steps"] = steps
    return model


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
