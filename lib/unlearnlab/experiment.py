"""The steps every notebook shares: load a preset's data, train (or load) its original
model, and set up a forget request with its evaluation."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import pandas as pd
import torch
from torch import nn

from .config import Preset
from .data import Dataset, ForgetSplit, load_dataset, union_split
from .methods import UnlearningRequest, run_method
from .metrics import Evaluation, add_gap_to_retrain
from .models import create_model
from .training import History, cached, default_device, fit, progress


def load_preset_data(preset: Preset) -> Dataset:
    return load_dataset(preset.dataset, train_subset=preset.train_subset, subset_seed=preset.seed)


def build_model(preset: Preset, dataset: Dataset, *, seed: int | None = None) -> nn.Module:
    return create_model(preset.model, dataset.num_classes, dataset.in_channels,
                        dataset.image_size, seed=preset.seed if seed is None else seed)


@dataclass
class Original:
    """The trained original model, its training curve and the wall time it took."""

    model: nn.Module
    history: History
    train_seconds: float
    from_cache: bool


def train_original(preset: Preset, dataset: Dataset, *, device: torch.device | None = None) -> Original:
    """Train the preset's model on all of D_train, or load it from the cache."""
    device = device or default_device()
    model = build_model(preset, dataset)
    key = {"dataset": dataset.fingerprint, "model": preset.model, "train": preset.train,
           "seed": preset.seed}
    computed = []

    def train() -> dict:
        start = time.perf_counter()
        history = fit(model, dataset.x_train, dataset.y_train, preset.train,
                      normalize=dataset.normalize, seed=preset.seed,
                      test=(dataset.x_test, dataset.y_test), device=device, desc="original")
        computed.append(True)
        return {"state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "history": asdict(history), "train_seconds": time.perf_counter() - start}

    entry = cached("original", key, train)
    model.load_state_dict(entry["state"])
    return Original(model.to(device).eval(), History(**entry["history"]),
                    float(entry["train_seconds"]), from_cache=not computed)


def make_request(preset: Preset, dataset: Dataset, split: ForgetSplit,
                 *, device: torch.device | None = None) -> UnlearningRequest:
    return UnlearningRequest(dataset, split, recipe=preset.train, model_name=preset.model,
                             seed=preset.seed, device=device)


def make_evaluation(preset: Preset, dataset: Dataset, split: ForgetSplit,
                    *, device: torch.device | None = None) -> Evaluation:
    """The evaluation protocol of a split; ZRF's random model is a fresh initialisation."""
    random_model = build_model(preset, dataset, seed=preset.seed + 10_000)
    return Evaluation(dataset, split, random_model=random_model,
                      retain_max=preset.eval_retain_max, seed=preset.seed, device=device)


def compare_methods(
    original: nn.Module,
    request: UnlearningRequest,
    evaluation: Evaluation,
    runs: dict[str, tuple[str, dict]],
) -> tuple[pd.DataFrame, dict[str, nn.Module]]:
    """Run several methods on one request and tabulate them on one protocol.

    ``runs`` maps a row label to ``(method name, hyperparameters)``. ``retrain`` runs
    first (added if absent) and becomes the reference of the distances and of the
    ``gap_*`` and ``speedup`` columns; the original model gets a row too.
    Returns the table and the unlearned models by label.
    """
    runs = dict(runs)
    runs.setdefault("retrain", ("retrain", {}))
    name, kwargs = runs.pop("retrain")
    reference = run_method(name, original, request, **kwargs)
    reference_logits, original_logits = evaluation.logits(reference.model), evaluation.logits(original)
    evaluation.set_reference(reference_logits)
    evaluation.set_original(original_logits)
    models = {"original": original, "retrain": reference.model}
    rows = [
        {"method": "original", "time_s": float("nan"), "cached": False,
         **evaluation.evaluate(logits=original_logits)},
        {**reference.record, "method": "retrain", **evaluation.evaluate(logits=reference_logits)},
    ]
    for label in progress(runs, desc="methods", unit="method"):
        name, kwargs = runs[label]
        result = run_method(name, original, request, evaluation, label=label, **kwargs)
        models[label] = result.model
        rows.append(result.record)
    return add_gap_to_retrain(pd.DataFrame(rows)), models


def baseline_verdict(table: pd.DataFrame, *, threshold: float = 0.05) -> str:
    """Plain-language reading of a ``compare_methods`` table, one line per method.

    A method "matches retrain" on a metric when its gap is within ``threshold``.
    """
    ref = table[table["method"] == "retrain"].iloc[0]
    lines = [f"retrain (target): forget {ref.acc_forget:.1%}, retain {ref.acc_retain:.1%}, "
             f"test-retain {ref.acc_test_retain:.1%}, {ref.time_s:.1f} s"]
    for _, row in table[~table["method"].isin(["retrain"])].iterrows():
        forgets = abs(row.gap_acc_forget) <= threshold
        keeps = abs(row.gap_acc_test_retain) <= threshold
        verdict = {
            (True, True): "matches retrain on forgetting and on the retained classes",
            (True, False): "forgets like retrain but damages the retained classes",
            (False, True): "keeps the retained classes but does NOT forget like retrain",
            (False, False): "neither forgets like retrain nor keeps the retained classes",
        }[(forgets, keeps)]
        speed = "" if pd.isna(row.speedup) else f", {row.speedup:.1f}x retrain's speed"
        lines.append(
            f"{row.method}: forget {row.acc_forget:.1%} (gap {row.gap_acc_forget:+.1%}), "
            f"test-retain {row.acc_test_retain:.1%} (gap {row.gap_acc_test_retain:+.1%}){speed} "
            f"-> {verdict} (threshold {threshold:.0%})"
        )
    return "\n".join(lines)


def sweep(
    preset: Preset,
    dataset: Dataset,
    original: nn.Module,
    forget_sets: dict[str, ForgetSplit],
    runs: dict[str, tuple[str, dict]],
) -> pd.DataFrame:
    """``compare_methods`` over several forget sets; one table with a ``forget`` column
    naming the set (gaps are to the retrain of the same set)."""
    tables = []
    for label, split in progress(forget_sets.items(), desc="forget sets", unit="set"):
        table, _ = compare_methods(original, make_request(preset, dataset, split),
                                   make_evaluation(preset, dataset, split), runs)
        tables.append(table.assign(forget=label, n_forget_classes=len(split.forget_classes)))
    return pd.concat(tables, ignore_index=True)


def mean_and_spread(table: pd.DataFrame, columns: list[str], by: str = "method") -> pd.DataFrame:
    """Mean and standard deviation of ``columns`` per ``by`` (order of first appearance)."""
    stats = table.groupby(by, sort=False)[columns].agg(["mean", "std"])
    stats.columns = [f"{col}_{stat}" for col, stat in stats.columns]
    return stats.reset_index()


def claim(text: str, holds: bool | None, evidence: str) -> str:
    """One line of a notebook's verdict: HOLDS / DOES NOT HOLD / MIXED, with the numbers."""
    status = {True: "HOLDS", False: "DOES NOT HOLD", None: "MIXED"}[holds]
    return f"[{status}] {text}\n    {evidence}"


def hyperparameter_sweep(
    preset: Preset,
    dataset: Dataset,
    original: nn.Module,
    forget_sets: dict[str, ForgetSplit],
    method: str,
    grid: list[dict],
) -> pd.DataFrame:
    """Run ``method`` for every setting of ``grid`` on every forget set; accuracies
    only (no attacks), one row per (set, setting) with the setting's keys as columns."""
    rows = []
    for label, split in progress(forget_sets.items(), desc="forget sets", unit="set"):
        request = make_request(preset, dataset, split)
        evaluation = make_evaluation(preset, dataset, split)
        for setting in grid:
            result = run_method(method, original, request, **setting)
            rows.append({"forget": label, **setting, "time_s": result.record["time_s"],
                         **evaluation.evaluate(result.model, accuracy_only=True)})
    return pd.DataFrame(rows)


def continual(original: nn.Module, requests: list[UnlearningRequest], method: str,
              **hyperparameters) -> list:
    """Apply a sequence of unlearning requests, each to the previous result (P3's
    continual setting). Returns one ``MethodResult`` per request."""
    results, model = [], original
    for request in requests:
        result = run_method(method, model, request, **hyperparameters)
        results.append(result)
        model = result.model
    return results


def continual_table(preset: Preset, dataset: Dataset, original: nn.Module,
                    splits: list[ForgetSplit], method: str, **hyperparameters) -> pd.DataFrame:
    """Continual unlearning, evaluated after each request on everything forgotten so far
    (accuracies only); row 0 is the original model."""
    requests = [make_request(preset, dataset, split) for split in splits]
    results = continual(original, requests, method, **hyperparameters)
    rows = [{"request": 0, "steps": 0, **make_evaluation(preset, dataset, splits[0]).evaluate(
        original, accuracy_only=True)}]
    for i, result in enumerate(results, 1):
        evaluation = make_evaluation(preset, dataset, union_split(dataset, splits[:i]))
        rows.append({"request": i, "steps": result.record.get("steps"),
                     "time_s": result.record["time_s"],
                     **evaluation.evaluate(result.model, accuracy_only=True)})
    return pd.DataFrame(rows)
