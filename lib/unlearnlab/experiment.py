"""The steps every notebook shares: load a preset's data, train (or load) its original
model, and set up a forget request with its evaluation."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd
import torch
from torch import nn

from . import analysis, vocabulary
from .cache import cached
from .config import Preset
from .data import Dataset, ForgetSplit, load_dataset, union_split
from .methods import UnlearningRequest, get_method, run_method
from .metrics import Evaluation, add_gap_to_retrain
from .models import create_model, structure_fingerprint
from .training import History, as_input, default_device, fit, prepare_model, progress


def load_preset_data(preset: Preset) -> Dataset:
    return load_dataset(preset.dataset, train_subset=preset.train_subset, subset_seed=preset.seed,
                        test_subset=preset.test_subset)


def build_model(preset: Preset, dataset: Dataset, *, seed: int | None = None) -> nn.Module:
    return create_model(preset.model, dataset.num_classes, dataset.in_channels,
                        dataset.image_size, seed=preset.seed if seed is None else seed,
                        **preset.model_options)


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
           **({"model_options": preset.model_options} if preset.model_options else {}),
           "seed": preset.seed, "structure": structure_fingerprint(model)}
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
                      retain_max=preset.eval_retain_max, test_max=preset.eval_test_max,
                      seed=preset.seed, device=device)


def compare_methods(
    original: nn.Module,
    request: UnlearningRequest,
    evaluation: Evaluation,
    runs: dict[str, tuple[str, dict]],
    *,
    svm_attack: bool = False,
) -> tuple[pd.DataFrame, dict[str, nn.Module]]:
    """Run several methods on one request and tabulate them on one protocol.

    ``runs`` maps a row label to ``(method name, hyperparameters)``. ``retrain`` runs
    first (added if absent) and becomes the reference of the distances and of the
    ``gap_*`` and ``speedup`` columns; the original model gets a row too.
    ``svm_attack`` adds Chang et al. 2024's attack (``mia_svm_softmax_nonmember``),
    trained on the original's outputs. Returns the table and the unlearned models by label.
    Two labels that name the same method with the same hyperparameters (a tuned setting
    that kept the defaults) run once: the second row repeats the first, ``cached`` set.
    """
    runs = dict(runs)
    runs.setdefault("retrain", ("retrain", {}))
    name, kwargs = runs.pop("retrain")
    reference = run_method(name, original, request, **kwargs)
    reference_logits, original_logits = evaluation.logits(reference.model), evaluation.logits(original)
    evaluation.set_reference(reference_logits)
    if svm_attack:
        evaluation.set_original(original_logits)
    models = {"original": original, "retrain": reference.model}
    rows = [
        {"method": "original", "time_s": float("nan"), "cached": False,
         **evaluation.evaluate(logits=original_logits)},
        {**reference.record, "method": "retrain", **evaluation.evaluate(logits=reference_logits)},
    ]
    done: list[tuple[str, dict, int]] = []  # (method, resolved hyperparameters, row)
    for label in progress(runs, desc="methods", unit="method"):
        name, kwargs = runs[label]
        resolved = {**get_method(name).defaults, **kwargs}
        same = next((row for method, setting, row in done if (method, setting) == (name, resolved)), None)
        if same is not None:
            models[label] = models[rows[same]["method"]]
            rows.append({**rows[same], "method": label, "cached": True})
            continue
        result = run_method(name, original, request, evaluation, label=label, **kwargs)
        models[label] = result.model
        done.append((name, resolved, len(rows)))
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
        if row.get("nonfinite_weights", 0) > 0 or row.get("nonfinite_outputs", 0) > 0:
            verdict = "DIVERGED: non-finite weights or outputs, its accuracies describe a broken model"
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
    *,
    keep_models: bool = False,
    svm_attack: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, dict[str, dict[str, nn.Module]]]:
    """``compare_methods`` over several forget sets; one table with a ``forget`` column
    naming the set (gaps are to the retrain of the same set). With ``keep_models``,
    also the unlearned models by set and method."""
    tables, kept = [], {}
    for label, split in progress(forget_sets.items(), desc="forget sets", unit="set"):
        table, models = compare_methods(original, make_request(preset, dataset, split),
                                        make_evaluation(preset, dataset, split), runs,
                                        svm_attack=svm_attack)
        tables.append(table.assign(forget=label, n_forget_classes=len(split.forget_classes)))
        if keep_models:
            kept[label] = models
    table = pd.concat(tables, ignore_index=True)
    return (table, kept) if keep_models else table


def mean_and_spread(table: pd.DataFrame, columns: list[str], by: str = "method") -> pd.DataFrame:
    """Mean and standard deviation of ``columns`` per ``by`` (order of first appearance)."""
    return vocabulary.mean_std(table, [by], columns)


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


def retrain_steps(preset: Preset, split: ForgetSplit) -> int:
    """The update steps of retraining from scratch on D_r: the preset's epochs times the
    batches of D_r (the reference every "few steps" claim compares with)."""
    return preset.train.epochs * -(-len(split.retain_indices) // preset.train.batch_size)


def with_retrain_steps(table: pd.DataFrame, preset: Preset, splits: dict[str, ForgetSplit]) -> pd.DataFrame:
    """``table`` (a :func:`sweep`, one row per forget set and method) with retrain's rows
    given their :func:`retrain_steps`, so a figure of steps shows the reference."""
    table = table.copy()
    is_retrain = table["method"] == "retrain"
    table.loc[is_retrain, "steps"] = table.loc[is_retrain, "forget"].map(
        {label: retrain_steps(preset, split) for label, split in splits.items()})
    return table


def change_report(dataset: Dataset, forget_sets: dict[str, ForgetSplit],
                  models_by_set: dict[str, dict[str, nn.Module]], methods: list[str], *,
                  images: int = 500, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What changed inside each unlearned model (Liao & Lin 2024): per-layer relative
    weight change vs the original, and stage-wise minibatch CKA vs the original and vs
    retrain, on forget-class and on retain-class training images (``images`` each)."""
    gen = torch.Generator().manual_seed(seed)
    weights, cka = [], []
    for label, models in models_by_set.items():
        split = forget_sets[label]
        pools = {"forget images": split.forget_indices, "retain images": split.retain_indices}
        samples = {k: dataset.x_train[v[torch.randperm(len(v), generator=gen)[:images]]]
                   for k, v in pools.items()}
        for method in methods:
            weights.append(analysis.weight_change(models["original"], models[method])
                           .assign(forget=label, method=method))
            for reference in ("original", "retrain"):
                for images_name, x in samples.items():
                    cka.append(analysis.stagewise_cka(models[method], models[reference], x, dataset.normalize)
                               .assign(forget=label, method=method, versus=reference, images=images_name))
    return pd.concat(weights, ignore_index=True), pd.concat(cka, ignore_index=True)


def penultimate_embeddings(models: dict[str, nn.Module], dataset: Dataset, *, per_class: int = 100,
                           seed: int = 0) -> pd.DataFrame:
    """2-D t-SNE of each model's penultimate features on the same test images."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.cat([torch.nonzero(dataset.y_test == c).flatten()[:per_class] for c in range(dataset.num_classes)])
    idx = idx[torch.randperm(len(idx), generator=gen)]
    x, y = dataset.x_test[idx], dataset.y_test[idx]
    frames = []
    for name, model in models.items():
        prepare_model(model, default_device())
        with torch.no_grad():
            feats = model.eval().features(as_input(dataset.normalize(x.to(default_device())))).cpu()
        xy = analysis.embed_2d(feats, seed=seed)
        frames.append(pd.DataFrame({"x": xy[:, 0].numpy(), "y": xy[:, 1].numpy(), "label": y.numpy(),
                                    "model": name}))
    return pd.concat(frames, ignore_index=True)


#: The label suffix of a method's row at its tuned hyperparameters.
TUNED = " (tuned)"


def tuned_pairs(labels: Sequence[str]) -> list[tuple[str, str]]:
    """``(default label, tuned label)`` for every ``"<method> (tuned)"`` among ``labels``
    whose default row is there too, in the order of the tuned labels."""
    present = set(labels)
    return [(label.removesuffix(TUNED), label) for label in dict.fromkeys(labels)
            if label.endswith(TUNED) and label.removesuffix(TUNED) in present]
