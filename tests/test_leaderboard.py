"""The leaderboard: SalUn's Avg. Gap, reference rows and the "doing nothing" flag,
collapse flags, bootstrap ranks with ties, attack separation, the memorisation
precondition and the Pareto front on known tables, and small real runs in which a
user-registered method gets its rows."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from unlearnlab import leaderboard, methods, metrics, plots


def _row(method, request, *, forget, retain=0.9, test=0.8, test_forget=None, svc=0.5, entropy=0.5,
         time_s=1.0, nonfinite=0.0, scenario="one class", seed=0):
    return {"method": method, "seed": seed, "scenario": scenario, "request": f"r{request}",
            "n_forget": 100, "acc_forget": forget, "acc_retain": retain,
            "acc_test": test if test_forget is None else (test + test_forget) / 2,
            "acc_test_forget": test if test_forget is None else test_forget, "acc_test_retain": test,
            "mia_entropy_lr_member": entropy, "mia_svc_nonmember": svc, "mia_loss_lr_acc": 0.5,
            "time_s": time_s, "nonfinite_outputs": nonfinite}


def _board(rows):
    tables = []
    for _, group in pd.DataFrame(rows).groupby(["seed", "scenario", "request"], sort=False):
        table = metrics.add_avg_gap(metrics.add_gap_to_retrain(group.reset_index(drop=True)))
        tables.append(table.assign(collapsed=metrics.collapsed(table, num_classes=10)))
    return pd.concat(tables, ignore_index=True)


def test_avg_gap_is_salun_s_four_columns():
    board = _board([_row("retrain", 0, forget=0.0, svc=1.0, time_s=10),
                    _row("a", 0, forget=0.6, retain=0.6, test_forget=0.9, svc=0.2, entropy=0.9)])
    a = board[board.method == "a"].iloc[0]
    # |0.6 - 0|, |0.6 - 0.9|, retained-class test 0, MIA-Efficacy |0.2 - 1|: the forget class's
    # test images and the entropy attack are not in it
    assert a.avg_gap == pytest.approx((0.6 + 0.3 + 0.0 + 0.8) / 4)
    assert a.speedup == pytest.approx(10.0)


def _requests(n, **methods_forget):
    rows = []
    rng = np.random.default_rng(0)
    for r in range(n):
        rows += [_row("retrain", r, forget=0.0, svc=1.0), _row("original", r, forget=0.95, svc=0.0),
                 _row(leaderboard.OTHER, r, forget=0.01, svc=0.98)]
        for method, (forget, noise) in methods_forget.items():
            rows.append(_row(method, r, forget=float(np.clip(forget + noise * rng.normal(), 0, 1)),
                             svc=1.0 - forget / 0.95))
    return rows


def test_doing_nothing_is_flagged_and_reference_rows_are_not_ranked():
    rows = _requests(4, good=(0.05, 0.0), idle=(0.95, 0.0), almost_idle=(0.945, 0.0))
    rows += [_row("broken", r, forget=0.0, svc=1.0, test=0.1 if r == 1 else 0.8) for r in range(4)]
    ranked = leaderboard.rank_methods(_board(rows))
    by = ranked.set_index("method")
    assert list(ranked.method[:3]) == ["retrain", "original", leaderboard.OTHER]
    assert (by.loc[["retrain", "original", leaderboard.OTHER], "kind"] == "reference").all()
    assert by.loc[["retrain", "original", leaderboard.OTHER], "rank"].isna().all()
    floor = by.loc[leaderboard.OTHER, "avg_gap_mean"]
    assert by.floor.eq(floor).all() and floor == pytest.approx((0.01 + 0.02) / 4)
    assert by.loc["good", "flag"] == "" and by.loc["good", "rank"] == 1
    # the original's gap, and one within the floor of it, are "no better than doing nothing"
    assert by.loc["idle", "flag"] == by.loc["almost_idle", "flag"] == "no better than doing nothing"
    assert math.isnan(by.loc["broken", "rank"]) and by.loc["broken", "flag"] == "COLLAPSED in 1/4 requests"
    assert by.loc["good", "requests"] == 4
    lines = leaderboard.leaderboard_lines(ranked)
    assert lines[0].startswith("good: one class: #1")
    assert "no better than doing nothing" in next(x for x in lines if x.startswith("idle"))
    assert "collapsed in 1/4 requests" in next(x for x in lines if x.startswith("broken"))


def test_methods_the_bootstrap_cannot_order_share_a_rank():
    rows = _requests(8, best=(0.0, 0.0), a=(0.3, 0.15), b=(0.31, 0.15), worst=(0.8, 0.0))
    ranked = leaderboard.rank_methods(_board(rows)).set_index("method")
    assert ranked.loc["best", "rank"] == 1 and ranked.loc["worst", "rank"] == 4
    assert ranked.loc["a", "rank"] == ranked.loc["b", "rank"] == 2  # a tie, shown as one
    assert ranked.loc["a", "rank_low"] == 2 and ranked.loc["a", "rank_high"] == 3
    assert ranked.loc["best", ["rank_low", "rank_high"]].tolist() == [1, 1]
    assert leaderboard.rank_text(ranked.loc["a"]) == "2 (2-3)"
    # below three requests there is no interval, only the point ranks
    few = leaderboard.rank_methods(_board(_requests(2, x=(0.1, 0.0), y=(0.2, 0.0)))).set_index("method")
    assert few.loc["x", "rank"] == 1 and few.loc["y", "rank"] == 2 and math.isnan(few.loc["x", "rank_low"])


def test_an_attack_that_does_not_separate_original_from_retrain_is_greyed():
    rows = []
    for r in range(3):
        rows += [_row("retrain", r, forget=0.0, svc=1.0, entropy=0.5 + 0.01 * r),
                 _row("original", r, forget=1.0, svc=0.0 + 0.01 * r, entropy=0.52 - 0.01 * r)]
    found = leaderboard.attack_separation(_board(rows)).set_index("attack")
    assert bool(found.loc["mia_svc_nonmember", "separates"]) and found.loc["mia_svc_nonmember", "reason"] == ""
    assert not found.loc["mia_entropy_lr_member", "separates"]
    assert found.loc["mia_entropy_lr_member", "reason"].startswith("does not separate")
    one = leaderboard.attack_separation(_board(rows[:2])).set_index("attack")
    assert not one.separates.any() and (one.reason == "one request: cannot tell").all()


def test_the_instance_scenario_needs_a_memorisation_gap_of_five_standard_errors():
    scenario = leaderboard.instance_scenario()
    def board(retrain_forget):
        return _board([_row("retrain", 0, forget=retrain_forget, scenario=scenario),
                       _row("original", 0, forget=1.0, scenario=scenario)])
    # n = 100, retrain at 0.8: SE 0.04, gap 0.2 = 5 SE
    gaps = leaderboard.memorisation(board(0.8), scenario)
    assert gaps.se.iloc[0] == pytest.approx(0.04) and gaps.ses.iloc[0] == pytest.approx(5.0)
    assert leaderboard.testable(board(0.79), scenario)[0]
    ok, why = leaderboard.testable(board(0.9), scenario)  # gap 0.1 = 3.3 SE
    assert not ok and why.startswith("UNTESTABLE HERE") and "3.3 standard errors" in why
    assert leaderboard.testable(board(0.9), "one class") == (True, "")


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


def test_a_registered_method_gets_its_row_on_every_request(smoke, user_method):
    table = leaderboard.leaderboard(smoke, [0], methods=[user_method, "unsir"], classes=[0, 1])
    instances = leaderboard.instance_scenario()
    assert list(dict.fromkeys(table.scenario)) == ["one class", "3 classes", instances]
    assert table.groupby("scenario", sort=False).request.nunique().tolist() == [2, 1, 1]
    for _, request in table.groupby("request"):
        assert {"original", "retrain", leaderboard.OTHER, user_method} <= set(request.method)
    mine = table[table.method == user_method]
    assert len(mine) == 4 and mine.avg_gap.notna().all()
    # unsir is a class method: no row on the instance request
    assert instances not in set(table[table.method == "unsir"].scenario)
    classes = table[table.scenario != instances]
    retrain = classes[classes.method == "retrain"]
    assert (retrain.acc_forget == 0).all()  # retrain never saw D_f's classes
    # the probe and relearn time: on class requests, for every row; none on instances
    assert classes.probe_forget.between(0, 1).all() and (classes.relearn_steps >= 1).all()
    assert table[table.scenario == instances].probe_forget.isna().all()
    original = classes[classes.method == "original"]
    assert (original.relearn_steps == 1).all()  # the original is at its own accuracy already
    assert (retrain.relearn_steps.to_numpy() > 1).all()
    # the instance requests come from the memorising original, on even source images
    instance = leaderboard.instance_request(leaderboard.load_preset_data(smoke), 0.1, seed=0)
    assert table[table.scenario == instances].n_forget.iloc[0] == instance.num_forget
    ranked = leaderboard.rank_methods(table)
    assert set(ranked.method) == {"retrain", "original", leaderboard.OTHER, user_method, "unsir"}


def test_tuned_settings_get_their_own_rows_and_arrows(smoke):
    calls = []

    @methods.register("_recorder")
    def recorder(model, request, *, epochs: int = 1):
        calls.append(epochs)
        return model

    try:
        table = leaderboard.leaderboard(
            smoke, [0], methods=["_recorder"], classes=[0], extras=False,
            tuned={"one class": {"_recorder": {"epochs": 7}, "unsir": {"impair_lr": 0.01}}})
    finally:
        methods.base._METHODS.pop("_recorder")
    assert sorted(calls) == [1, 1, 1, 7]  # the defaults on every request, the tuned setting once
    tuned = table[table.method == "_recorder (tuned)"]
    assert list(tuned.scenario) == ["one class"] and tuned.avg_gap.notna().all()
    assert not table.method.str.startswith("unsir").any()  # tuned, but not on this board
    assert "probe_forget" not in table  # extras off
    ranked = leaderboard.rank_methods(table)
    # doing nothing: the recorder returns the original
    assert (ranked[ranked.method == "_recorder"].flag == "no better than doing nothing").all()
    effect = leaderboard.tuning_effect(ranked)
    assert effect[["scenario", "method"]].values.tolist() == [["one class", "_recorder"]]
    one = ranked[ranked.scenario == "one class"].set_index("method").avg_gap_mean
    assert effect.change.iloc[0] == pytest.approx(one["_recorder (tuned)"] - one["_recorder"])
    fig = plots.leaderboard_cost(ranked)
    arrows = [a for ax in fig.axes for a in ax.texts if getattr(a, "arrow_patch", None) is not None]
    assert len(arrows) == 1  # one default -> tuned arrow, on the one-class panel
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("tuned" in t for t in labels) and any("noise floor" in t for t in labels)
    plt.close(fig)


def test_an_inert_reference_default_is_said_not_hidden():
    rows = _requests(3, ssd=(0.95, 0.0))
    for row in rows:
        row["forget_share"] = 0.1
        if row["method"] == "ssd":
            row["params_dampened"] = 12.0
    (note,) = leaderboard.default_notes(leaderboard.rank_methods(_board(rows)))
    assert "ssd at the reference's alpha 10 dampened 12 weights" in note and "1/s = 10.0" in note
    for row in rows:
        row["forget_share"] = 0.01  # one class of a hundred: alpha 10 is below 1/s = 100
    assert leaderboard.default_notes(leaderboard.rank_methods(_board(rows))) == []
