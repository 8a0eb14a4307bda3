"""Equal-budget hyperparameter tuning: every method gets the same number of
optuna trials (seeded TPE) over its main hyperparameters (:data:`SPACES`), on validation
requests that no reported result uses, with the leaderboard's own objective for all:
SalUn's Avg. Gap to retrain (:data:`metrics.AVG_GAP_COLUMNS`: forget, retain and
retained-class test accuracy and MIA-Efficacy).

Validation is honest: the validation original has its own seed
(:data:`leaderboard.VALIDATION_SEED`, never reported); its class requests forget the
classes the leaderboard holds out (:func:`leaderboard.held_out_classes`), its instance
request samples that no reported request may draw (:func:`leaderboard.instance_pool`).
Each study's sampler is seeded by the method, the scenario and the trial number, so no
two studies draw the same points. The first trial is the preset's own setting (the
paper's defaults, as shortened by the preset). A retrain from another initialisation
gives the validation request's noise floor; a tuned setting reaches the leaderboard only
where it beats the default by more than that floor (``beats_floor``).

l2ul, notebook 03's method, is also tuned on P3's own objective (reach 0 % on D_f under
the step cap, then the highest test accuracy: :func:`p3_objective`) on notebook 03's
memorising original, for its ``l2ul (tuned)`` row (``--p3``).

Trials are stored in an optuna journal under ``runs/cache/tuning/`` (one file per
study, keyed by everything that defines it): a study that is interrupted, or asked for
more trials later, resumes where it stopped; trial i is drawn by a sampler seeded with
the study's seed and i, so a resumed study draws exactly what an uninterrupted one would.

The best settings go to a small JSON file (:func:`paths.tuned_path`) that notebooks
read: ``tuning/<preset>.json``.

    python -m unlearnlab.tuning --preset cpu --trials 10
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import nn

from . import data, paths
from .cache import config_key
from .config import Preset, get_preset
from .data import Dataset, ForgetSplit
from .methods import UnlearningRequest, get_method, list_methods, lrp, run_method
from .metrics import AVG_GAP_COLUMNS, Evaluation
from .training import progress

#: What a tuned setting is judged on: the leaderboard's Avg. Gap columns.
OBJECTIVE_COLUMNS = AVG_GAP_COLUMNS

#: The scenario under which notebook 03's l2ul tuning (P3's objective) is filed.
P3_SCENARIO = "128 instances (memorising)"

#: Bumped when the objective or the trial protocol changes meaning (part of study keys).
TUNING_FORMAT = 3


@dataclass(frozen=True)
class Range:
    """One hyperparameter's search range: a float (``log`` for rates) or an integer."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError(f"Bad range {self}: needs low < high (and low > 0 on a log scale)")

    def suggest(self, trial, name: str) -> float | int:
        if self.integer:
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) \
            and self.low <= value <= self.high

    def including(self, value: Any) -> Range:
        """This range widened to hold ``value`` (a preset's longer default epochs)."""
        if not self.contains(value) and isinstance(value, (int, float)) and not isinstance(value, bool):
            return Range(min(self.low, value), max(self.high, value), self.log, self.integer)
        return self

    def describe(self) -> str:
        kind = "int" if self.integer else "log" if self.log else "float"
        return f"{self.low:g}..{self.high:g} ({kind})"


def _lr(low: float, high: float) -> Range:
    return Range(low, high, log=True)


def _epochs(low: int, high: int) -> Range:
    return Range(low, high, integer=True)


#: Each method's main hyperparameters and where they are searched: every range holds the
#: paper's default (or the cpu preset's shortening of it) and about two decades of rate
#: around it. Epoch ranges are capped so that no method's trial costs far more than
#: retrain at the cpu preset; a preset whose default lies outside a range (the paper
#: preset's 10 epochs) widens it to hold the default (:func:`search_space`). Methods
#: without an entry (retrain) are not tuned.
SPACES: dict[str, dict[str, Range]] = {
    "finetune": {"lr": _lr(1e-3, 1e-1), "epochs": _epochs(1, 5)},
    "neggrad": {"lr": _lr(1e-5, 5e-2), "epochs": _epochs(1, 5)},
    "relabel": {"lr": _lr(1e-3, 1e-1), "epochs": _epochs(1, 4), "retain_share": Range(0.0, 0.9)},
    "reset": {"lr": _lr(1e-3, 1e-1), "epochs": _epochs(1, 4)},
    "prune": {"fraction": Range(0.01, 0.5, log=True), "finetune_epochs": _epochs(0, 2),
              "lr": _lr(1e-3, 1e-1)},
    # shares of the layer's width (the reference's: 9.8 % per sample, 15.6 % cut)
    "lrp_path": {"k": Range(0.02, 0.3), "n_keep": Range(0.05, 0.5)},
    "l2ul": {"lr": _lr(1e-4, 1e-2), "importance_lambda": Range(0.1, 10.0, log=True)},
    "unsir": {"impair_lr": _lr(1e-3, 1e-1), "repair_lr": _lr(1e-3, 1e-1),
              "noise_lambda": Range(0.01, 1.0, log=True)},
    "bad_teacher": {"lr": _lr(1e-5, 1e-2), "temperature": Range(1.0, 8.0),
                    "retain_share": Range(0.1, 1.0)},
    # at least one max epoch: without one, "SCRUB" is distillation only
    "scrub": {"lr": _lr(1e-5, 1e-2), "alpha": Range(1e-4, 1.0, log=True),
              "max_epochs": _epochs(1, 2)},
    "ssd": {"alpha": Range(1.0, 100.0, log=True), "lam": Range(0.1, 10.0, log=True)},
    "salun": {"keep": Range(0.1, 0.9), "lr": _lr(1e-3, 5e-2), "epochs": _epochs(1, 3)},
    "neggrad_plus": {"lr": _lr(1e-3, 1e-1), "alpha": Range(0.5, 0.999), "epochs": _epochs(1, 5)},
    "l1_sparse": {"lr": _lr(1e-3, 1e-1), "gamma": Range(1e-5, 1e-2, log=True), "epochs": _epochs(1, 5)},
    "boundary_shrink": {"lr": _lr(1e-6, 1e-2), "bound": Range(0.01, 0.3, log=True)},
}


def tunable_methods(split: ForgetSplit | None = None) -> list[str]:
    """Methods with a search space (those that accept ``split``, if given)."""
    return [m for m in list_methods() if m in SPACES
            and (split is None or get_method(m).accepts(split))]


# --------------------------------------------------------------------------------------
# The validation requests


def disjoint_instance_split(dataset: Dataset, k: int, exclude: torch.Tensor, *,
                            seed: int) -> ForgetSplit:
    """``k`` training samples drawn by ``seed`` among those not in ``exclude``."""
    free = torch.ones(len(dataset.y_train), dtype=torch.bool)
    free[exclude] = False
    pool = torch.nonzero(free).flatten()
    if not 0 < k < len(pool):
        raise ValueError(f"Cannot draw {k} validation samples from the {len(pool)} left")
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))
    return data.indices_split(dataset, pool[order[:k]].tolist())


def validation_requests(dataset: Dataset, memorising_dataset: Dataset | None, *, n_classes: int = 3,
                        share: float | None = None) -> dict[str, ForgetSplit]:
    """The validation twin of each leaderboard scenario: one held-out class, the
    ``n_classes`` held-out classes, and (given the memorising dataset) a random ``share``
    of the training subset from the validation pool of images."""
    from . import leaderboard

    held = leaderboard.held_out_classes(dataset.num_classes, n_classes)
    found = {leaderboard.ONE_CLASS: data.class_split(dataset, [held[0]]),
             leaderboard.classes_scenario(n_classes): data.class_split(dataset, list(held))}
    if memorising_dataset is not None:
        share = leaderboard.INSTANCE_SHARE if share is None else share
        found[leaderboard.instance_scenario(share)] = leaderboard.instance_request(
            memorising_dataset, share, seed=leaderboard.VALIDATION_SEED, validation=True)
    return found


# --------------------------------------------------------------------------------------
# One study


@dataclass
class Study:
    """A tuning study: its best setting, the default's score and every finished trial."""

    method: str
    scenario: str
    params: dict[str, Any]
    objective: float
    default_objective: float
    trials: pd.DataFrame
    seconds: float
    space: dict[str, str] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """What :func:`save_tuned` keeps of it."""
        return {"params": self.params, "objective": round(self.objective, 6),
                "default_objective": round(self.default_objective, 6),
                "trials": len(self.trials), "seconds": round(self.seconds, 1),
                "space": self.space}


#: P3's "accuracy is kept": test accuracy within this much of the original's (the same
#: 0.05 as claim P3.1's test_drop threshold).
P3_TEST_DROP = 0.05


def p3_objective(row: dict[str, float], reference: dict[str, float]) -> float:
    """P3's goal as one number to minimise (Cha et al. 2024): misclassify every sample of
    D_f while test accuracy is kept, then the highest test accuracy. ``reference`` is the
    original's evaluation row. A setting whose test accuracy fell more than
    :data:`P3_TEST_DROP` below the original's has broken the model, not forgotten: it
    scores 2 + the drop, worse than any other. Otherwise one that reached 0 % on D_f
    scores 1 - test accuracy (in [0, 1]); one that did not, 1 + its D_f accuracy."""
    drop = reference["acc_test"] - row["acc_test"]
    if math.isnan(drop) or drop > P3_TEST_DROP:  # a diverged model (NaN) counts as broken
        return 2.0 + (1.0 if math.isnan(drop) else drop)
    if row["acc_forget"] > 0:
        return 1.0 + row["acc_forget"]
    return 1.0 - row["acc_test"]


def objective_value(row: dict[str, float], reference: dict[str, float],
                    columns: Sequence[str] = OBJECTIVE_COLUMNS) -> float:
    """Mean |row - reference| over ``columns`` (a column NaN on either side is left out;
    1.0, the worst gap, when none is left)."""
    gaps = [abs(row[c] - reference[c]) for c in columns
            if not (math.isnan(row[c]) or math.isnan(reference[c]))]
    return sum(gaps) / len(gaps) if gaps else 1.0


def _optuna():
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - optuna is a dependency
        raise ImportError("Tuning needs optuna: pip install -e . (it is a dependency)") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def study_storage(key: str):
    """The optuna journal of one study (``runs/cache/tuning/<key>.log``)."""
    optuna = _optuna()
    from optuna.storages.journal import JournalFileBackend

    folder = paths.cache_dir() / "tuning"
    folder.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(folder / f"{key}.log")))


def search_space(method: str, fixed: dict[str, Any]) -> dict[str, Range]:
    """``method``'s :data:`SPACES` entry, each range widened to hold its default setting
    (the method's defaults under the preset's overrides ``fixed``)."""
    values = {**get_method(method).defaults, **fixed}
    return {name: rng.including(values[name]) for name, rng in SPACES[method].items()}


def _lrp_shares(model: nn.Module) -> dict[str, float]:
    k, n_keep = lrp.REFERENCE_SHARES[lrp.model_family(model)]
    return {"k": k, "n_keep": n_keep}


#: What a default of None means, for the methods that resolve it from the model.
RESOLVED_DEFAULTS = {"lrp_path": _lrp_shares}


def default_setting(method: str, fixed: dict[str, Any], model: nn.Module | None = None
                    ) -> dict[str, Any]:
    """The values of the method's search space in its default setting (a None default
    resolved as the method resolves it for ``model``: lrp_path's reference shares)."""
    values = {**get_method(method).defaults, **fixed}
    if model is not None and method in RESOLVED_DEFAULTS:
        resolved = RESOLVED_DEFAULTS[method](model)
        values |= {k: v for k, v in resolved.items() if values.get(k) is None}
    return {name: values[name] for name, rng in search_space(method, fixed).items()
            if rng.contains(values[name])}


def tune_method(
    method: str,
    original: nn.Module,
    request: UnlearningRequest,
    evaluation: Evaluation,
    reference: dict[str, float],
    *,
    n_trials: int,
    fixed: dict[str, Any] | None = None,
    seed: int = 0,
    key: dict[str, Any] | None = None,
    scenario: str = "",
    objective_fn: Callable[[dict[str, float], dict[str, float]], float] = objective_value,
) -> Study:
    """Tune ``method`` on one (validation) request with ``n_trials`` trials in all.

    ``reference`` is retrain's evaluation row on the same request; ``fixed`` the
    hyperparameters every trial shares (the preset's); ``key`` what else identifies the
    study (the original model and the request) for its journal; ``objective_fn(row,
    reference)`` the number minimised (default: the Avg. Gap). The sampler of trial i is
    seeded by ``seed``, the method, the scenario and i. Finished trials are read back
    from the journal, not run again.
    """
    optuna = _optuna()
    from optuna.trial import TrialState

    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    fixed = dict(fixed or {})
    space = search_space(method, fixed)
    enqueued = default_setting(method, fixed, original)
    if set(enqueued) != set(space):
        raise ValueError(f"{method}'s default setting {enqueued} does not fill its search space "
                         f"{sorted(space)}: widen the space or resolve the default")
    fixed = {k: v for k, v in fixed.items() if k not in space}
    study_key = config_key({"format": TUNING_FORMAT, "method": method, "fixed": fixed,
                            "space": {k: vars(r) for k, r in space.items()},
                            "columns": OBJECTIVE_COLUMNS, "objective": objective_fn.__name__,
                            "seed": seed, "scenario": scenario, **(key or {})})
    study = optuna.create_study(study_name=f"{method}-{study_key}", direction="minimize",
                                storage=study_storage(f"{method}-{study_key}"),
                                load_if_exists=True)

    def done() -> list:
        return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))

    def objective(trial) -> float:
        setting = {name: rng.suggest(trial, name) for name, rng in space.items()}
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:  # a diverged trial is a data point
            warnings.simplefilter("always")
            result = run_method(method, original, request, evaluation, **fixed, **setting)
        row = result.record
        trial.set_user_attr("seconds", time.perf_counter() - start)
        trial.set_user_attr("diverged", any("DIVERGED" in str(w.message) for w in caught))
        for column in dict.fromkeys((*OBJECTIVE_COLUMNS, "acc_test")):
            trial.set_user_attr(column, float(row[column]))
        return objective_fn(row, reference)

    if not any(t.user_attrs.get("kind") == "default" for t in done()) and \
            not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        study.enqueue_trial(enqueued, user_attrs={"kind": "default"})
    startup = max(2, math.ceil(n_trials / 3))
    study_seed = seed * 100_003 + zlib.crc32(f"{method}|{scenario}".encode())
    for _ in progress(range(max(0, n_trials - len(done()))), desc=f"tune {method}", unit="trial"):
        study.sampler = optuna.samplers.TPESampler(seed=(study_seed + len(done())) % 2**32,
                                                   n_startup_trials=startup)
        study.optimize(objective, n_trials=1)
    return _summarise(method, scenario, done()[:n_trials], fixed, space)


def _summarise(method: str, scenario: str, trials: list, fixed: dict[str, Any],
               space: dict[str, Range]) -> Study:
    rows = [{"trial": t.number, "kind": t.user_attrs.get("kind", "search"), "objective": t.value,
             **t.params, **{k: v for k, v in t.user_attrs.items() if k != "kind"}}
            for t in trials]
    table = pd.DataFrame(rows)
    best = min(trials, key=lambda t: (t.value, t.number))
    defaults = [t.value for t in trials if t.user_attrs.get("kind") == "default"]
    return Study(method=method, scenario=scenario, params={**fixed, **best.params},
                 objective=float(best.value),
                 default_objective=float(defaults[0]) if defaults else float("nan"),
                 trials=table, seconds=float(table["seconds"].sum()),
                 space={k: r.describe() for k, r in space.items()})


# --------------------------------------------------------------------------------------
# Every method of a preset, and the file notebooks read


def tune_preset(
    preset: Preset,
    *,
    n_trials: int,
    methods: Sequence[str] | None = None,
    scenarios: Sequence[str] | None = None,
    n_classes: int = 3,
) -> dict[str, dict[str, Study]]:
    """Tune every method (or ``methods``) on the validation twin of every leaderboard
    scenario (or ``scenarios``), on the validation original
    (:data:`leaderboard.VALIDATION_SEED`); saves :func:`paths.tuned_path` after each
    study, so an interrupted run keeps what it finished."""
    from . import config, experiment, leaderboard  # both read tuned settings: imported here

    valid = dataclasses.replace(preset, seed=leaderboard.VALIDATION_SEED)
    memorising = config.memorising(valid)
    dataset = experiment.load_preset_data(valid)
    memorising_dataset = experiment.load_preset_data(memorising)
    requests = validation_requests(dataset, memorising_dataset, n_classes=n_classes)
    unknown = set(scenarios or ()) - requests.keys()
    if unknown:
        raise ValueError(f"Unknown scenario(s) {sorted(unknown)}; choose from {list(requests)}")
    tuned = load_tuned(preset.name)
    results: dict[str, dict[str, Study]] = {}
    for scenario, split in requests.items():
        if scenarios and scenario not in scenarios:
            continue
        regime, data_ = (memorising, memorising_dataset) if split.scenario == "instance" else (valid, dataset)
        original = experiment.train_original(regime, data_).model
        for method in [m for m in (methods or tunable_methods(split)) if get_method(m).accepts(split)]:
            study, floor = _study(regime, data_, original, split, method, n_trials=n_trials, scenario=scenario)
            results.setdefault(scenario, {})[method] = study
            _file(tuned, preset.name, scenario, method, study, floor, split)
    return results


def tune_p3(preset: Preset, *, n_trials: int, k: int = 128) -> Study:
    """l2ul on notebook 03's memorising original (the preset's seed) with P3's own
    objective (:func:`p3_objective`), on ``k`` samples disjoint from notebook 03's
    draws (its ``k`` draw and its continual requests); filed under :data:`P3_SCENARIO`."""
    from . import config, experiment

    regime = config.memorising(preset)
    dataset = experiment.load_preset_data(regime)
    original = experiment.train_original(regime, dataset).model
    used = [data.instance_split(dataset, k, seed=preset.seed).forget_indices]
    used += [data.instance_split(dataset, 16, seed=preset.seed + 100 + i).forget_indices for i in range(10)]
    split = disjoint_instance_split(dataset, k, torch.cat(used), seed=preset.seed + 1)
    study, floor = _study(regime, dataset, original, split, "l2ul", n_trials=n_trials,
                          scenario=P3_SCENARIO, objective_fn=p3_objective)
    _file(load_tuned(preset.name), preset.name, P3_SCENARIO, "l2ul", study, floor, split)
    return study


def _study(preset: Preset, dataset: Dataset, original: nn.Module, split: ForgetSplit, method: str, *,
           n_trials: int, scenario: str, objective_fn=objective_value) -> tuple[Study, float]:
    """One study and the validation request's noise floor (a retrain from another
    initialisation, scored by the Avg. Gap; 0 under P3's absolute objective, whose
    reference is the original's row)."""
    from . import experiment, leaderboard

    request = experiment.make_request(preset, dataset, split)
    evaluation = experiment.make_evaluation(preset, dataset, split)
    if objective_fn is p3_objective:  # P3's goal is set against the original, not retrain
        reference = evaluation.evaluate(original)
    else:
        reference = evaluation.evaluate(run_method("retrain", original, request).model)
    floor = 0.0  # P3's objective is absolute: no retrain to be noisy about
    if objective_fn is objective_value:
        other = dataclasses.replace(preset, seed=preset.seed + leaderboard.OTHER_SEED_OFFSET)
        floor = objective_value(evaluation.evaluate(
            run_method("retrain", original, experiment.make_request(other, dataset, split)).model), reference)
    key = {"preset": preset.name, "dataset": dataset.fingerprint, "model": preset.model,
           "train": preset.train, "original_seed": preset.seed, "forget": split.forget_indices.tolist()}
    study = tune_method(method, original, request, evaluation, reference, n_trials=n_trials,
                        fixed=preset.method_kwargs(method), seed=preset.seed, key=key, scenario=scenario,
                        objective_fn=objective_fn)
    return study, floor


def _file(tuned: dict[str, Any], preset: str, scenario: str, method: str, study: Study, floor: float,
          split: ForgetSplit) -> None:
    from . import leaderboard

    beats = study.default_objective - study.objective > floor
    tuned.setdefault("scenarios", {}).setdefault(scenario, {})[method] = {
        **study.record(), "floor": round(floor, 6), "beats_floor": bool(beats), "validation": split.description}
    tuned |= {"preset": preset, "objective": list(OBJECTIVE_COLUMNS), "commit": paths.commit_stamp(),
              "validation_seed": leaderboard.VALIDATION_SEED}
    save_tuned(preset, tuned)
    print(f"{scenario} / {method}: {study.default_objective:.3f} (default) -> {study.objective:.3f} (tuned) "
          f"in {len(study.trials)} trials, {study.seconds:.0f} s; noise floor {floor:.3f}: "
          f"{'kept' if beats else 'not kept (within the floor)'}; {study.params}", flush=True)


def tuned_requested(flag: bool | None) -> bool:
    """A notebook's ``TUNED`` parameter: ``None`` defers to the ``UNLEARNLAB_TUNED``
    variable (``make reproduce TUNED=1`` sets it to 1), otherwise off."""
    if flag is not None:
        return bool(flag)
    return os.environ.get("UNLEARNLAB_TUNED", "0").strip().lower() not in ("", "0", "false", "no")


def load_tuned(preset: str) -> dict[str, Any]:
    """The tuned settings of ``preset`` (empty when it was never tuned)."""
    path = paths.tuned_path(preset)
    return json.loads(path.read_text()) if path.exists() else {}


def save_tuned(preset: str, tuned: dict[str, Any]) -> None:
    paths.atomic_write_text(paths.tuned_path(preset), json.dumps(tuned, indent=1, sort_keys=True) + "\n")


def tuned_settings(preset: str, scenario: str, *, kept_only: bool = True) -> dict[str, dict[str, Any]]:
    """Method -> tuned hyperparameters for a scenario (empty if untuned): only those that
    beat their default on validation by more than the noise floor, unless not
    ``kept_only``."""
    found = load_tuned(preset).get("scenarios", {}).get(scenario, {})
    return {method: dict(entry["params"]) for method, entry in found.items()
            if entry.get("beats_floor", False) or not kept_only}


def tuned_by_scenario(preset: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Scenario -> method -> kept tuned hyperparameters, as ``leaderboard.leaderboard(tuned=...)``
    takes them (empty when the preset was never tuned)."""
    return {scenario: tuned_settings(preset, scenario)
            for scenario in load_tuned(preset).get("scenarios", {})}


def summary(preset: str) -> pd.DataFrame:
    """One row per tuned (scenario, method): the validation objective at the default
    setting and at the tuned one, the trials, their total time and the tuned values of the
    searched hyperparameters (3 significant digits)."""
    rows = []
    for scenario, found in load_tuned(preset).get("scenarios", {}).items():
        for method, entry in sorted(found.items()):
            searched = {k: v for k, v in entry["params"].items() if k in entry["space"]}
            rows.append({"scenario": scenario, "method": method,
                         "default_gap": entry["default_objective"], "tuned_gap": entry["objective"],
                         "floor": entry.get("floor", float("nan")), "kept": entry.get("beats_floor", False),
                         "trials": entry["trials"], "seconds": entry["seconds"],
                         "space": "; ".join(f"{k} {r}" for k, r in entry["space"].items()),
                         "tuned": ", ".join(f"{k}={v:.3g}" for k, v in searched.items())})
    return pd.DataFrame(rows, columns=["scenario", "method", "default_gap", "tuned_gap", "floor", "kept",
                                       "trials", "seconds", "space", "tuned"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m unlearnlab.tuning",
        description="Tune every method with the same number of optuna trials on validation "
                    "requests disjoint from the reported ones; writes tuning/<preset>.json.")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--trials", type=int, default=12, help="trials per method and scenario")
    parser.add_argument("--method", action="append", help="tune only this method (repeatable)")
    parser.add_argument("--scenario", action="append",
                        help="only this leaderboard scenario, e.g. 'one class' (repeatable)")
    parser.add_argument("--p3", action="store_true",
                        help="tune l2ul on notebook 03's memorising original with P3's objective")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error(f"--trials must be at least 1, got {args.trials}")
    for method in args.method or ():
        if method not in SPACES:
            parser.error(f"no search space for {method!r}; tunable: {', '.join(sorted(SPACES))}")
    try:
        if args.p3:
            tune_p3(get_preset(args.preset), n_trials=args.trials)
        else:
            tune_preset(get_preset(args.preset), n_trials=args.trials, methods=args.method,
                        scenarios=args.scenario)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Tuned settings: {paths.tuned_path(args.preset)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
