"""UNSIR: error-maximising noise, impair and repair (Tarun et al., IEEE TNNLS 2023,
arXiv 2111.08947). Zero-glance class unlearning: the method sees the model, the forget
class ids and a small class-balanced subset of D_r, never D_f.

1. Error-maximising noise per forget class: a batch of learnable images, initialised
   N(0, 1) in the model's input space, minimising  -CE(model(noise), c) + lambda *
   mean_i ||noise_i||^2  with Adam against the frozen model in eval mode.
2. Impair: one epoch of cross-entropy on the shuffled mix of the noise (labelled with
   its class) and the retain subset, at a high learning rate.
3. Repair: one epoch on the retain subset alone.

``reference_bugs=True`` reproduces three bugs of the reference (Fast-Machine-Unlearning) notebook:
only 3 noise images per class reach the impair set (20 copies of each, 60 in all),
every noise image is labelled class 0, and BatchNorm is in train mode while the noise
is optimised (its running statistics are overwritten). Off by default.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from ..training import as_input, model_device, train_constant
from .base import UnlearningRequest, register

PHASES = ("impair", "impair+repair")


def error_maximizing_noise(
    model: nn.Module,
    forget_class: int,
    input_shape: tuple[int, ...],
    *,
    batch: int = 256,
    steps: int = 40,
    lr: float = 0.1,
    lam: float = 0.1,
    seed: int = 0,
    device: torch.device | None = None,
    batchnorm_train: bool = False,
) -> torch.Tensor:
    """Learn a noise batch that maximises the model's error on ``forget_class``
    (UNSIR step 1). The model's parameters are not changed; with
    ``batchnorm_train=False`` (the paper's intent) neither are its BatchNorm statistics."""
    device = device or model_device(model)
    gen = torch.Generator().manual_seed(seed)
    noise = as_input(torch.randn((batch, *input_shape), generator=gen).to(device)).requires_grad_()
    target = torch.full((batch,), forget_class, dtype=torch.long, device=device)
    optimizer = torch.optim.Adam([noise], lr=lr)
    was_training = model.training
    requires = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(False)
    model.train(batchnorm_train)
    try:
        for _ in range(steps):
            loss = -F.cross_entropy(model(noise), target) + lam * noise.pow(2).flatten(1).sum(1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    finally:
        for p, r in zip(model.parameters(), requires, strict=True):
            p.requires_grad_(r)
        model.train(was_training)
    return noise.detach()


#: What the reference notebook's impair set holds per forget class: its loop over a
#: range of 3 (CIFAR's channel count) keeps 3 noise images, each copied 20 times.
REFERENCE_NOISE_IMAGES, REFERENCE_NOISE_COPIES = 3, 20


def impair_set(
    noise_by_class: dict[int, torch.Tensor],
    retain_x: torch.Tensor,
    retain_y: torch.Tensor,
    *,
    reference_bugs: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The impair data: every noise image labelled with its forget class, plus the
    (normalised) retain subset. With ``reference_bugs``, as in the reference notebook,
    only the first 3 noise images of each class are used, each 20 times over (60 per
    class), all labelled 0."""
    xs, ys = [retain_x], [retain_y]
    for forget_class, noise in noise_by_class.items():
        if reference_bugs:
            noise = noise[:REFERENCE_NOISE_IMAGES].repeat_interleave(REFERENCE_NOISE_COPIES, dim=0)
        label = 0 if reference_bugs else forget_class
        xs.append(noise.to(retain_x.device))
        ys.append(torch.full((len(noise),), label, dtype=torch.long, device=retain_y.device))
    return torch.cat(xs), torch.cat(ys)


def request_noise(model: nn.Module, request: UnlearningRequest, *, noise_batch: int = 256, noise_steps: int = 40,
                  noise_lr: float = 0.1, noise_lambda: float = 0.1, reference_bugs: bool = False,
                  **_other_settings) -> dict[int, torch.Tensor]:
    """The noise UNSIR learns for a request: one batch per forget class, the i-th class's
    from seed ``request.seed + i`` (what :func:`unsir` trains on; a figure of the noise
    calls this with the method's settings, other settings ignored)."""
    return {forget_class: error_maximizing_noise(
        model, forget_class, request.input_shape, batch=noise_batch, steps=noise_steps, lr=noise_lr,
        lam=noise_lambda, seed=request.seed + i, device=request.device, batchnorm_train=reference_bugs)
        for i, forget_class in enumerate(request.forget_classes)}


@register("unsir", scenario="class", needs={"retain_subset"})
def unsir(
    model: nn.Module,
    request: UnlearningRequest,
    *,
    noise_batch: int = 256,
    noise_steps: int = 40,
    noise_lr: float = 0.1,
    noise_lambda: float = 0.1,
    retain_per_class: int = 1000,
    batch_size: int = 256,
    impair_lr: float = 0.02,
    repair_lr: float = 0.01,
    impair_epochs: int = 1,
    repair_epochs: int = 1,
    use_noise: bool = True,
    phases: str = "impair+repair",
    reference_bugs: bool = False,
) -> nn.Module:
    """UNSIR (Tarun et al. 2023): error-maximising noise, impair, repair.

    Defaults are the reference notebook's: 256 noise images per class, 40 Adam steps at
    lr 0.1, lambda 0.1; 1000 retain images per class; batch 256; impair 1 epoch with
    Adam lr 0.02; repair 1 epoch with Adam lr 0.01. ``use_noise=False`` is the ablation
    "impair on the retain subset alone"; ``phases="impair"`` stops after impair.
    Reports the steps and seconds of each phase, and publishes the model after impair
    as checkpoint ``impair`` (evaluated as ``impair_acc_*`` columns).
    """
    if phases not in PHASES:
        raise ValueError(f"phases must be one of {PHASES}, got {phases!r}")
    device = request.device
    model.to(device)
    identity = lambda x: x  # noqa: E731  (inputs below are normalised already)

    start = time.perf_counter()
    noise_by_class = {}
    if use_noise:
        noise_by_class = request_noise(model, request, noise_batch=noise_batch, noise_steps=noise_steps,
                                       noise_lr=noise_lr, noise_lambda=noise_lambda, reference_bugs=reference_bugs)
    noise_seconds = time.perf_counter() - start

    retain_x, retain_y = request.retain_subset(retain_per_class)
    retain_x = request.normalize(retain_x.to(device))
    retain_y = retain_y.to(device)
    x, y = impair_set(noise_by_class, retain_x, retain_y, reference_bugs=reference_bugs)

    report = {"noise_images": len(y) - len(retain_y), "noise_time_s": noise_seconds}
    phase_plan = [("impair", x, y, impair_lr, impair_epochs)]
    if phases == "impair+repair":
        phase_plan.append(("repair", retain_x, retain_y, repair_lr, repair_epochs))
    for name, px, py, lr, epochs in phase_plan:
        start = time.perf_counter()
        report[f"{name}_steps"] = train_constant(
            model, px, py, epochs=epochs, lr=lr, batch_size=batch_size, normalize=identity,
            seed=request.seed, device=device, optimizer="adam", desc=name)
        report[f"{name}_time_s"] = time.perf_counter() - start
        if name == "impair" and phases == "impair+repair":
            request.checkpoint("impair", model)
    report["steps"] = report["impair_steps"] + report.get("repair_steps", 0)
    request.report.update(report)
    return model.eval()
