"""The leaderboard (notebook 05): every registered method on the same originals, forget
requests and budget, ranked by SalUn's Avg. Gap to retrain, in a table where doing
nothing cannot look like success.

**Requests.** Per seed, one original (its initialisation, data order and training
subset) and three scenarios:

- ``one class``: at the first seed every reportable class, one request each; at every
  other seed the class that seed draws. Fashion-MNIST's classes differ so much that one
  class per seed cannot order methods; the per-class requests can.
- ``<n> classes``: ``n`` reportable classes drawn by the seed.
- ``10 % instances (memorising)``: a random 10 % of the training subset (SalUn's
  protocol), forgotten from an original that memorises its training set
  (:func:`unlearnlab.config.memorising`, notebook 03's regime). The memorisation gap on
  D_f (original minus retrain) must be at least 5 standard errors of D_f accuracy, or
  the scenario is UNTESTABLE HERE (:func:`memorisation`).

Classes and samples are split once between reported requests and tuning's validation
requests: :func:`held_out_classes` are never reported, and instance requests draw only
training images of even index in the full training split (validation: odd), so a
tuned setting never saw a reported request.

**Rows.** Beside every method: ``original`` (no unlearning) and ``retrain (other
seed)``, a retrain from another initialisation whose gap to retrain is the noise floor
of every column. A method whose Avg. Gap is not below the original's by more than that
floor is flagged "no better than doing nothing".

**Ranking.** Avg. Gap = mean |method - retrain| over forget, retain and retained-class
test accuracy and MIA-Efficacy (Fan et al. 2024; :data:`metrics.AVG_GAP_COLUMNS`).
Ranks come from the paired per-request gaps: a method's rank is 1 + the number of
methods better than it in at least 97.5 % of bootstrap resamples of the requests (so
methods that cannot be told apart share a rank), and its interval runs to the worst
rank the same comparisons allow (:func:`bootstrap_ranks`).

**Beside the ranking.** Every other attack, each greyed where it does not separate the
original from retrain (:func:`attack_separation`); and for class requests a linear
probe of the forget classes on penultimate features (:func:`metrics.forget_class_probe`)
and relearn time (:meth:`metrics.Evaluation.relearn_steps`), both with retrain's value.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import config, data, metrics, vocabulary
from .config import Preset
from .data import Dataset, ForgetSplit
from .experiment import (
    TUNED,
    compare_methods,
    load_preset_data,
    make_evaluation,
    make_request,
    train_original,
    tuned_pairs,
)
from .methods import get_method, list_methods, run_method
from .training import progress

ONE_CLASS = "one class"
#: The share of the training subset forgotten by the instance scenario (SalUn's 10 %).
INSTANCE_SHARE = 0.1
#: The seed of tuning's validation originals: never one of a preset's reported seeds.
VALIDATION_SEED = 1_000
#: Added to a seed for the reference retrain from another initialisation.
OTHER_SEED_OFFSET = 5_000
OTHER = "retrain (other seed)"
REFERENCE_ROWS = ("original", OTHER)
#: Methods whose goal is not retrain's behaviour, and what it is instead.
GOALS = {"l2ul": "0 % on D_f (P3): penalised by a gap to retrain by design"}
#: Attacks reported beside the ranking; the first is the Avg. Gap's MIA-Efficacy.
ATTACKS = ("mia_svc_nonmember", "mia_entropy_lr_member", "mia_loss_lr_acc")
#: An attack separates the original from retrain when their means over requests differ
#: by more than this many standard deviations (ours: the bar below which an attack
#: column is noise rather than a measurement).
SEPARATION_SDS = 3.0
#: Memorisation gap needed for the instance scenario, in standard errors of D_f
#: accuracy (ours: a 5-SE gap cannot come from sampling D_f).
MEMORISATION_SES = 5.0
#: Relearn target: this share of the original's D_f accuracy (ours: the original's own
#: accuracy, exactly, is reached or missed by the noise of a few hundred check images).
RELEARN_SHARE = 0.9
BOOTSTRAP = 2_000


def instance_scenario(share: float = INSTANCE_SHARE) -> str:
    return f"{share:.0%} instances (memorising)".replace("%", " %")


def classes_scenario(n_classes: int) -> str:
    return f"{n_classes} classes"


# --------------------------------------------------------------------------------------
# Requests


def held_out_classes(num_classes: int, n_classes: int) -> tuple[int, ...]:
    """The ``n_classes`` classes kept for tuning's validation requests (drawn by
    :data:`VALIDATION_SEED`): no reported request forgets them."""
    order = torch.randperm(num_classes, generator=torch.Generator().manual_seed(VALIDATION_SEED))
    return tuple(sorted(order[:n_classes].tolist()))


def reportable_classes(num_classes: int, n_classes: int) -> tuple[int, ...]:
    held = set(held_out_classes(num_classes, n_classes))
    return tuple(c for c in range(num_classes) if c not in held)


def instance_pool(dataset: Dataset, *, validation: bool = False) -> torch.Tensor:
    """Positions in ``dataset`` that instance requests may draw: training images of even
    index in the full training split for reported requests, odd for validation."""
    source = dataset.source_indices
    if source is None:
        source = torch.arange(len(dataset.y_train))
    return torch.nonzero(source % 2 == int(validation)).flatten()


def instance_request(dataset: Dataset, share: float, *, seed: int, validation: bool = False) -> ForgetSplit:
    """A random ``share`` of the training subset, drawn by ``seed`` from :func:`instance_pool`."""
    pool = instance_pool(dataset, validation=validation)
    k = round(share * len(dataset.y_train))
    if not 0 < k < len(pool):
        raise ValueError(f"Cannot draw {k} samples ({share:.0%} of {len(dataset.y_train)}) from a pool of "
                         f"{len(pool)}")
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))
    return data.indices_split(dataset, pool[order[:k]].sort().values.tolist())


@dataclass(frozen=True)
class Request:
    """One forget request of the leaderboard."""

    seed: int
    scenario: str
    label: str
    split: ForgetSplit
    memorising: bool = False


def seed_requests(dataset: Dataset, memorising_dataset: Dataset | None, seed: int, *,
                  every_class: bool, n_classes: int = 3, classes: Sequence[int] | None = None,
                  share: float = INSTANCE_SHARE, scenarios: Sequence[str] | None = None) -> list[Request]:
    """The requests of one seed: the one-class requests (every class of ``classes``,
    default every reportable class, where ``every_class``; else the seed's draw), the
    seed's ``n_classes`` draw and, given a memorising dataset, the instance request."""
    reportable = reportable_classes(dataset.num_classes, n_classes)
    order = torch.randperm(len(reportable), generator=torch.Generator().manual_seed(seed)).tolist()
    drawn = [reportable[i] for i in order]
    one = list(classes if classes is not None else reportable) if every_class else drawn[:1]
    unknown = set(one) - set(reportable)
    if unknown:
        raise ValueError(f"Classes {sorted(unknown)} are held out for tuning (or unknown); "
                         f"reportable: {list(reportable)}")
    found = [Request(seed, ONE_CLASS, f"class {c}", data.class_split(dataset, [c])) for c in one]
    several = sorted(drawn[:n_classes])
    found.append(Request(seed, classes_scenario(n_classes), "classes " + ",".join(map(str, several)),
                         data.class_split(dataset, several)))
    if memorising_dataset is not None:
        split = instance_request(memorising_dataset, share, seed=seed)
        found.append(Request(seed, instance_scenario(share), f"{split.num_forget} samples", split,
                             memorising=True))
    return [r for r in found if scenarios is None or r.scenario in scenarios]


# --------------------------------------------------------------------------------------
# Running it


def leaderboard(
    preset: Preset,
    seeds: Sequence[int],
    *,
    methods: Sequence[str] | None = None,
    settings: dict[str, dict] | None = None,
    tuned: dict[str, dict[str, dict]] | None = None,
    n_classes: int = 3,
    classes: Sequence[int] | None = None,
    share: float = INSTANCE_SHARE,
    scenarios: Sequence[str] | None = None,
    extras: bool = True,
) -> pd.DataFrame:
    """Every registered method (or ``methods``) on every request of every seed: one long
    table with ``seed``, ``scenario``, ``request``, the metrics, ``gap_*``, ``avg_gap``,
    ``collapsed``, and (``extras``, class requests) ``probe_forget`` and ``relearn_steps``.

    Every method of a request sees the same original and is compared with the retrain of
    the same request; ``original`` and ``retrain (other seed)`` are rows too. ``settings``
    overrides a method's keyword arguments (default: the preset's); ``classes`` the
    one-class requests of the first seed (default: the preset's ``leaderboard_classes``
    first reportable classes, or every one); ``tuned`` maps a
    scenario to ``{method: hyperparameters}`` for the ``"<method> (tuned)"`` rows. A method
    added with ``@register`` shows up here unasked. ``scenarios`` keeps some scenarios.
    """
    if VALIDATION_SEED in seeds:
        raise ValueError(f"Seed {VALIDATION_SEED} is tuning's validation seed; report other seeds")
    names = list(methods) if methods is not None else [m for m in list_methods() if m != "retrain"]
    instance = scenarios is None or instance_scenario(share) in scenarios
    tables = []
    for position, seed in enumerate(progress(seeds, desc="seeds", unit="seed")):
        seeded = dataclasses.replace(preset, seed=seed)
        memorising = config.memorising(seeded)
        dataset = load_preset_data(seeded)
        memorising_dataset = load_preset_data(memorising) if instance else None
        if classes is None and preset.leaderboard_classes is not None:
            classes = reportable_classes(dataset.num_classes, n_classes)[:preset.leaderboard_classes]
        requests = seed_requests(dataset, memorising_dataset, seed, every_class=position == 0,
                                 n_classes=n_classes, classes=classes, share=share, scenarios=scenarios)
        for request in progress(requests, desc=f"seed {seed} requests", unit="request"):
            regime, data_ = (memorising, memorising_dataset) if request.memorising else (seeded, dataset)
            runs = {name: (name, (settings or {}).get(name, regime.method_kwargs(name)))
                    for name in names if get_method(name).accepts(request.split)}
            runs |= {f"{name}{TUNED}": (name, kwargs)
                     for name, kwargs in (tuned or {}).get(request.scenario, {}).items() if name in runs}
            tables.append(run_request(regime, data_, request, runs, extras=extras))
    return pd.concat(tables, ignore_index=True)


def run_request(preset: Preset, dataset: Dataset, request: Request, runs: dict[str, tuple[str, dict]],
                *, extras: bool = True) -> pd.DataFrame:
    """One request's rows: every run of ``runs``, retrain, the original and the retrain
    from another initialisation, on one evaluation."""
    original = train_original(preset, dataset).model
    evaluation = make_evaluation(preset, dataset, request.split)
    table, models = compare_methods(original, make_request(preset, dataset, request.split), evaluation, runs)
    other_preset = dataclasses.replace(preset, seed=preset.seed + OTHER_SEED_OFFSET)
    other = run_method("retrain", original, make_request(other_preset, dataset, request.split), evaluation,
                       label=OTHER)
    models[OTHER] = other.model
    table = metrics.add_gap_to_retrain(pd.concat([table, pd.DataFrame([other.record])], ignore_index=True))
    table = metrics.add_avg_gap(table)
    if extras and request.split.forget_classes:
        target = RELEARN_SHARE * float(table.loc[table.method == "original", "acc_forget"].iloc[0])
        table["probe_forget"] = [metrics.forget_class_probe(models[m], dataset, request.split.forget_classes,
                                                            seed=preset.seed) for m in table.method]
        table["relearn_steps"] = [evaluation.relearn_steps(models[m], target=target, check_max=500)
                                  for m in table.method]
    return table.assign(seed=preset.seed, scenario=request.scenario, request=request.label,
                        n_forget=request.split.num_forget,
                        forget_share=request.split.num_forget / request.split.num_train, collapsed=metrics.collapsed(table, dataset.num_classes))


# --------------------------------------------------------------------------------------
# Reading it


def memorisation(table: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """Per request of ``scenario``: the memorisation gap on D_f (original minus retrain),
    the standard error of D_f accuracy (sqrt(p (1 - p) / n) at retrain's accuracy p, the
    accuracy of a model that never saw D_f, on n forget samples; one sample's worth,
    1 / n, where p is 0 or 1) and the gap in standard errors."""
    part = table[table.scenario == scenario]
    rows = []
    for (seed, request), group in part.groupby(["seed", "request"], sort=False):
        by = group.set_index("method")
        p, n = by.loc["retrain", "acc_forget"], int(by.loc["original", "n_forget"])
        se = math.sqrt(p * (1 - p) / n) or 1.0 / n
        gap = by.loc["original", "acc_forget"] - p
        rows.append({"seed": seed, "request": request, "gap": gap, "se": se, "ses": gap / se})
    return pd.DataFrame(rows, columns=["seed", "request", "gap", "se", "ses"])


def testable(table: pd.DataFrame, scenario: str) -> tuple[bool, str]:
    """Whether an instance scenario can express forgetting: every request's memorisation
    gap is at least :data:`MEMORISATION_SES` standard errors. Class scenarios always can."""
    if "instances" not in scenario:
        return True, ""
    gaps = memorisation(table, scenario)
    worst = gaps.ses.min()
    if worst >= MEMORISATION_SES:
        return True, f"memorisation gap {gaps.gap.mean():.3f} ({worst:.1f} SE at the least)"
    return False, (f"UNTESTABLE HERE: memorisation gap {gaps.gap.mean():.3f}, {worst:.1f} standard errors "
                   f"at the least (needs {MEMORISATION_SES:g})")


#: What the ranked table reports per method, as mean and spread over requests.
COLUMNS = ("acc_forget", "acc_retain", "acc_test_retain", "acc_test", *ATTACKS, "probe_forget",
           "relearn_steps", "time_s", "speedup", "avg_gap", "forget_share", "params_dampened")


def rank_methods(table: pd.DataFrame, *, boot: int = BOOTSTRAP, seed: int = 0) -> pd.DataFrame:
    """Mean and std over requests per (scenario, method), ranked within each scenario.

    Rows: retrain (the reference), the reference rows, then the methods by rank. A
    method that collapsed on any request gets no rank and a ``flag``; one whose Avg. Gap
    is not below the original's by more than the noise floor (``retrain (other seed)``'s
    Avg. Gap) is flagged "no better than doing nothing". ``rank`` is shared by methods
    the paired bootstrap cannot order; ``rank_low``/``rank_high`` bound the ranks the
    bootstrap allows (NaN with fewer than 3 requests)."""
    columns = [c for c in COLUMNS if c in table]
    stats = vocabulary.mean_std(table, ["scenario", "method"], columns)
    counts = table.groupby(["scenario", "method"], sort=False)["collapsed"].agg(["sum", "count"])
    stats = stats.merge(counts.reset_index().rename(columns={"sum": "collapsed_runs", "count": "requests"}),
                        on=["scenario", "method"])
    out = []
    for scenario, group in stats.groupby("scenario", sort=False):
        group = group.set_index("method")
        floor = group.avg_gap_mean.get(OTHER, 0.0)
        nothing = group.avg_gap_mean.get("original", float("nan"))
        kind = pd.Series("method", index=group.index)
        kind[kind.index.isin(("retrain", *REFERENCE_ROWS))] = "reference"
        flags = []
        for method, row in group.iterrows():
            if kind[method] == "reference":
                flags.append("")
            elif row.collapsed_runs:
                flags.append(f"COLLAPSED in {int(row.collapsed_runs)}/{int(row.requests)} requests")
            elif not row.avg_gap_mean < nothing - floor:
                flags.append("no better than doing nothing")
            else:
                flags.append("")
        group = group.assign(kind=kind, flag=flags, floor=floor,
                             goal=[GOALS.get(m.removesuffix(TUNED), "") for m in group.index])
        candidates = [m for m in group.index if kind[m] == "method" and not group.collapsed_runs[m]]
        ranks = bootstrap_ranks(table[table.scenario == scenario], candidates, boot=boot, seed=seed)
        group = group.join(ranks)
        order = (["retrain"] if "retrain" in group.index else []) + [m for m in REFERENCE_ROWS if m in group.index]
        rest = group[kind == "method"].sort_values(["rank", "avg_gap_mean"], na_position="last")
        out.append(pd.concat([group.loc[order], rest]).reset_index().assign(scenario=scenario))
    return pd.concat(out, ignore_index=True)


def bootstrap_ranks(table: pd.DataFrame, methods: Sequence[str], *, boot: int = BOOTSTRAP,
                    seed: int = 0) -> pd.DataFrame:
    """``rank``, ``rank_low``, ``rank_high`` of ``methods`` from the paired per-request
    Avg. Gaps of one scenario. Method a is better than b where a's mean gap is lower in
    at least 97.5 % of ``boot`` resamples of the requests (the same resample for every
    method: the differences are paired). ``rank`` = ``rank_low`` = 1 + the number of
    methods better than it (methods that cannot be ordered share it); ``rank_high`` =
    the number of methods minus those it is better than: the ranks the data allow. Below
    3 requests there is no interval (NaN) and the ranks are the point estimate's."""
    empty = pd.DataFrame(columns=["rank", "rank_low", "rank_high"], dtype=float)
    if not methods:
        return empty
    gaps = table[table.method.isin(methods)].pivot_table(index=["seed", "request"], columns="method",
                                                        values="avg_gap")[list(methods)]
    values = gaps.to_numpy()
    n = len(values)
    if n < 3:
        point = pd.Series(values.mean(0), index=methods).rank(method="min")
        return pd.DataFrame({"rank": point, "rank_low": np.nan, "rank_high": np.nan})
    rng = np.random.default_rng(seed)
    means = np.stack([values[rng.integers(0, n, n)].mean(0) for _ in range(boot)])  # boot x methods
    better = (means[:, :, None] < means[:, None, :]).mean(0) >= 0.975  # [a, b]: a better than b
    low = 1 + better.sum(0)
    high = len(methods) - better.sum(1)
    return pd.DataFrame({"rank": low, "rank_low": low, "rank_high": high}, index=list(methods))


def requests_per_scenario(table: pd.DataFrame) -> dict[str, int]:
    """How many requests (seed and request) each scenario holds."""
    return {scenario: len(part[["seed", "request"]].drop_duplicates())
            for scenario, part in table.groupby("scenario", sort=False)}


def attack_separation(table: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and attack: the original's and retrain's mean over requests, their
    pooled standard deviation, and whether the attack separates them by more than
    :data:`SEPARATION_SDS` standard deviations (with fewer than 2 requests it cannot tell)."""
    rows = []
    for scenario, part in table.groupby("scenario", sort=False):
        for attack in ATTACKS:
            original = part.loc[part.method == "original", attack]
            retrain = part.loc[part.method == "retrain", attack]
            sd = math.sqrt((original.var(ddof=1) + retrain.var(ddof=1)) / 2) if len(original) > 1 else float("nan")
            difference = abs(original.mean() - retrain.mean())
            if sd > 0:
                sds = difference / sd
            else:  # no spread over requests: any difference separates (sds undefined, NaN)
                sds = float("nan") if difference > 0 else 0.0
            separates = bool(len(original) > 1 and (sds > SEPARATION_SDS if sd > 0 else difference > 0))
            if len(original) < 2:
                reason = "one request: cannot tell"
            elif separates:
                reason = ""
            else:
                reason = f"does not separate original from retrain ({difference:.3f} = {sds:.1f} sd)"
            rows.append({"scenario": scenario, "attack": attack, "original": original.mean(),
                         "retrain": retrain.mean(), "sd": sd, "sds": sds, "separates": separates,
                         "reason": reason})
    return pd.DataFrame(rows)


def default_notes(ranked: pd.DataFrame) -> list[str]:
    """Where a reference default is inert on these requests, a line that says so rather
    than a quiet re-tuning. SSD (Foster et al. 2024): with per-sample importances its
    selection rule cannot fire when alpha >= 1/s for a forget share s, and the reference's
    alpha 10 is 1/s for one class of ten."""
    from .methods import get_method

    notes = []
    alpha = get_method("ssd").defaults["alpha"]
    if "params_dampened_mean" not in ranked or "forget_share_mean" not in ranked:
        return notes
    for _, row in ranked[ranked.method == "ssd"].iterrows():
        if pd.isna(row.params_dampened_mean):
            continue
        inverse = 1 / row.forget_share_mean
        if alpha >= 0.9 * inverse:
            notes.append(f"{row.scenario}: ssd at the reference's alpha {alpha:g} dampened "
                         f"{row.params_dampened_mean:.0f} weights on average; 1/s = {inverse:.1f} for a forget "
                         f"share s = {row.forget_share_mean:.3f}, and the rule cannot fire where alpha >= 1/s: "
                         f"the default is (nearly) inert here, as in the reference code")
    return notes


def tuning_effect(ranked: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and tuned method of a :func:`rank_methods` table: Avg. Gap (mean over
    requests) and flag at the paper's defaults and at the tuned setting, and the change."""
    rows = []
    for scenario, part in ranked.groupby("scenario", sort=False):
        board = part.set_index("method")
        for base, label in tuned_pairs(list(board.index)):
            default, row = board.loc[base], board.loc[label]
            rows.append({"scenario": scenario, "method": base,
                             "gap_default": default.avg_gap_mean, "gap_tuned": row.avg_gap_mean,
                             "change": row.avg_gap_mean - default.avg_gap_mean,
                             "flag_default": default.flag or "-", "flag_tuned": row.flag or "-"})
    return pd.DataFrame(rows, columns=["scenario", "method", "gap_default", "gap_tuned", "change",
                                       "flag_default", "flag_tuned"])


def rank_text(row: pd.Series) -> str:
    """``3`` or ``3 (2-5)``: the rank and its bootstrap interval; ``-`` when unranked."""
    if pd.isna(row.get("rank")):
        return "-"
    if pd.isna(row.get("rank_low")):
        return str(int(row["rank"]))
    return f"{int(row['rank'])} ({row.rank_low:.0f}-{row.rank_high:.0f})"


def board_text(ranked: pd.DataFrame, scenario: str) -> str:
    """One scenario of the ranked table as fixed-width text (what notebook 05 prints)."""
    part = ranked[ranked.scenario == scenario]
    shown = pd.DataFrame({
        "rank": [rank_text(r) for _, r in part.iterrows()],
        "method": [m + (" †" if g else "") for m, g in zip(part.method, part.goal, strict=True)],
        **{vocabulary.label(c): [vocabulary.pm(m, s) for m, s in zip(part[f"{c}_mean"], part[f"{c}_std"],
                                                                     strict=True)]
           for c in ("acc_forget", "acc_retain", "acc_test_retain", "mia_svc_nonmember", "avg_gap")},
        "flag": part.flag.fillna(""),
    })
    return shown.to_string(index=False)


def leaderboard_lines(ranked: pd.DataFrame, *, threshold: float = 0.05) -> list[str]:
    """One plain-language line per method: its rank per scenario, where it matches
    retrain (forget accuracy and retained-class test accuracy both within
    ``threshold``), and where it fails and how. Methods by their mean rank."""
    reference = ranked[ranked.method == "retrain"].set_index("scenario")
    methods = ranked[ranked.kind == "method"]
    order = methods.groupby("method", sort=False)["rank"].mean().sort_values(na_position="last").index
    lines = []
    for method in order:
        places, wins, fails = [], [], []
        for _, row in methods[methods.method == method].iterrows():
            scenario = row.scenario
            if row.flag and row.flag.startswith("COLLAPSED"):
                places.append(f"{scenario}: not ranked")
                fails.append(f"{scenario} ({row.flag.lower()})")
                continue
            places.append(f"{scenario}: #{rank_text(row)} (Avg. Gap {vocabulary.pm(row.avg_gap_mean, row.avg_gap_std)}"
                          + (f", {row.flag}" if row.flag else "") + ")")
            ref = reference.loc[scenario]
            gap_forget = row.acc_forget_mean - ref.acc_forget_mean
            gap_keep = row.acc_test_retain_mean - ref.acc_test_retain_mean
            problems = []
            if gap_forget > threshold:
                problems.append(f"D_f accuracy {gap_forget:+.3f} above retrain's")
            elif gap_forget < -threshold:
                problems.append(f"D_f accuracy {gap_forget:+.3f} below retrain's")
            if gap_keep < -threshold:
                problems.append(f"retained-class test accuracy {gap_keep:+.3f}")
            (fails if problems else wins).append(f"{scenario} ({', '.join(problems)})" if problems else scenario)
        goal = GOALS.get(method.removesuffix(TUNED))
        lines.append(f"{method}{' (goal: ' + goal + ')' if goal else ''}: {'; '.join(places)}. Matches retrain "
                     f"(within {threshold:.2f}) on: {', '.join(wins) or 'no scenario'}. "
                     f"Fails on: {', '.join(fails) or 'none'}.")
    return lines
