"""SCRUB: a student that moves away from its teacher on D_f and stays with it on D_r
(Kurmanji, Triantafillou, Hayes, Triantafillou, "Towards Unbounded Machine Unlearning",
NeurIPS 2023; reference code: meghdadk/SCRUB, ``train_distill``).

The teacher is the original model (frozen); the student starts as its copy. Each epoch
begins, for the first ``max_epochs`` epochs, with a *max* pass over D_f that maximises
d(x) = KL(teacher(x) || student(x)) (Eq. 3's first term), then runs a *min* pass over
D_r minimising gamma * CE(student(x), y) + alpha * d(x) (Eq. 3's other terms; the
reference weights them 0.99 and 0.001). KL is taken at temperature ``kd_temperature``
and scaled by T^2, as the reference's ``DistillKL``.

Batch sizes are the reference's class-forgetting loaders': 512 for D_f and 256 for D_r
(``large_scale_unlearning.ipynb``; its ``del_batch_size = 32`` is set but never read),
so a max pass over a 1,000-image class is 2 steps. One SGD optimizer (momentum 0.9, no
Nesterov, weight decay 5e-4) serves the whole run, as in the reference: the momentum
built in a max pass carries into the following min steps.

Where we differ: the reference's loaders reshuffle with the global torch seed, ours
with ``request.seed``; the reference evaluates and may stop early between epochs,
ours runs every epoch.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..training import kl_to_targets, prepare_model, soft_targets, train_constant
from .base import UnlearningRequest, register


def _pack(labels: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """One target row per sample: the label in column 0, the teacher's distribution after
    it (the training loop slices a single target tensor per batch)."""
    return torch.cat([labels[:, None].float(), teacher], dim=1)


@register("scrub", scenario="any", needs={"forget_data", "retain_data"})
def scrub(
    model: nn.Module,
    request: UnlearningRequest,
    *,
    epochs: int = 3,
    max_epochs: int = 2,
    lr: float = 5e-4,
    kd_temperature: float = 4.0,
    gamma: float = 0.99,
    alpha: float = 0.001,
    forget_batch_size: int = 512,
    retain_batch_size: int = 256,
) -> nn.Module:
    """Alternate max passes on D_f and min passes on D_r (Kurmanji et al. 2023, Eq. 3).

    Defaults are the reference's small-scale CIFAR-10 settings: SGD lr 5e-4, momentum
    0.9, weight decay 5e-4, T = 4, gamma 0.99, alpha 0.001, 3 epochs of which the first
    2 include a max pass (``msteps``), forget batch 512, retain batch 256, one optimizer
    for the run. Its lr decay at epochs 3/5/9 never triggers within 3 epochs, so the
    rate is constant. The student trains in train mode (BatchNorm statistics move, as in
    the reference).
    """
    if not 0 <= max_epochs <= epochs:
        raise ValueError(f"max_epochs must be in 0..epochs ({epochs}), got {max_epochs}")
    if not kd_temperature > 0:
        raise ValueError(f"kd_temperature must be > 0, got {kd_temperature}")
    xf, _ = request.forget_data()
    xr, yr = request.retain_data()
    teacher = copy.deepcopy(model).eval()
    forget_targets = soft_targets(teacher, xf, normalize=request.normalize,
                                  temperature=kd_temperature, device=request.device)
    retain_targets = _pack(yr, soft_targets(teacher, xr, normalize=request.normalize,
                                            temperature=kd_temperature, device=request.device))
    del teacher
    t2 = kd_temperature ** 2

    def away_from_teacher(logits: torch.Tensor, teacher_probs: torch.Tensor) -> torch.Tensor:
        return -t2 * kl_to_targets(logits, teacher_probs, kd_temperature)

    def with_teacher(logits: torch.Tensor, packed: torch.Tensor) -> torch.Tensor:
        labels, teacher_probs = packed[:, 0].long(), packed[:, 1:]
        return (gamma * F.cross_entropy(logits, labels)
                + alpha * t2 * kl_to_targets(logits, teacher_probs, kd_temperature))

    prepare_model(model, request.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    common = dict(epochs=1, lr=lr, normalize=request.normalize, device=request.device,
                  shared_optimizer=optimizer)
    steps = {"max": 0, "min": 0}
    for epoch in range(epochs):
        if epoch < max_epochs:
            steps["max"] += train_constant(model, xf, forget_targets, batch_size=forget_batch_size,
                                           seed=request.seed + 2 * epoch, desc="scrub max",
                                           loss_fn=away_from_teacher, **common)
        steps["min"] += train_constant(model, xr, retain_targets, batch_size=retain_batch_size,
                                       seed=request.seed + 2 * epoch + 1, desc="scrub min",
                                       loss_fn=with_teacher, **common)
    request.report.update(steps=steps["max"] + steps["min"], max_steps=steps["max"],
                          min_steps=steps["min"])
    return model
