"""Boundary Shrink (Chen, Gao, Zhou, Wang, Liu, "Boundary Unlearning: Rapid Forgetting of
Deep Networks via Shifting the Decision Space", CVPR 2023; reference code: the authors'
``boundary_shrink`` in their released code, also in SalUn's repository).

For each forget sample x with label y, one FGSM step of size ``bound`` (l-infinity, on
[0, 1] pixels, computed on the frozen original) moves x across the nearest decision
boundary: x' = clip(x + bound * sign(grad_x CE(f(x), y)), 0, 1), rounded to 1/255 as the
reference's ``discretize``. The original's prediction on x' is the sample's *nearest*
wrong class y_nbi (Sec. 3.2). The model is then fine-tuned on (x, y_nbi): the forget
samples are pushed to their neighbour classes, so the boundary of the forgotten data
shrinks. Needs D_f only.

Reference defaults: bound 0.1, 10 epochs over D_f, SGD lr 1e-5, momentum 0.9 (the
paper: "a learning rate of 1e-5 for 10 epochs"); train mode. Ours: the neighbour label
is computed once before fine-tuning (the reference recomputes it per batch on the same
frozen original, which gives the same labels); where the step does not leave the true
class, the sample keeps its true label, as in the reference; batch 64; Nesterov momentum
(the library's SGD).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..training import as_input, batches, prepare_model, train_constant
from .base import UnlearningRequest, register


def nearest_wrong_labels(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, normalize,
                         bound: float, device: torch.device, batch_size: int = 256) -> torch.Tensor:
    """The model's prediction after one FGSM step of size ``bound`` on [0, 1] pixels
    (Chen et al. 2023, Sec. 3.2): each sample's nearest class across the boundary."""
    prepare_model(model, device)
    model.eval()
    labels = []
    for idx in batches(len(y), batch_size, shuffle=False):
        pixels = x[idx].to(device).float().div(255.0).requires_grad_(True)
        loss = F.cross_entropy(model(as_input(normalize(pixels))), y[idx].to(device))
        (grad,) = torch.autograd.grad(loss, pixels)
        moved = torch.round((pixels + bound * grad.sign()).clamp(0.0, 1.0) * 255) / 255
        with torch.no_grad():
            labels.append(model(as_input(normalize(moved))).argmax(1).cpu())
    return torch.cat(labels)


@register("boundary_shrink", scenario="any", needs={"forget_data"})
def boundary_shrink(
    model: nn.Module,
    request: UnlearningRequest,
    *,
    bound: float = 0.1,
    epochs: int = 10,
    lr: float = 1e-5,
    batch_size: int = 64,
) -> nn.Module:
    """Fine-tune D_f towards each sample's nearest wrong class (Chen et al. 2023)."""
    if not bound > 0:
        raise ValueError(f"bound must be > 0, got {bound}")
    x, y = request.forget_data()
    neighbours = nearest_wrong_labels(model, x, y, normalize=request.normalize, bound=bound,
                                      device=request.device)
    request.report["neighbour_changed"] = float((neighbours != y).float().mean())
    request.report["steps"] = train_constant(
        model, x, neighbours, epochs=epochs, lr=lr, batch_size=batch_size,
        normalize=request.normalize, seed=request.seed, device=request.device,
        desc="boundary_shrink")
    return model
