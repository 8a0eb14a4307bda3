"""Equal-budget tuning: search spaces, disjoint validation requests, the
objective, resumable seeded studies and the tuned-settings file."""

import json
import math

import pytest

from unlearnlab import config, data, experiment, methods, models, paths, tuning


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


def test_validation_requests_are_disjoint_from_the_reported_ones(smoke):
    _, dataset = smoke
    reported = experiment.leaderboard_scenarios(dataset, 0, n_classes=3, k=40)
    for split in reported.values():
        valid = tuning.validation_split(dataset, list(reported.values()), split, seed=0)
        assert valid.scenario == split.scenario and valid.num_forget > 0
        if split.scenario == "instance":
            assert valid.num_forget == split.num_forget
            assert not set(valid.forget_indices.tolist()) & set(split.forget_indices.tolist())
        else:
            assert len(valid.forget_classes) == len(split.forget_classes)
            used = {c for s in reported.values() for c in s.forget_classes}
            assert not set(valid.forget_classes) & used
    with pytest.raises(ValueError, match="disjoint"):
        tuning.disjoint_class_split(dataset, 3, list(range(8)), seed=0)


def test_objective_is_the_mean_absolute_gap_over_its_columns():
    reference = {"acc_forget": 0.0, "acc_retain": 0.9, "acc_test": 0.8, "mia_entropy_lr_member": 0.2}
    row = {"acc_forget": 0.4, "acc_retain": 0.7, "acc_test": 0.8, "mia_entropy_lr_member": 0.6}
    assert tuning.objective_value(row, reference) == pytest.approx((0.4 + 0.2 + 0.0 + 0.4) / 4)
    row["mia_entropy_lr_member"] = math.nan
    assert tuning.objective_value(row, reference) == pytest.approx(0.6 / 3)
    assert tuning.objective_value({k: math.nan for k in row}, reference) == 1.0


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
    preset, _ = smoke
    results = tuning.tune_preset(preset, n_trials=2, methods=["ssd"], scenarios=["one class"])
    assert list(results) == ["one class"] and list(results["one class"]) == ["ssd"]
    path = paths.tuned_path("smoke")
    assert path.parent == runs / "smoke"
    saved = json.loads(path.read_text())
    entry = saved["scenarios"]["one class"]["ssd"]
    assert entry["trials"] == 2 and entry["objective"] <= entry["default_objective"]
    _, dataset = smoke
    reported = experiment.leaderboard_scenarios(dataset, preset.seed)["one class"]
    assert entry["validation"] != reported.description  # another class than the reported one
    assert tuning.tuned_settings("smoke", "one class") == {"ssd": entry["params"]}
    assert tuning.tuned_settings("smoke", "3 classes") == {}
    assert "ssd: Avg. Gap" in capsys.readouterr().out
    shown = tuning.summary("smoke")
    assert shown[["scenario", "method", "trials"]].values.tolist() == [["one class", "ssd", 2]]
    assert shown.tuned_gap.iloc[0] == entry["objective"] and shown.tuned.iloc[0].startswith("alpha=")
    with pytest.raises(ValueError, match="Unknown scenario"):
        tuning.tune_preset(preset, n_trials=1, scenarios=["two classes"])
    # notebook 03's memorising original gets its own entries beside the leaderboard's
    tuning.tune_preset(preset, n_trials=1, methods=["neggrad"], scenarios=["128 instances"],
                       memorising=True)
    assert set(tuning.load_tuned("smoke")["scenarios"]) == {"one class", "128 instances (memorising)"}
    assert tuning.tuned_settings("smoke", "one class") == {"ssd": entry["params"]}


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
