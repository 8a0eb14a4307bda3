"""SalUn: weight saliency, then random-label fine-tuning of the salient weights only
(Fan, Liu, Zhang, Wei, Wong, Liu, "SalUn: Empowering Machine Unlearning via Gradient-
based Weight Saliency in Both Image Classification and Generation", ICLR 2024;
reference code: OPTML-Group/Unlearn-Saliency).

Eq. 5: the saliency mask m_S = 1(|grad_theta l_f(theta; D_f)| >= gamma), with l_f the
forget loss (cross-entropy on D_f) at the original weights; the reference keeps the top
half of all weights by |gradient| (``with_0.5``). Eq. 6-7: random labelling (RL) on D_f
plus the true labels of D_r, where only the masked weights move:
theta_u = m_S * (Delta theta + theta_o) + (1 - m_S) * theta_o.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..training import as_input, batches, prepare_model, train_constant
from .base import UnlearningRequest, register


def saliency_mask(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, normalize, keep: float,
                  batch_size: int, device: torch.device) -> dict[str, torch.Tensor]:
    """SalUn's Eq. 5: 1 for the ``keep`` share of all parameters with the largest
    |gradient of the summed forget cross-entropy|, ranked over the whole network."""
    prepare_model(model, device)
    model.eval()
    params = dict(model.named_parameters())
    model.zero_grad(set_to_none=True)
    for idx in batches(len(y), batch_size, shuffle=False):
        logits = model(as_input(normalize(x[idx].to(device))))
        F.cross_entropy(logits, y[idx].to(device), reduction="sum").backward()  # grads add up
    magnitude = {name: p.grad.detach().abs() if p.grad is not None else torch.zeros_like(p)
                 for name, p in params.items()}
    model.zero_grad(set_to_none=True)
    flat = torch.cat([m.flatten() for m in magnitude.values()])
    n_keep = max(1, round(keep * flat.numel()))
    threshold = flat.topk(n_keep).values.min()
    return {name: (m >= threshold).to(m.dtype) for name, m in magnitude.items()}


@register("salun", scenario="any", needs={"forget_data", "retain_data"})
def salun(
    model: nn.Module,
    request: UnlearningRequest,
    *,
    keep: float = 0.5,
    epochs: int = 10,
    lr: float = 0.013,
    batch_size: int = 256,
    weight_decay: float = 5e-4,
) -> nn.Module:
    """Random-label fine-tuning of the salient weights (Fan et al. 2024, Eq. 5-7).

    Defaults follow the reference README's ResNet-18 CIFAR-10 example, which forgets
    10 % random training data (not a class): mask ``with_0.5`` (``keep`` = top 50 %),
    RL for 10 epochs, SGD lr 0.013, momentum 0.9, weight decay 5e-4. D_f gets labels
    drawn uniformly from all classes (as the reference), D_r keeps its own, shuffled
    together. Only masked weights move: their gradients *and* weight decay are masked,
    as in the reference, which restores the masked-out weights after each step.
    The reference's maintainers answer "D_f accuracy does not fall" with a larger rate,
    which is what the tuned row explores.
    """
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    xf, yf = request.forget_data()
    xr, yr = request.retain_data()
    mask = saliency_mask(model, xf, yf, normalize=request.normalize, keep=keep,
                         batch_size=batch_size, device=request.device)
    generator = torch.Generator().manual_seed(request.seed)
    random_labels = torch.randint(0, request.num_classes, (len(yf),), generator=generator)
    params = dict(model.named_parameters())
    hooks = [p.register_hook(lambda g, p=p, m=mask[name]: (g + weight_decay * p.detach()) * m)
             for name, p in params.items()]
    try:
        request.report["steps"] = train_constant(
            model, torch.cat([xf, xr]), torch.cat([random_labels, yr]), epochs=epochs, lr=lr,
            batch_size=batch_size, normalize=request.normalize, seed=request.seed,
            device=request.device, augment=request.recipe.augment, desc="salun")
    finally:
        for hook in hooks:
            hook.remove()
    request.report["salient_share"] = float(sum(m.sum() for m in mask.values())
                                            / sum(m.numel() for m in mask.values()))
    return model
