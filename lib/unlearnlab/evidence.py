"""From a notebook's tables to the measurements its claims are judged on.

One function per paper notebook. Each takes the tables the notebook computed, measures
every quantity that :mod:`unlearnlab.claims` declares for that paper's claims (checks
and preconditions), and returns the verdicts (:func:`unlearnlab.claims.judge`) with the
numbers they rest on as evidence. Thresholds live in the declarations, never here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

from .claims import Verdict, judge


def _falls(values: Sequence[float]) -> int:
    """How often a sequence falls from one element to the next."""
    return sum(1 for a, b in zip(values, values[1:], strict=False) if b < a)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.inf


def _fmt(values, digits: int = 3) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def conv_stages(model: nn.Module) -> list[str]:
    """The model's top-level stages that hold a convolution, in forward order."""
    return [name for name in model.stages
            if any(isinstance(m, nn.Conv2d) for m in getattr(model, name).modules())]


def late_stages(model: nn.Module) -> tuple[list[str], list[str]]:
    """(the last convolutional stage and every stage after it, the stages before it)."""
    convs = conv_stages(model)
    if not convs:
        return list(model.stages), []
    cut = list(model.stages).index(convs[-1])
    return list(model.stages[cut:]), list(model.stages[:cut])


def _in(layer: str, modules: Sequence[str]) -> bool:
    return any(layer == m or layer.startswith(m + ".") for m in modules)


# --------------------------------------------------------------------------- P1


def relabel_vs_reset(table: pd.DataFrame, weights: pd.DataFrame, cka: pd.DataFrame,
                     model: nn.Module, reset_layers: Sequence[str], num_classes: int) -> list[Verdict]:
    """P1's four claims (Liao & Lin 2024) from notebook 01's sweep ``table`` (one row per
    forget set and method, with ``steps``), its per-layer ``weights`` change table and
    its stage-wise ``cka`` table."""
    layers = weights[weights.kind.isin(["conv", "linear"])]
    sizes = list(dict.fromkeys(table.forget))
    n_classes = table.groupby("forget", sort=False).n_forget_classes.first()
    steps = table.set_index(["forget", "method"]).steps
    mean_change = layers.groupby(["method", "forget"], sort=False).relative_change.mean()
    names = {"relabel": "relabel", "reset_lower_lr": "reset (rest at lr/10)", "prune": "prune",
             "finetune": "finetune"}
    per_step = {key: [mean_change[(m, s)] / steps[(s, m)] for s in sizes] for key, m in names.items()}
    v1 = judge("P1.1", {"sizes": len(sizes), **{f"falls_{k}": _falls(v) for k, v in per_step.items()}},
               "mean relative change per step (x1e3) by classes removed "
               f"({', '.join(str(n) for n in n_classes)}): " + "; ".join(
                   f"{m}: {_fmt([x * 1e3 for x in per_step[k]])}" for k, m in names.items())
               + "; steps: " + "; ".join(f"{m}: {', '.join(str(int(steps[(s, m)])) for s in sizes)}"
                                         for m in names.values()))

    late, early = late_stages(model)
    relabel = layers[layers.method == "relabel"]
    weight_late = relabel[relabel.stage.isin(late)].relative_change.mean()
    weight_early = relabel[relabel.stage.isin(early)].relative_change.mean()
    function = cka[(cka.method == "relabel") & (cka.versus == "original") & (cka.images == "retain images")]
    change = 1 - function.groupby("stage", sort=False).cka.mean()
    fn_late, fn_early = change[change.index.isin(late)].mean(), change[change.index.isin(early)].mean()
    v2 = judge("P1.2", {"conv_stages": len(conv_stages(model)),
                        "weight_ratio": _ratio(weight_late, weight_early),
                        "function_ratio": _ratio(fn_late, fn_early)},
               f"stages {', '.join(model.stages)} (last stage + head: {', '.join(late)}); relabel's mean "
               f"weight change {weight_late:.4f} there vs {weight_early:.4f} before; 1 - CKA by stage: "
               + ", ".join(f"{s} {c:.3f}" for s, c in change.items()))

    order = list(dict.fromkeys(layers.layer))
    kept = [layer for layer in order if not _in(layer, reset_layers)]
    profile = {m: layers[layers.method == m].groupby("layer", sort=False).relative_change.mean().reindex(kept)
               for m in ("relabel", "reset (rest at lr/10)")}
    threshold = float(profile["relabel"].median()) if kept else math.nan
    moved = {m: int((p > threshold).sum()) for m, p in profile.items()}
    corr = (profile["reset (rest at lr/10)"].reset_index(drop=True)
            .corr(pd.Series(range(len(kept)), dtype=float), method="spearman")) if len(kept) > 1 else math.nan
    v3 = judge("P1.3", {"kept_layers": len(kept),
                        "extra_layers_moved": moved["reset (rest at lr/10)"] - moved["relabel"],
                        "depth_correlation": corr},
               f"{len(kept)} layers not re-initialised ({', '.join(kept)}); moved = change above relabel's "
               f"median {threshold:.4f}: reset {moved['reset (rest at lr/10)']}, relabel {moved['relabel']}; "
               "reset's change input -> output: " + _fmt(profile["reset (rest at lr/10)"], 4))

    first_stage = model.stages[0]
    early_cka = cka[(cka.versus == "original") & (cka.images == "retain images") & (cka.stage == first_stage)]
    lowest = early_cka.groupby("forget", sort=False).cka.min().reindex(sizes)
    share = n_classes / num_classes
    v4 = judge("P1.4", {"share_few": float(share.iloc[0]), "cka_few": float(lowest.iloc[0]),
                        "cka_contrast": float(lowest.iloc[0] - lowest.iloc[-1])},
               f"lowest {first_stage} CKA to the original (retain images) by share of classes removed: "
               + ", ".join(f"{s:.0%}: {c:.3f}" for s, c in zip(share, lowest, strict=True)))
    return [v1, v2, v3, v4]


# --------------------------------------------------------------------------- P2


def validation_classes(names: Sequence[str], *, seed: int) -> list[str]:
    """Half of the classes (rounded down, seeded): those on which N is chosen; the claim
    is judged on the others."""
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed)).tolist()
    return [names[i] for i in sorted(order[:len(names) // 2])]


def choose_n(trade: pd.DataFrame, validation: Sequence[str], *, forget_max: float = 0.05) -> float:
    """The paper's criterion on validation classes: among the shares N whose mean forget
    accuracy is at most ``forget_max``, the one with the highest mean accuracy on the
    other classes; where none forgets that well, the N that forgets most."""
    on = trade[trade.forget.isin(validation)].groupby("n_keep")[["acc_forget", "acc_test_retain"]].mean()
    good = on[on.acc_forget <= forget_max]
    return float(good.acc_test_retain.idxmax() if len(good) else on.acc_forget.idxmin())


def lrp_path_perturbation(every: pd.DataFrame, trade: pd.DataFrame, validation: Sequence[str],
                          accessed: set[str], declared: set[str]) -> list[Verdict]:
    """P2's claims (Chang et al. 2024) from notebook 02's tables: ``every`` (every method
    on every class), ``trade`` (the N sweep on every class); N is chosen on the
    ``validation`` classes and judged on the others."""
    by = every.set_index(["forget", "method"])
    retrain = every[every.method == "retrain"].set_index("forget")
    original = every[every.method == "original"].set_index("forget")
    held_out = [c for c in dict.fromkeys(every.forget) if c not in set(validation)]
    n = choose_n(trade, validation)
    at_n = trade[(trade.n_keep == n) & trade.forget.isin(held_out)].set_index("forget")
    gap_f = (at_n.acc_forget - retrain.acc_forget.reindex(at_n.index)).mean()
    gap_o = (at_n.acc_test_retain - retrain.acc_test_retain.reindex(at_n.index)).mean()
    v1 = judge("P2.1", {"held_out_classes": len(at_n), "original_forget": original.acc_forget[held_out].min(),
                        "forget_gap": abs(gap_f), "other_gap": gap_o},
               f"N = {n:.1%} of the units, chosen on classes {', '.join(validation)}; on the other "
               f"{len(at_n)}: forget-class accuracy {at_n.acc_forget.mean():.3f} (retrain "
               f"{retrain.acc_forget[held_out].mean():.3f}), other-class test accuracy "
               f"{at_n.acc_test_retain.mean():.3f} (retrain {retrain.acc_test_retain[held_out].mean():.3f})")
    zero = every[every.method == "lrp_path"].set_index("forget")
    ref_f = (zero.acc_forget - retrain.acc_forget).mean()
    ref_o = (zero.acc_test_retain - retrain.acc_test_retain).mean()
    v1r = judge("P2.1r", {"original_forget": original.acc_forget.min(), "forget_gap": abs(ref_f),
                          "other_gap": ref_o},
                f"every class: forget-class accuracy {zero.acc_forget.mean():.3f} ± {zero.acc_forget.std():.3f} "
                f"(retrain {retrain.acc_forget.mean():.3f}), other-class test accuracy "
                f"{zero.acc_test_retain.mean():.3f} (gap {ref_o:+.3f})")
    v2 = judge("P2.2", {"speedup": zero.speedup.mean()},
               f"{zero.time_s.mean():.2f} s vs retrain {retrain.time_s.mean():.1f} s")
    training = {a for a in accessed if a != "unseen_forget"} | {a for a in declared if a != "unseen_forget"}
    v3 = judge("P2.3", {"training_reads": len(training)},
               f"declared needs {sorted(declared)}; accessed {sorted(accessed)}")

    def mean_of(method: str) -> float:
        return by.xs(method, level="method").acc_test_retain.mean()

    kept = zero.acc_test_retain.mean()
    paper = max(mean_of("gaussian noise"), mean_of("laplace noise")) - kept
    std = max(mean_of("gaussian noise (tensor std)"), mean_of("laplace noise (tensor std)")) - kept
    v4 = judge("P2.4", {"noise_paper": paper, "noise_std": std},
               f"other-class test accuracy: zeroing {kept:.3f}; scale 1.0: gaussian "
               f"{mean_of('gaussian noise'):.3f}, laplace {mean_of('laplace noise'):.3f}; tensor std: "
               f"gaussian {mean_of('gaussian noise (tensor std)'):.3f}, laplace "
               f"{mean_of('laplace noise (tensor std)'):.3f}")
    outgoing = every[every.method == "lrp_path outgoing only"].set_index("forget")
    v5 = judge("P2.5", {"kept_gain": outgoing.acc_test_retain.mean() - kept,
                        "forget_loss": outgoing.acc_forget.mean() - zero.acc_forget.mean()},
               f"other-class test accuracy {outgoing.acc_test_retain.mean():.3f} vs {kept:.3f}; forget "
               f"accuracy {outgoing.acc_forget.mean():.3f} vs {zero.acc_forget.mean():.3f}")
    multi = every[every.method == "lrp_path multi-layer"].set_index("forget")
    v6 = judge("P2.6", {"room": zero.acc_forget.mean(), "forget_gain": multi.acc_forget.mean() - zero.acc_forget.mean(),
                        "kept_loss": multi.acc_test_retain.mean() - kept},
               f"forget accuracy {multi.acc_forget.mean():.3f} vs {zero.acc_forget.mean():.3f}; other-class "
               f"test accuracy {multi.acc_test_retain.mean():.3f} vs {kept:.3f}")
    return [v1, v1r, v2, v3, v4, v5, v6]


# --------------------------------------------------------------------------- P3


def instance_wise(table: pd.DataFrame, continual: pd.DataFrame, *, full: str = "l2ul (full)",
                  claim: str = "P3.1") -> list[Verdict]:
    """P3's claims (Cha et al. 2024) from notebook 03's k sweep and continual table;
    ``full`` names the row judged for the first claim (``claim`` P3.1, or P3.1t for the
    tuned row)."""
    rows = table[table.method == full].set_index("k")
    neg = table[table.method == "neggrad"].set_index("k")
    ret = table[table.method == "retrain"].set_index("k")
    orig = table[table.method == "original"].set_index("k")
    gap = orig.acc_forget - ret.acc_forget
    drop = orig.acc_test - rows.acc_test
    context = ("memorisation gap on D_f (original - retrain) by k: "
               + ", ".join(f"{k}: {g:+.3f}" for k, g in gap.items()))
    v1 = judge(claim, {"original_df": orig.acc_forget.min(), "df_accuracy": rows.acc_forget.max(),
                       "capped": int((~rows.goal_met.astype(bool)).sum()), "test_drop": drop.max()},
               "by k: D_f accuracy " + ", ".join(f"{k}: {a:.3f}" for k, a in rows.acc_forget.items())
               + "; test accuracy " + ", ".join(f"{k}: {a:.3f}" for k, a in rows.acc_test.items())
               + f" (original {orig.acc_test.iloc[0]:.3f}); steps "
               + ", ".join(f"{k}: {int(s)} of {int(c)}" for k, s, c in zip(rows.index, rows.steps, rows.step_cap, strict=True))
               + f"; {context}")
    if claim != "P3.1":
        return [v1]
    pairs, shown = [], []
    for k in rows.index:
        for point in ("half", "quarter"):
            column = f"{point}_acc_test"
            a = rows[column][k] if column in rows else math.nan
            b = neg[column][k] if column in neg else math.nan
            if not (math.isnan(a) or math.isnan(b)):
                pairs.append(a - b)
            shown.append(f"k={k} {point}: " + ("not reached by " + " and ".join(
                n for n, v in (("full", a), ("NegGrad", b)) if math.isnan(v)) if math.isnan(a) or math.isnan(b)
                else f"{a:.3f} vs {b:.3f}"))
    v2 = judge("P3.2", {"compared": len(pairs), "test_gain": sum(pairs) / len(pairs) if pairs else math.nan},
               "test accuracy where D_f accuracy first fell to half / a quarter of the original's, full vs "
               "NegGrad: " + "; ".join(shown))
    last = continual.groupby("method").last().loc[full]
    first = continual[continual.request == 0].iloc[0]
    requests = int(continual.request.max())
    v3 = judge("P3.3", {"test_drop": first.acc_test - last.acc_test, "df_accuracy": last.acc_forget},
               f"after {requests} requests: test accuracy {last.acc_test:.3f} (original {first.acc_test:.3f}), "
               f"D_f accuracy {last.acc_forget:.3f}")
    return [v1, v2, v3]


# --------------------------------------------------------------------------- P4


def unsir(single: pd.DataFrame, multi: pd.DataFrame, ablation: pd.DataFrame, *, retrain_steps: int,
          subset_share: float, method: str = "unsir", claim: str = "P4.1") -> list[Verdict]:
    """P4's claims (Tarun et al. 2023) from notebook 04's single-class sweep, its
    multi-class sweep and the noise ablation over impair rates (``ablation``: columns
    ``impair_lr``, ``noise``, ``acc_forget`` after impair, ``original_acc_forget``).
    ``method`` names the row judged for the first claim (P4.1, or P4.1t for the tuned row)."""
    s = single.groupby("method", sort=False)[["acc_forget", "acc_retain", "acc_test_retain", "steps"]].mean()
    ret, row = s.loc["retrain"], s.loc[method]
    v1 = judge(claim, {"retrain_fit": ret.acc_retain, "subset_share": subset_share,
                       "step_ratio": row.steps / retrain_steps,
                       "forget_gap": abs(row.acc_forget - ret.acc_forget),
                       "other_gap": row.acc_test_retain - ret.acc_test_retain},
               f"{row.steps:.0f} steps vs retrain {retrain_steps}; retrain fits D_r to {ret.acc_retain:.3f}; "
               f"retain subset {subset_share:.0%} of D_r; forget accuracy {row.acc_forget:.3f} (retrain "
               f"{ret.acc_forget:.3f}), other-class test accuracy {row.acc_test_retain:.3f} (retrain "
               f"{ret.acc_test_retain:.3f})")
    if claim != "P4.1":
        return [v1]
    u = multi[multi.method == "unsir"].set_index("n_forget_classes").sort_index()
    r = multi[multi.method == "retrain"].set_index("n_forget_classes").sort_index()
    most = u.index.max()
    v2 = judge("P4.2", {"step_growth": u.steps[most] / u.steps[u.index.min()],
                        "forget_gap": u.acc_forget[most] - r.acc_forget[most]},
               "steps by classes forgotten: " + ", ".join(f"{k}: {int(v)}" for k, v in u.steps.items())
               + "; D_f accuracy: " + ", ".join(f"{k}: {v:.3f}" for k, v in u.acc_forget.items()))
    rows = single[single.method == "unsir"]
    original = single[single.method == "original"].acc_test_retain.mean()
    impaired, repaired = rows.impair_acc_test_retain.mean(), rows.acc_test_retain.mean()
    v3 = judge("P4.3", {"impair_cost": original - impaired, "regained": repaired - impaired,
                        "other_gap": repaired - ret.acc_test_retain},
               f"other-class test accuracy: original {original:.3f}, after impair {impaired:.3f}, after "
               f"repair {repaired:.3f}, retrain {ret.acc_test_retain:.3f}")
    by_rate = ablation.pivot_table(index="impair_lr", columns="noise", values="acc_forget")
    ceiling = ablation.original_acc_forget.mean() - 0.02
    informative = by_rate[(by_rate.max(axis=1) > 0.02) & (by_rate.min(axis=1) < ceiling)]
    gain = (informative["without"] - informative["with"]).mean() if len(informative) else math.nan
    v4 = judge("P4.4", {"rates_informative": len(informative), "noise_gain": gain},
               "D_f accuracy after impair (with / without noise) by impair lr: " + "; ".join(
                   f"{lr:g}: {row['with']:.3f} / {row['without']:.3f}" for lr, row in by_rate.iterrows())
               + f"; informative rates: {', '.join(f'{lr:g}' for lr in informative.index) or 'none'}")
    return [v1, v2, v3, v4]


def instance_regime(table: pd.DataFrame, *, full: str = "l2ul (full)",
                    reference: str = "l2ul (reference loop)") -> list[str]:
    """What notebook 03's verdicts stand on, one line each: the memorisation gap on D_f
    by k with its standard error (at retrain's accuracy), the adversarial examples'
    hit rate and step caps, and the reference's training loop against ours."""
    orig = table[table.method == "original"].set_index("k")
    ret = table[table.method == "retrain"].set_index("k")
    gap = orig.acc_forget - ret.acc_forget  # what only training on D_f explains
    se = (ret.acc_forget * (1 - ret.acc_forget) / ret.index.to_series()).clip(lower=0) ** 0.5
    lines = [f"Regime: the original's train accuracy (D_r) {orig.acc_retain.iloc[0]:.3f}, test accuracy "
             f"{orig.acc_test.iloc[0]:.3f}; memorisation gap on D_f by k: "
             + ", ".join(f"{k}: {g:+.3f} (standard error {s:.3f})" for k, g, s in zip(gap.index, gap, se,
                                                                                     strict=True))]
    arm = table[table.method == full].set_index("k")
    lines.append(f"Attack: {arm.adv_hit_rate.mean():.1%} of the adversarial examples hit their targets; "
                 f"step caps by k: {', '.join(f'{k}: {int(c)}' for k, c in arm.step_cap.items())}")
    ref = table[table.method == reference].set_index("k")
    if len(ref):
        lines.append("The reference's loop on the same model (BatchNorm in train mode, sequential batches, MAS "
                     "on batch means) vs ours, by k: " + "; ".join(
                         f"k={k}: D_f {ref.acc_forget[k]:.3f} vs {arm.acc_forget[k]:.3f}, test "
                         f"{ref.acc_test[k]:.3f} vs {arm.acc_test[k]:.3f}, steps {int(ref.steps[k])} vs "
                         f"{int(arm.steps[k])}" for k in arm.index))
    return lines


def retain_subset_share(labels: torch.Tensor, per_class: int) -> float:
    """The share of D_r in UNSIR's retain subset of ``per_class`` images per class
    (``labels``: D_r's labels)."""
    counts = labels.bincount()
    return float(counts.clamp(max=per_class).sum() / counts.sum())
