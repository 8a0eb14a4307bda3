"""Equal-budget tuning: search spaces, disjoint validation requests, the
objective, resumable seeded studies and the tuned-settings file."""

import json
import math

import pytest

from unlearnlab import config, data, experiment, leaderboard, methods, models, paths, tuning


@pytest.fixture(scope="module")
def smoke():
    preset = config.get_preset("smoke")
    dataset = experiment.load_preset_data(preset)
    return preset, dataset


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNLAB_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def test_spaces_name_real_hyperparameters_and_hold_every_presets_defaults():
    for method, space in tuning.SPACES.items():
        defaults = methods.get_method(method).defaults
        assert set(space) <= set(defaults), method
        for name in config.PRESET_NAMES:
            fixed = config.get_preset(name).method_kwargs(method)
            preset = config.get_preset(name)
            model = models.create_model(preset.model, 10, 3 if "cifar" in preset.dataset else 1, 32)
            inside = tuning.default_setting(method, fixed, model)
            assert set(inside) == set(space), (method, name, inside)  # every default inside its range
    # lrp_path's shares default to None: the reference's shares of the model's family
    small = models.create_model("small_cnn", 10, 1, 28)
    assert tuning.default_setting("lrp_path", {}, small) == {"k": 50 / 512, "n_keep": 80 / 512}
    assert "retrain" not in tuning.SPACES
    # a preset's longer default widens the range instead of falling outside it
    paper = tuning.search_space("finetune", config.get_preset("paper").method_kwargs("finetune"))
    assert paper["epochs"].high == 10 and tuning.SPACES["finetune"]["epochs"].high == 5


def test_validation_requests_are_disjoint_from_every_reported_one(smoke):
    preset, dataset = smoke
    memorising = experiment.load_preset_data(config.memorising(preset))
    valid = tuning.validation_requests(dataset, memorising, n_classes=3)
    assert list(valid) == ["one class", "3 classes", "10 % instances (memorising)"]
    held = set(leaderboard.held_out_classes(dataset.num_classes, 3))
    assert set(valid["3 classes"].forget_classes) == held and set(valid["one class"].forget_classes) <= held
    # every reported request of every seed, first seed covering every reportable class
    for seed in (0, 1, 2, 7):
        for request in leaderboard.seed_requests(dataset, memorising, seed, every_class=True):
            assert not set(request.split.forget_classes) & held
            if request.memorising:  # other training images, whatever the subset
                reported = set(memorising.source_indices[request.split.forget_indices].tolist()) \
                    if memorising.source_indices is not None else set(request.split.forget_indices.tolist())
                instance = valid["10 % instances (memorising)"]
                validation = set(instance.forget_indices.tolist())
                assert not reported & validation
                assert instance.num_forget == request.split.num_forget
    with pytest.raises(ValueError, match="held out"):
        leaderboard.seed_requests(dataset, None, 0, every_class=True, classes=sorted(held))


def test_objective_is_the_avg_gap_and_p3s_own_goal_is_absolute():
    reference = {"acc_forget": 0.0, "acc_retain": 0.9, "acc_test_retain": 0.8, "mia_svc_nonmember": 1.0}
    row = {"acc_forget": 0.4, "acc_retain": 0.7, "acc_test_retain": 0.8, "mia_svc_nonmember": 0.6}
    assert tuning.OBJECTIVE_COLUMNS == leaderboard.metrics.AVG_GAP_COLUMNS  # what the ranking uses
    assert tuning.objective_value(row, reference) == pytest.approx((0.4 + 0.2 + 0.0 + 0.4) / 4)
    row["mia_svc_nonmember"] = math.nan
    assert tuning.objective_value(row, reference) == pytest.approx(0.6 / 3)
    assert tuning.objective_value({k: math.nan for k in row}, reference) == 1.0
    # P3, against the original's row: reach 0 % on D_f with test accuracy kept (within 0.05),
    # then the highest test accuracy; any that reached 0 beats any that did not, and a model
    # whose test accuracy fell further has broken: worse than both, however low its D_f
    original = {"acc_forget": 1.0, "acc_test": 0.85}
    reached = tuning.p3_objective({"acc_forget": 0.0, "acc_test": 0.81}, original)
    better = tuning.p3_objective({"acc_forget": 0.0, "acc_test": 0.84}, original)
    missed = tuning.p3_objective({"acc_forget": 0.01, "acc_test": 0.85}, original)
    broken = tuning.p3_objective({"acc_forget": 0.0, "acc_test": 0.10}, original)
    less_broken = tuning.p3_objective({"acc_forget": 0.9, "acc_test": 0.75}, original)
    diverged = tuning.p3_objective({"acc_forget": 0.0, "acc_test": math.nan}, original)
    assert better < reached < missed < less_broken < broken
    assert diverged > missed and broken == pytest.approx(2.75)


@pytest.fixture(scope="module")
def validation(smoke):
    """A class request of the smoke preset, its evaluation and retrain's row."""
    preset, dataset = smoke
    original = experiment.train_original(preset, dataset).model
    split = data.class_split(dataset, [5])
    request = experiment.make_request(preset, dataset, split)
    evaluation = experiment.make_evaluation(preset, dataset, split)
    reference = evaluation.evaluate(methods.run_method("retrain", original, request).model)
    return original, request, evaluation, reference


def _tune(validation, n_trials, **kwargs):
    original, request, evaluation, reference = validation
    return tuning.tune_method("neggrad", original, request, evaluation, reference,
                              n_trials=n_trials, fixed={"batch_size": 32}, key={"test": 1}, **kwargs)


def test_a_study_starts_from_the_default_and_never_ends_worse(runs, validation):
    study = _tune(validation, 4)
    assert len(study.trials) == 4 and list(study.trials.trial) == [0, 1, 2, 3]
    first = study.trials.iloc[0]
    assert first.kind == "default"
    defaults = methods.get_method("neggrad").defaults
    assert (first.lr, first.epochs) == (defaults["lr"], defaults["epochs"])
    assert study.default_objective == pytest.approx(first.objective)
    assert study.objective == pytest.approx(study.trials.objective.min())
    assert study.objective <= study.default_objective
    assert study.params["batch_size"] == 32 and set(study.params) == {"batch_size", "lr", "epochs"}
    space = tuning.SPACES["neggrad"]
    assert all(space["lr"].contains(v) for v in study.trials.lr)
    assert len(set(study.trials.lr)) == 4  # every trial draws its own setting
    assert (study.trials.seconds > 0).all()


def test_a_study_resumes_and_draws_what_an_uninterrupted_one_draws(runs, validation, monkeypatch, tmp_path):
    straight = _tune(validation, 4).trials
    monkeypatch.setenv("UNLEARNLAB_RUNS", str(tmp_path / "other"))
    calls = []
    real = tuning.run_method

    def failing_third(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the run is stopped during its third trial
        return real(*args, **kwargs)

    monkeypatch.setattr(tuning, "run_method", failing_third)
    with pytest.raises(KeyboardInterrupt):
        _tune(validation, 4)
    assert len(calls) == 3
    resumed = _tune(validation, 4).trials
    assert len(calls) == 5  # only the two missing trials ran again
    columns = ["kind", "lr", "epochs", "objective"]
    assert resumed[columns].reset_index(drop=True).equals(straight[columns].reset_index(drop=True))
    more = _tune(validation, 6)
    assert len(calls) == 7 and len(more.trials) == 6  # asking for more adds, never repeats


def test_tune_preset_writes_the_tuned_file_that_notebooks_read(runs, smoke, capsys):
    preset, dataset = smoke
    results = tuning.tune_preset(preset, n_trials=2, methods=["ssd", "relabel"], scenarios=["one class"])
    assert list(results) == ["one class"] and list(results["one class"]) == ["ssd", "relabel"]
    path = paths.tuned_path("smoke")
    assert path.parent == runs / "smoke"
    saved = json.loads(path.read_text())
    assert saved["validation_seed"] == leaderboard.VALIDATION_SEED not in preset.seeds
    for method in ("ssd", "relabel"):
        entry = saved["scenarios"]["one class"][method]
        assert entry["trials"] == 2 and entry["objective"] <= entry["default_objective"]
        assert entry["floor"] >= 0
        assert entry["beats_floor"] == (entry["default_objective"] - entry["objective"] > entry["floor"])
        held = leaderboard.held_out_classes(dataset.num_classes, 3)
        assert entry["validation"] == data.class_split(dataset, [held[0]]).description
    kept = {m for m, e in saved["scenarios"]["one class"].items() if e["beats_floor"]}
    assert set(tuning.tuned_settings("smoke", "one class")) == kept
    assert set(tuning.tuned_settings("smoke", "one class", kept_only=False)) == {"ssd", "relabel"}
    assert tuning.tuned_settings("smoke", "3 classes") == {}
    assert "one class / ssd:" in capsys.readouterr().out
    shown = tuning.summary("smoke")
    assert sorted(shown.method) == ["relabel", "ssd"] and (shown.trials == 2).all()
    assert shown.space.str.len().gt(0).all()
    with pytest.raises(ValueError, match="Unknown scenario"):
        tuning.tune_preset(preset, n_trials=1, scenarios=["two classes"])
    assert results["one class"]["relabel"].trials.kind.tolist() == ["default", "search"]
    tuning.tune_preset(preset, n_trials=1, methods=["relabel"], scenarios=["3 classes"])
    # notebook 03's l2ul, with P3's objective, has its own entry
    tuning.tune_p3(preset, n_trials=1)
    assert set(tuning.load_tuned("smoke")["scenarios"]) == {"one class", "3 classes", tuning.P3_SCENARIO}
    assert tuning.load_tuned("smoke")["scenarios"][tuning.P3_SCENARIO]["l2ul"]["floor"] == 0.0


def test_studies_of_one_method_on_two_scenarios_draw_different_points(runs, validation):
    first = _tune(validation, 3, scenario="one class").trials
    second = _tune(validation, 3, scenario="3 classes").trials
    assert first.lr.iloc[0] == second.lr.iloc[0]  # both start at the default
    assert first.lr.iloc[1:].tolist() != second.lr.iloc[1:].tolist()


def test_cli_refuses_bad_arguments_in_one_line(runs, capsys):
    for argv, message in ((["--preset", "smoke", "--trials", "0"], "at least 1"),
                          (["--preset", "smoke", "--method", "retrain"], "no search space")):
        with pytest.raises(SystemExit) as exit_:
            tuning.main(argv)
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert tuning.main(["--preset", "smoke", "--trials", "1", "--scenario", "nope"]) == 2
    assert "Unknown scenario" in capsys.readouterr().err


def test_ranges_refuse_empty_intervals():
    with pytest.raises(ValueError):
        tuning.Range(1.0, 1.0)
    with pytest.raises(ValueError):
        tuning.Range(0.0, 1.0, log=True)
    assert tuning.Range(1, 3, integer=True).contains(2) and not tuning.Range(1, 3).contains(True)
    assert tuning.Range(1e-3, 1e-1, log=True).describe() == "0.001..0.1 (log)"
