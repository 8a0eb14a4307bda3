"""What changed inside the network: usable on any pair of models of one architecture."""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn


def stage_of(module_name: str) -> str:
    """The top-level child a module belongs to (the models' ``stages``)."""
    return module_name.split(".")[0]


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


def weight_change_by_stage(table: pd.DataFrame) -> pd.DataFrame:
    """Parameter-weighted relative change of conv/linear weights per stage."""
    layers = table[table["kind"].isin(["conv", "linear"])]
    weighted = layers.assign(w=layers["relative_change"] * layers["params"])
    grouped = weighted.groupby("stage", sort=False)[["w", "params"]].sum()
    return (grouped["w"] / grouped["params"]).rename("relative_change").reset_index()
