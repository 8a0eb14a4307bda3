"""Bad Teacher: unlearning by a competent and an incompetent teacher (Chundawat, Tarun,
Mandal, Kankanhalli, "Can Bad Teaching Induce Forgetting? Unlearning in Deep Networks
using an Incompetent Teacher", AAAI 2023; reference code: bad-teaching-unlearning).

The student starts as a copy of the original. On D_f it is distilled towards a randomly
initialised model of the same architecture (the incompetent teacher), on a random share
of D_r towards the original (the competent teacher). Eq. 2-3 of the paper: per sample
the loss is KL(T(x) || S(x)) at temperature T, with T the incompetent teacher for
forget samples (l_u = 1) and the competent one for retain samples (l_u = 0).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..models import reinitialize
from ..training import kl_to_targets, soft_targets, train_constant
from .base import UnlearningRequest, register


@register("bad_teacher", scenario="any", needs={"forget_data", "retain_data"})
def bad_teacher(
    model: nn.Module,
    request: UnlearningRequest,
    *,
    retain_share: float = 0.3,
    temperature: float = 1.0,
    epochs: int = 1,
    lr: float = 1e-4,
    batch_size: int = 256,
) -> nn.Module:
    """Distil from an incompetent teacher on D_f and the original on D_r (Chundawat et
    al. 2023, Eq. 2-3).

    Defaults are the reference code's: a random 30 % of D_r (``retain_share``), KL at
    temperature 1 (no T^2 factor), one epoch of Adam at lr 1e-4, batch 256, the forget
    and retain samples shuffled together. Both teachers are frozen in eval mode, so
    their output distributions are computed once; the student trains in train mode.
    """
    if not 0.0 < retain_share <= 1.0:
        raise ValueError(f"retain_share must be in (0, 1], got {retain_share}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    xf, _ = request.forget_data()
    xr, _ = request.retain_data()
    generator = torch.Generator().manual_seed(request.seed)
    keep = torch.randperm(len(xr), generator=generator)[: max(1, round(retain_share * len(xr)))]
    xr = xr[keep]

    incompetent = reinitialize(copy.deepcopy(model), seed=request.seed + 7919).eval()
    competent = copy.deepcopy(model).eval()
    targets = torch.cat([
        soft_targets(incompetent, xf, normalize=request.normalize, temperature=temperature,
                     device=request.device),
        soft_targets(competent, xr, normalize=request.normalize, temperature=temperature,
                     device=request.device),
    ])
    del incompetent, competent
    request.report["steps"] = train_constant(
        model, torch.cat([xf, xr]), targets, epochs=epochs, lr=lr, batch_size=batch_size,
        normalize=request.normalize, seed=request.seed, device=request.device, optimizer="adam",
        desc="bad teacher", loss_fn=lambda logits, t: kl_to_targets(logits, t, temperature))
    request.report["retain_used"] = len(keep)
    return model
