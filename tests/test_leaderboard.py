"""The leaderboard: Avg. Gap, collapse flags, ranking and the Pareto front on known
tables, and one small real run in which a user-registered method gets its row."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from unlearnlab import experiment, methods, metrics, plots


def _row(method, seed, *, forget, retain=0.9, test=0.8, time_s=1.0, nonfinite=0.0, scenario="one class"):
    return {"method": method, "seed": seed, "scenario": scenario, "acc_forget": forget,
            "acc_retain": retain, "acc_test": test, "acc_test_retain": test,
            "mia_entropy_lr_member": 0.5, "mia_svc_nonmember": 0.5, "mia_loss_lr_acc": 0.5,
            "time_s": time_s, "nonfinite_outputs": nonfinite}


def _board(rows):
    tables = []
    for _, group in pd.DataFrame(rows).groupby(["seed", "scenario"], sort=False):
        table = metrics.add_avg_gap(metrics.add_gap_to_retrain(group.reset_index(drop=True)))
        tables.append(table.assign(collapsed=metrics.collapsed(table, num_classes=10)))
    return pd.concat(tables, ignore_index=True)


def test_avg_gap_is_the_mean_absolute_gap_over_its_columns():
    board = _board([_row("retrain", 0, forget=0.0, time_s=10), _row("a", 0, forget=0.6, retain=0.6)])
    a = board[board.method == "a"].iloc[0]
    # |0.6 - 0| and |0.6 - 0.9| over six columns (test and the three attacks match)
    assert a.avg_gap == pytest.approx((0.6 + 0.3) / 6)
    assert a.speedup == pytest.approx(10.0)


def test_collapse_is_flagged_and_never_ranked():
    rows = []
    for seed in (0, 1, 2):
        rows += [_row("retrain", seed, forget=0.0), _row("good", seed, forget=0.05),
                 _row("worse", seed, forget=0.3),
                 # forgets perfectly (gap 0 on D_f) but the model predicts one class
                 _row("broken", seed, forget=0.0, test=0.1 if seed == 1 else 0.8),
                 _row("nan", seed, forget=0.0, nonfinite=0.5 if seed == 2 else 0.0)]
    ranked = experiment.rank_methods(_board(rows))
    by = ranked.set_index("method")
    assert by.loc["good", "rank"] == 1 and by.loc["worse", "rank"] == 2
    assert math.isnan(by.loc["broken", "rank"]) and by.loc["broken", "flag"] == "COLLAPSED in 1/3 seeds"
    assert math.isnan(by.loc["nan", "rank"]) and by.loc["nan", "flag"] == "COLLAPSED in 1/3 seeds"
    assert list(ranked.method)[:1] == ["retrain"] and by.loc["retrain", "flag"] == ""
    assert by.loc["good", "seeds"] == 3
    lines = experiment.leaderboard_lines(ranked)
    assert lines[0].startswith("good: one class: #1/2")
    assert "Fails on: one class (collapsed in 1/3 seeds)" in next(x for x in lines if x.startswith("broken"))
    assert "D_f accuracy +0.300 above retrain's" in next(x for x in lines if x.startswith("worse"))


def test_pareto_front_keeps_the_non_dominated_points():
    points = pd.DataFrame({"t": [1, 2, 3, 4, 5], "g": [0.5, 0.6, 0.2, 0.3, 0.1]})
    front = plots.pareto_front(points, "t", "g")
    assert front.t.tolist() == [1, 3, 5]


def test_method_colours_follow_names_not_order():
    shown = ["unsir (reference bugs)", "finetune", "unsir", "unsir (no noise)"]
    palette = plots.method_palette(shown)
    assert palette == plots.method_palette(shown[::-1]), "the set decides, not the order"
    assert palette["unsir"] == plots.method_color("unsir (no noise)") == plots.method_color("unsir")
    assert len({palette[m] for m in shown}) == 4, "variants shown together get distinct shades"
    assert plots.method_palette(["a_new_method", "retrain"])["a_new_method"] == \
        plots.method_palette(["retrain", "salun", "a_new_method"])["a_new_method"]
    named = [plots.method_color(m) for m in methods.list_methods()]
    assert len(set(named)) == len(named), "every registered method has its own colour"


def test_tuned_rows_are_dashed_and_every_other_line_solid():
    dashes = plots.method_dashes(["l2ul (full)", "l2ul (tuned)", "retrain", "l2ul (tuned)"])
    assert dashes == {"l2ul (full)": "", "l2ul (tuned)": (4, 2), "retrain": ""}


def test_error_bars_of_accuracies_stay_within_zero_and_one():
    below, above = plots.clipped_error([0.05, 0.5, 0.98], [0.2, 0.1, 0.2])
    assert below.tolist() == pytest.approx([0.05, 0.1, 0.2])
    assert above.tolist() == pytest.approx([0.2, 0.1, 0.02])


def test_method_lines_keep_colours_by_name_dash_variants_and_dodge_equal_lines():
    table = pd.DataFrame({"method": ["unsir", "unsir", "unsir (no noise)", "unsir (no noise)"],
                          "x": [1, 2, 1, 2], "y": [0.0, 0.0, 0.0, 0.0]})
    fig, ax = plt.subplots()
    plots.method_lines(ax, table, "x", "y", dodge=0.2)
    base, variant = ax.get_lines()
    assert (base.get_color(), variant.get_color()) == tuple(plots.method_palette(["unsir", "unsir (no noise)"]).values())
    assert base.get_color() != variant.get_color()
    assert base.get_linestyle() != variant.get_linestyle()
    assert base.get_xdata().tolist() == pytest.approx([0.9, 1.9])
    assert variant.get_xdata().tolist() == pytest.approx([1.1, 2.1])
    plt.close(fig)


@pytest.fixture()
def user_method():
    """What a researcher writes to join the leaderboard."""
    @methods.register("_my_method", scenario="any", needs={"retain_data"})
    def my_method(model, request, *, epochs: int = 1):
        return methods.get_method("finetune").fn(model, request, epochs=epochs, lr=0.05)

    yield "_my_method"
    methods.base._METHODS.pop("_my_method")


def test_a_registered_method_gets_its_row_on_every_scenario(smoke, user_method):
    table = experiment.leaderboard(smoke, [0], methods=[user_method, "unsir"], k=16)
    assert set(table.scenario) == {"one class", "3 classes", "16 instances"}
    mine = table[table.method == user_method]
    assert len(mine) == 3 and mine.avg_gap.notna().all()
    # unsir is a class method: no row on the instance request
    assert set(table[table.method == "unsir"].scenario) == {"one class", "3 classes"}
    # the one class is inside the three classes, and retrain never saw D_f's classes
    ranked = experiment.rank_methods(table)
    assert set(ranked.method) == {"retrain", user_method, "unsir"}
    retrain = table[(table.method == "retrain") & (table.scenario != "16 instances")]
    assert (retrain.acc_forget == 0).all()


def test_tuned_settings_get_their_own_rows_and_arrows(smoke):
    calls = []

    @methods.register("_recorder")
    def recorder(model, request, *, epochs: int = 1):
        calls.append(epochs)
        return model

    try:
        table = experiment.leaderboard(
            smoke, [0], methods=["_recorder"], k=16,
            tuned={"one class": {"_recorder": {"epochs": 7}, "unsir": {"impair_lr": 0.01}}})
    finally:
        methods.base._METHODS.pop("_recorder")
    assert sorted(calls) == [1, 1, 1, 7]  # the defaults on every scenario, the tuned setting once
    tuned = table[table.method == "_recorder (tuned)"]
    assert list(tuned.scenario) == ["one class"] and tuned.avg_gap.notna().all()
    assert not table.method.str.startswith("unsir").any()  # tuned, but not on this board
    ranked = experiment.rank_methods(table)
    effect = experiment.tuning_effect(ranked)
    assert effect[["scenario", "method"]].values.tolist() == [["one class", "_recorder"]]
    one = ranked[ranked.scenario == "one class"].set_index("method").avg_gap_mean
    assert effect.change.iloc[0] == pytest.approx(one["_recorder (tuned)"] - one["_recorder"])
    fig = plots.leaderboard_cost(ranked)
    arrows = [a for ax in fig.axes for a in ax.texts if getattr(a, "arrow_patch", None) is not None]
    assert len(arrows) == 1  # one default -> tuned arrow, on the one-class panel
    assert any("tuned" in t.get_text() for t in fig.legends[0].get_texts())
    plt.close(fig)
