"""Selective Synaptic Dampening (Foster, Schoepf, Brintrup, "Fast Machine Unlearning
Without Retraining Through Selective Synaptic Dampening", AAAI 2024; reference code:
if-loops/selective-synaptic-dampening, ``ParameterPerturber``).

No training. The importance of each parameter is the diagonal of the Fisher information
(Eq. 1: the mean over mini-batches of the squared gradient of the cross-entropy),
computed once on D_f ([]_Df) and once on the whole training set ([]_D). Parameters far
more important to D_f than to the data as a whole are specialised to D_f and get
dampened (Eq. 2-3): where []_Df > alpha * []_D, theta <- theta * min(lambda * []_D /
[]_Df, 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..training import as_input, batches, prepare_model
from .base import UnlearningRequest, register


def fisher_diagonal(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, normalize,
                    batch_size: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Diagonal Fisher importance (Foster et al. 2024, Eq. 1): the squared gradient of the
    mean cross-entropy of each mini-batch, averaged over the mini-batches. Batches follow
    the order of ``x`` (unshuffled, as the reference's loaders). BatchNorm in eval mode,
    so computing it changes nothing in the model."""
    prepare_model(model, device)
    model.eval()
    params = dict(model.named_parameters())
    total = {name: torch.zeros_like(p) for name, p in params.items()}
    count = 0
    for idx in batches(len(y), batch_size, shuffle=False):
        model.zero_grad(set_to_none=True)
        logits = model(as_input(normalize(x[idx].to(device))))
        F.cross_entropy(logits, y[idx].to(device)).backward()
        for name, p in params.items():
            if p.grad is not None:
                total[name] += p.grad.detach() ** 2
        count += 1
    model.zero_grad(set_to_none=True)
    return {name: t / max(count, 1) for name, t in total.items()}


def dampen(model: nn.Module, forget_importance: dict[str, torch.Tensor],
           data_importance: dict[str, torch.Tensor], *, alpha: float, lam: float) -> int:
    """Eq. 2-3 of Foster et al. 2024 in place; returns the number of parameters dampened.
    A parameter with zero importance on D_f is never selected."""
    dampened = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            f_imp, d_imp = forget_importance[name], data_importance[name]
            selected = f_imp > alpha * d_imp
            factor = (lam * d_imp / f_imp.clamp_min(torch.finfo(f_imp.dtype).tiny)).clamp(max=1.0)
            p.mul_(torch.where(selected, factor, torch.ones_like(factor)))
            dampened += int(selected.sum())
    return dampened


@register("ssd", scenario="any", needs={"forget_data", "retain_data"})
def ssd(
    model: nn.Module,
    request: UnlearningRequest,
    *,
    alpha: float = 10.0,
    lam: float = 1.0,
    batch_size: int = 64,
) -> nn.Module:
    """Dampen the parameters specialised to D_f (Foster et al. 2024); no training.

    ``alpha`` is the reference's ``selection_weighting`` (10) and ``lam`` its
    ``dampening_constant`` (1); batches of 64 in the reference's order: D_r class by
    class (stable within a class), then D_f. Known to be sensitive to alpha and lam (an
    issue on the reference repository): the leaderboard reports what these defaults give.
    """
    if not alpha > 0 or not lam > 0:
        raise ValueError(f"alpha and lam must be > 0, got alpha={alpha}, lam={lam}")
    xf, yf = request.forget_data()
    xr, yr = request.retain_data()
    common = dict(normalize=request.normalize, batch_size=batch_size, device=request.device)
    by_class = torch.sort(yr, stable=True).indices
    forget_importance = fisher_diagonal(model, xf, yf, **common)
    data_importance = fisher_diagonal(model, torch.cat([xr[by_class], xf]), torch.cat([yr[by_class], yf]),
                                      **common)
    request.report["params_dampened"] = dampen(model, forget_importance, data_importance,
                                               alpha=alpha, lam=lam)
    return model
