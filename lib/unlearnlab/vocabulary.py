"""One vocabulary for every table and figure: the label of each results column, one
mean ± std aggregation over seeds, and one way to print a number and a mean ± std.

Tables keep their column names (``acc_forget``); what a reader sees is :func:`label`
(``D_f accuracy``). D_f = the training samples to forget, D_r = the retained training
samples; test accuracy of the forgotten or retained classes is "test accuracy,
forgotten classes" / "retained classes".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

#: Results columns and what a reader calls them (units where there are any).
LABELS: dict[str, str] = {
    "method": "method",
    "scenario": "scenario",
    "seed": "seed",
    "acc_forget": "D_f accuracy",
    "acc_retain": "D_r accuracy",
    "acc_test": "test accuracy",
    "acc_test_forget": "test accuracy, forgotten classes",
    "acc_test_retain": "test accuracy, retained classes",
    "mia_entropy_lr_member": "MIA entropy (D_f as member)",
    "mia_svc_nonmember": "MIA-Efficacy (SVC, D_f as non-member)",
    "mia_loss_lr_acc": "MIA loss (attack accuracy)",
    "mia_svm_softmax_nonmember": "MIA SVM softmax (D_f as non-member)",
    "zrf": "ZRF",
    "js_to_retrain": "JS divergence to retrain",
    "act_dist_to_retrain": "activation distance to retrain",
    "time_s": "time (s)",
    "speedup": "speed-up over retrain (x)",
    "avg_gap": "Avg. Gap",
    "probe_forget": "linear probe, forgotten classes",
    "relearn_steps": "relearn steps",
    "steps": "update steps",
    "k": "forget samples k",
    "n_forget_classes": "forgotten classes",
    "relative_change": "relative weight change",
    "cka": "linear CKA to the original",
}


def label(column: str) -> str:
    """What a reader calls ``column``: :data:`LABELS`, also for ``<column>_mean`` /
    ``_std`` and ``gap_<column>`` (the gap to retrain); otherwise the name with spaces."""
    for suffix in ("_mean", "_std"):
        if column.endswith(suffix) and column[: -len(suffix)] in LABELS:
            return LABELS[column[: -len(suffix)]]
    if column.startswith("gap_") and column[4:] in LABELS:
        return f"gap to retrain, {LABELS[column[4:]]}"
    return LABELS.get(column, column.replace("_", " "))


def mean_std(table: pd.DataFrame, by: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """Mean and sample standard deviation of ``columns`` per group of ``by`` (groups in
    order of first appearance): ``<column>_mean`` and ``<column>_std`` side by side. The
    one aggregation over seeds behind every mean ± std the repository prints."""
    stats = table.groupby(list(by), sort=False, dropna=False)[list(columns)].agg(["mean", "std"])
    stats.columns = [f"{column}_{stat}" for column, stat in stats.columns]
    return stats.reset_index()


def number(value: float, digits: int = 3) -> str:
    """A number as every table prints it: fixed ``digits`` decimals, ``—`` for missing."""
    return "—" if pd.isna(value) else f"{value:.{digits}f}"


def pm(mean: float, std: float, digits: int = 3) -> str:
    """``mean ± std`` as every table prints it; a missing std (one seed) prints the mean
    alone, a missing mean ``—``."""
    if pd.isna(mean):
        return "—"
    return number(mean, digits) if pd.isna(std) else f"{number(mean, digits)} ± {number(std, digits)}"


def layer_labels(names: Sequence[str]) -> dict[str, str]:
    """``{module name: what a figure calls it}`` for layers in forward order: the stage
    with a space ("stage1.0" -> "stage 1", "layer4" -> "layer 4"), numbered within the
    stage where a stage holds several ("stage 1 (2)"); "head" and "fc" as they are."""
    names = list(dict.fromkeys(names))
    stages = [name.split(".")[0] for name in names]
    labels, seen = {}, {}
    for name, stage in zip(names, stages, strict=True):
        spaced = re.sub(r"^([a-z]+)(\d+)$", r"\1 \2", stage)
        seen[stage] = seen.get(stage, 0) + 1
        labels[name] = spaced if stages.count(stage) == 1 else f"{spaced} ({seen[stage]})"
    return labels
