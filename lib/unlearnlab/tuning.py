"""Equal-budget hyperparameter tuning: every method gets the same number of
optuna trials (seeded TPE) over its main hyperparameters (:data:`SPACES`), on a
validation request disjoint from the reported one, with one objective for all:
the mean absolute gap to retrain over forget, retain and test accuracy and the entropy
membership attack (:data:`OBJECTIVE_COLUMNS`, the Avg. Gap of Fan et al. 2024 restricted
to the attack that is meaningful under class forgetting).

The first trial of every study is the preset's own setting (the paper's defaults, as
shortened by the preset), so a tuned setting is never worse than the default on the
validation request. A reported "tuned" row therefore tells "it fails with the paper's
settings" apart from "it fails with any setting in this search space".

Trials are stored in an optuna journal under ``runs/cache/tuning/`` (one file per
study, keyed by everything that defines it): a study that is interrupted, or asked for
more trials later, resumes where it stopped. Trial i is drawn by a sampler seeded with
``seed`` and i, so a resumed study draws exactly what an uninterrupted one would.

The best settings go to a small JSON file (:func:`paths.tuned_path`) that notebooks
read: ``tuning/<preset>.json`` (committed) for the cpu, gpu and paper presets.

    python -m unlearnlab.tuning --preset cpu --trials 12
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Sequence
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
from .metrics import Evaluation
from .training import progress

#: What a tuned setting is judged on: mean |method - retrain| over these columns.
OBJECTIVE_COLUMNS = ("acc_forget", "acc_retain", "acc_test", "mia_entropy_lr_member")

#: The suffix of a scenario tuned on the memorising original (notebook 03's).
MEMORISING = " (memorising)"

#: Bumped when the objective or the trial protocol changes meaning (part of study keys).
TUNING_FORMAT = 1


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
    "scrub": {"lr": _lr(1e-5, 1e-2), "alpha": Range(1e-4, 1.0, log=True),
              "max_epochs": _epochs(0, 2)},
    "ssd": {"alpha": Range(1.0, 100.0, log=True), "lam": Range(0.1, 10.0, log=True)},
    "salun": {"keep": Range(0.1, 0.9), "lr": _lr(1e-3, 5e-2), "epochs": _epochs(1, 3)},
}


def tunable_methods(split: ForgetSplit | None = None) -> list[str]:
    """Methods with a search space (those that accept ``split``, if given)."""
    return [m for m in list_methods() if m in SPACES
            and (split is None or get_method(m).accepts(split))]


# --------------------------------------------------------------------------------------
# The validation request


def disjoint_class_split(dataset: Dataset, n_classes: int, exclude: Sequence[int], *,
                         seed: int) -> ForgetSplit:
    """``n_classes`` classes drawn by ``seed`` among those not in ``exclude``."""
    pool = [c for c in range(dataset.num_classes) if c not in set(exclude)]
    if not 0 < n_classes <= len(pool) or n_classes >= dataset.num_classes:
        raise ValueError(f"Cannot draw {n_classes} validation classes disjoint from "
                         f"{sorted(exclude)} among {dataset.num_classes} classes")
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed)).tolist()
    return data.class_split(dataset, sorted(pool[i] for i in order[:n_classes]))


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


def validation_split(dataset: Dataset, reported: Sequence[ForgetSplit], scenario: ForgetSplit,
                     *, seed: int) -> ForgetSplit:
    """A request of ``scenario``'s kind and size, disjoint from the ``reported`` ones of
    its kind: other classes than any reported class request, other samples than any
    reported instance request."""
    if scenario.scenario == "instance":
        used = torch.cat([s.forget_indices for s in reported if s.scenario == "instance"])
        return disjoint_instance_split(dataset, scenario.num_forget, used, seed=seed)
    used = sorted({c for s in reported if s.scenario != "instance" for c in s.forget_classes})
    return disjoint_class_split(dataset, len(scenario.forget_classes), used, seed=seed)


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
) -> Study:
    """Tune ``method`` on one (validation) request with ``n_trials`` trials in all.

    ``reference`` is retrain's evaluation row on the same request; ``fixed`` the
    hyperparameters every trial shares (the preset's); ``key`` what else identifies the
    study (the original model and the request) for its journal. Finished trials are
    read back from the journal, not run again.
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
                            "columns": OBJECTIVE_COLUMNS, "seed": seed, **(key or {})})
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
        for column in OBJECTIVE_COLUMNS:
            trial.set_user_attr(column, float(row[column]))
        return objective_value(row, reference)

    if not any(t.user_attrs.get("kind") == "default" for t in done()) and \
            not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        study.enqueue_trial(enqueued, user_attrs={"kind": "default"})
    startup = max(2, math.ceil(n_trials / 3))
    for _ in progress(range(max(0, n_trials - len(done()))), desc=f"tune {method}", unit="trial"):
        study.sampler = optuna.samplers.TPESampler(seed=seed * 100_003 + len(done()),
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
    k: int = 128,
    memorising: bool = False,
) -> dict[str, dict[str, Study]]:
    """Tune every method (or ``methods``) on the validation twin of every leaderboard
    scenario (or ``scenarios``) of the preset's seed; saves :func:`paths.tuned_path`
    after each study, so an interrupted run keeps what it finished.

    ``memorising`` tunes on the original that memorises its training set
    (:func:`config.memorising`, notebook 03's) and files the results under
    ``"<scenario> (memorising)"``."""
    from . import config, experiment  # experiment reads tuned settings: imported here

    name = preset.name
    if memorising:
        preset = config.memorising(preset)
    dataset = experiment.load_preset_data(preset)
    original = experiment.train_original(preset, dataset).model
    reported = experiment.leaderboard_scenarios(dataset, preset.seed, n_classes=n_classes, k=k)
    unknown = set(scenarios or ()) - reported.keys()
    if unknown:
        raise ValueError(f"Unknown scenario(s) {sorted(unknown)}; choose from {list(reported)}")
    tuned = load_tuned(name)
    results: dict[str, dict[str, Study]] = {}
    for scenario, split in reported.items():
        if scenarios and scenario not in scenarios:
            continue
        label = f"{scenario}{MEMORISING}" if memorising else scenario
        valid = validation_split(dataset, list(reported.values()), split, seed=preset.seed + 1)
        request = experiment.make_request(preset, dataset, valid)
        evaluation = experiment.make_evaluation(preset, dataset, valid)
        reference = evaluation.evaluate(run_method("retrain", original, request).model)
        names = [m for m in (methods or tunable_methods(valid)) if get_method(m).accepts(valid)]
        key = {"preset": name, "dataset": dataset.fingerprint, "model": preset.model,
               "train": preset.train, "original_seed": preset.seed,
               "forget": valid.forget_indices.tolist()}
        for method in names:
            study = tune_method(method, original, request, evaluation, reference,
                                n_trials=n_trials, fixed=preset.method_kwargs(method),
                                seed=preset.seed, key=key, scenario=label)
            results.setdefault(label, {})[method] = study
            tuned.setdefault("scenarios", {}).setdefault(label, {})[method] = {
                **study.record(), "validation": valid.description}
            tuned |= {"preset": name, "objective": list(OBJECTIVE_COLUMNS),
                      "commit": paths.commit_stamp()}
            save_tuned(name, tuned)
            print(f"{label} / {method}: Avg. Gap {study.default_objective:.3f} (default) -> "
                  f"{study.objective:.3f} (tuned) in {len(study.trials)} trials, "
                  f"{study.seconds:.0f} s; {study.params}", flush=True)
    return results


def load_tuned(preset: str) -> dict[str, Any]:
    """The tuned settings of ``preset`` (empty when it was never tuned)."""
    path = paths.tuned_path(preset)
    return json.loads(path.read_text()) if path.exists() else {}


def save_tuned(preset: str, tuned: dict[str, Any]) -> None:
    paths.atomic_write_text(paths.tuned_path(preset), json.dumps(tuned, indent=1, sort_keys=True) + "\n")


def tuned_settings(preset: str, scenario: str) -> dict[str, dict[str, Any]]:
    """Method -> tuned hyperparameters for a leaderboard scenario (empty if untuned)."""
    found = load_tuned(preset).get("scenarios", {}).get(scenario, {})
    return {method: dict(entry["params"]) for method, entry in found.items()}


def tuned_by_scenario(preset: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Scenario -> method -> tuned hyperparameters, as ``experiment.leaderboard(tuned=...)``
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
                         "trials": entry["trials"], "seconds": entry["seconds"],
                         "tuned": ", ".join(f"{k}={v:.3g}" for k, v in searched.items())})
    return pd.DataFrame(rows, columns=["scenario", "method", "default_gap", "tuned_gap", "trials",
                                       "seconds", "tuned"])


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
    parser.add_argument("--memorising", action="store_true",
                        help="tune on the original that memorises its training set (notebook 03)")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error(f"--trials must be at least 1, got {args.trials}")
    for method in args.method or ():
        if method not in SPACES:
            parser.error(f"no search space for {method!r}; tunable: {', '.join(sorted(SPACES))}")
    try:
        tune_preset(get_preset(args.preset), n_trials=args.trials, methods=args.method,
                    scenarios=args.scenario, memorising=args.memorising)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Tuned settings: {paths.tuned_path(args.preset)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
