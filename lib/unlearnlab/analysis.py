"""What changed inside the network: usable on any pair of models of one architecture."""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from .training import as_input, model_device


def stage_of(module_name: str) -> str:
    """The top-level child a module belongs to (the models' ``stages``)."""
    return module_name.split(".")[0]


def last_stages(model: nn.Module, count: int = 2) -> tuple[str, ...]:
    """The last ``count`` stages that hold parameters (a ResNet's ``layer4`` and ``fc``,
    the small CNN's ``head`` and ``fc``): what weight resetting re-initialises by default."""
    with_parameters = [s for s in model.stages if any(True for _ in getattr(model, s).parameters())]
    return tuple(with_parameters[-count:])


def weight_change(before: nn.Module, after: nn.Module) -> pd.DataFrame:
    """Relative Frobenius change ||W_after - W_before|| / ||W_before|| of every conv and
    linear weight, in forward order, grouped by stage (Liao & Lin 2024's per-layer
    analysis). BatchNorm affine parameters and running statistics are reported apart
    (``kind`` = ``batchnorm`` / ``bn_stats``), since they move for other reasons.
    """
    after_modules = dict(after.named_modules())
    rows = []
    for name, module in before.named_modules():
        other = after_modules.get(name)
        if other is None or type(other) is not type(module):
            raise ValueError(f"The models differ at {name!r}: compare one architecture")
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            pairs = {"weight": (module.weight, other.weight)}
            kind = "conv" if isinstance(module, nn.Conv2d) else "linear"
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            pairs = {"affine": (torch.cat([module.weight, module.bias]),
                                torch.cat([other.weight, other.bias]))}
            rows.append(_row(name, "bn_stats", torch.cat([module.running_mean, module.running_var]),
                             torch.cat([other.running_mean, other.running_var])))
            kind = "batchnorm"
        else:
            continue
        for w0, w1 in pairs.values():
            rows.append(_row(name, kind, w0, w1))
    table = pd.DataFrame(rows)
    table.insert(0, "order", range(len(table)))
    return table


def _row(name: str, kind: str, w0: torch.Tensor, w1: torch.Tensor) -> dict:
    w0, w1 = w0.detach().float().cpu(), w1.detach().float().cpu()
    norm = float(w0.norm())
    return {"layer": name, "stage": stage_of(name), "kind": kind, "params": w0.numel(),
            "relative_change": float((w1 - w0).norm()) / norm if norm > 0 else float("nan")}


# --------------------------------------------------------------------------------------
# Feature similarity: linear CKA (Kornblith et al. 2019), minibatch form (Nguyen et al. 2021)


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Full-batch linear CKA of two feature matrices (n samples x features):
    ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F), with column-centred Xc, Yc."""
    x = x.double().flatten(1)
    y = y.double().flatten(1)
    x = x - x.mean(0)
    y = y - y.mean(0)
    cross = (y.T @ x).norm() ** 2
    return float(cross / ((x.T @ x).norm() * (y.T @ y).norm()))


def _unbiased_hsic(k: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC estimator (Song et al. 2012) of two n x n Gram matrices, n > 3."""
    n = k.shape[0]
    k = k.clone().fill_diagonal_(0)
    m = m.clone().fill_diagonal_(0)
    ones = torch.ones(n, 1, dtype=k.dtype, device=k.device)
    term = (k * m).sum() + (ones.T @ k @ ones) * (ones.T @ m @ ones) / ((n - 1) * (n - 2)) \
        - 2 * (ones.T @ k @ m @ ones) / (n - 2)
    return term.squeeze() / (n * (n - 3))


class MinibatchCKA:
    """Accumulates linear CKA over minibatches (Nguyen et al. 2021): the mean unbiased
    HSIC of the batches, normalised once at the end. Feed aligned batches of two
    models' features with :meth:`update`; read :attr:`value`."""

    def __init__(self) -> None:
        self.xy = self.xx = self.yy = 0.0

    def update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if len(x) < 4:
            raise ValueError("Minibatch CKA needs at least 4 samples per batch")
        x, y = x.double().flatten(1), y.double().flatten(1)
        k, m = x @ x.T, y @ y.T
        self.xy += float(_unbiased_hsic(k, m))
        self.xx += float(_unbiased_hsic(k, k))
        self.yy += float(_unbiased_hsic(m, m))

    @property
    def value(self) -> float:
        return self.xy / (self.xx * self.yy) ** 0.5


def stage_features(model: nn.Module, x: torch.Tensor, stages: list[str] | None = None
                   ) -> dict[str, torch.Tensor]:
    """Outputs of each stage (flattened) for inputs ``x``, in one forward pass."""
    names = stages or [s for s in model.stages if s != "fc"]
    modules = dict(model.named_children())
    captured: dict[str, torch.Tensor] = {}
    hooks = [modules[n].register_forward_hook(
        lambda m, i, o, n=n: captured.__setitem__(n, o.detach().flatten(1).float().cpu()))
        for n in names]
    try:
        with torch.no_grad():
            model.eval()(x.to(model_device(model)))
    finally:
        for h in hooks:
            h.remove()
    return {n: captured[n] for n in names}


def stagewise_cka(model_a: nn.Module, model_b: nn.Module, x: torch.Tensor, normalize, *,
                  batch_size: int = 256, stages: list[str] | None = None) -> pd.DataFrame:
    """Minibatch linear CKA between two models at every stage, on images ``x``
    (Liao & Lin 2024: "does the feature extractor still encode the forgotten classes?").
    A trailing batch of fewer than 4 images is skipped."""
    scores: dict[str, MinibatchCKA] = {}
    for start in range(0, len(x) - 3, batch_size):
        xb = as_input(normalize(x[start:start + batch_size].to(model_device(model_a))))
        fa, fb = stage_features(model_a, xb, stages), stage_features(model_b, xb, stages)
        for name in fa:
            scores.setdefault(name, MinibatchCKA()).update(fa[name], fb[name])
    return pd.DataFrame([{"stage": n, "cka": s.value} for n, s in scores.items()])


def embed_2d(features: torch.Tensor, *, seed: int = 0, perplexity: float = 30.0) -> torch.Tensor:
    """t-SNE (scikit-learn) of feature vectors to 2-D, seeded."""
    from sklearn.manifold import TSNE

    perplexity = min(perplexity, max(2.0, (len(features) - 1) / 3))
    out = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        features.double().numpy())
    return torch.from_numpy(out)
