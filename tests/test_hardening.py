"""Wrong or careless requests are refused up front with a message that names the
problem; the cache never serves the wrong entry; nothing finished is lost."""

from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from unlearnlab import cache, config, data, execute, experiment, methods, metrics, models, run
from unlearnlab.methods.lrp import LRPIncompatibleModel, check_lrp_compatible
from unlearnlab.training import TrainConfig

# -- 1. forget sets --------------------------------------------------------------------


def test_classes_by_name_map_through_the_class_names(digits):
    fashion = data.Dataset("fashion_mnist", digits.x_train, digits.y_train, digits.x_test,
                           digits.y_test, data.FASHION_MNIST_CLASSES, (0.5,), (0.5,))
    assert data.class_split(fashion, "Coat").forget_classes == (4,)
    assert data.class_split(fashion, ["T-shirt/top", 8]).forget_classes == (0, 8)
    with pytest.raises(ValueError, match="No class named 'Jacket'.*Coat"):
        data.class_split(fashion, "Jacket")


def test_a_string_is_never_taken_character_by_character(digits):
    with pytest.raises(ValueError, match="'12' is a string: pass the id 12 as an int"):
        data.class_split(digits, "12")


@pytest.mark.parametrize("bad", [1.0, 2.5, True, np.float32(3)])
def test_class_ids_must_be_integral(digits, bad):
    with pytest.raises(TypeError, match="class id must be an int"):
        data.class_split(digits, [bad])


def test_numpy_integers_are_class_ids(digits):
    assert data.class_split(digits, np.int64(3)).forget_classes == (3,)
    assert data.class_split(digits, np.array([1, 2])).forget_classes == (1, 2)


def test_explicit_indices_builder(digits):
    split = data.indices_split(digits, [5, 0, np.int64(7)])
    assert split.forget_indices.tolist() == [0, 5, 7] and split.scenario == "instance"
    assert split.num_train == len(digits.y_train)
    n = len(digits.y_train)
    for bad, match in [([n], "out of range"), ([-1], "out of range"), ([3, 3], "Duplicate"),
                       ([], "empty"), (list(range(n)), "nothing would be left"),
                       ([1.5], "ints"), ("12", "string")]:
        with pytest.raises((ValueError, TypeError), match=match):
            data.indices_split(digits, bad)


def test_forget_split_validates_what_it_holds():
    def make(forget, retain):
        return data.ForgetSplit("instance", (), torch.tensor(forget), torch.tensor(retain), "x")

    assert make([0], [1, 2]).num_train == 3
    for forget, retain, match in [([0, 1], [1, 2], "overlap"), ([0], [2, 3], "cover"),
                                  ([0, 0], [1], "duplicates"), ([], [0, 1], "D_f is empty"),
                                  ([0, 1], [], "D_r is empty"), ([-1], [0], "Negative")]:
        with pytest.raises(ValueError, match=match):
            make(forget, retain)
    with pytest.raises(TypeError, match="integer tensor"):
        data.ForgetSplit("instance", (), torch.tensor([0.0]), torch.tensor([1]), "x")


def test_a_split_of_another_dataset_is_refused(smoke, digits):
    small = data.Dataset("digits", digits.x_train[:100], digits.y_train[:100], digits.x_test,
                         digits.y_test, digits.classes, digits.mean, digits.std)
    with pytest.raises(ValueError, match="built for another dataset"):
        experiment.make_request(smoke, digits, data.instance_split(small, 5, seed=0))


# -- 2. numbers that make no sense -----------------------------------------------------


@pytest.mark.parametrize("field, value, message", [
    ("lr", math.nan, "lr must be a finite number > 0, got nan"),
    ("lr", math.inf, "lr must be a finite number > 0, got inf"),
    ("lr", 0.0, "lr must be a finite number > 0, got 0.0"),
    ("epochs", -1, "epochs must be an int >= 0, got -1"),
    ("epochs", 2.5, "epochs must be an int, got 2.5"),
    ("batch_size", 0, "batch_size must be an int >= 1, got 0"),
    ("momentum", 1.0, "momentum must be a finite number >= 0 and < 1, got 1.0"),
])
def test_training_numbers_are_checked_by_name(field, value, message):
    with pytest.raises((ValueError, TypeError)) as err:
        TrainConfig(**{field: value})
    assert str(err.value) == message


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": 0.0}, "finetune: lr must be a finite number > 0, got 0.0"),
    ({"lr": math.nan}, "finetune: lr must be a finite number > 0, got nan"),
    ({"epochs": "2"}, "finetune: epochs must be an int, got '2'"),
    ({"epochs": 0}, "finetune: epochs must be an int >= 1, got 0"),
    ({"batch_size": 0}, "finetune: batch_size must be an int >= 1, got 0"),
])
def test_method_hyperparameters_are_checked_where_they_enter(original, smoke, digits, class_split,
                                                             kwargs, message):
    request = experiment.make_request(smoke, digits, class_split)
    with pytest.raises((ValueError, TypeError)) as err:
        methods.run_method("finetune", original.model, request, **kwargs)
    assert str(err.value) == message


def test_preset_overrides_are_type_checked():
    with pytest.raises(TypeError, match="epochs must be an int, got '2'"):
        config.get_preset("cpu", epochs="2")
    with pytest.raises(ValueError, match="Unknown model 'resnet19'"):
        config.get_preset("cpu", model="resnet19")
    with pytest.raises(TypeError, match="seed must be an int, got 1.5"):
        config.get_preset("cpu", seed=1.5)


# -- 3. model and request that do not fit -----------------------------------------------


def test_a_model_with_the_wrong_number_of_outputs_is_refused(smoke, digits, class_split):
    request = experiment.make_request(smoke, digits, class_split)
    wrong = models.create_model("tiny_cnn", 7, 1, 8)
    with pytest.raises(ValueError, match=r"expected \(2, 10\)"):
        methods.run_method("finetune", wrong, request)
    too_big = models.create_model("small_cnn", 10, 3, 32)
    with pytest.raises(ValueError, match="cannot take the request's inputs of shape"):
        methods.run_method("finetune", too_big, request)


@pytest.fixture()
def misbehaving_methods():
    @methods.register("_test_grows", scenario="any")
    def grows(model, request):
        model.fc = nn.Linear(model.fc.in_features, 11)
        return model

    @methods.register("_test_diverges", scenario="any")
    def diverges(model, request):
        with torch.no_grad():
            next(model.parameters()).fill_(math.nan)
        return model

    yield
    methods.base._METHODS.pop("_test_grows")
    methods.base._METHODS.pop("_test_diverges")


def test_a_changed_architecture_is_an_error_and_divergence_is_loud(misbehaving_methods, original, smoke,
                                                                   digits, class_split):
    request = experiment.make_request(smoke, digits, class_split)
    with pytest.raises(ValueError, match="_test_grows changed the architecture"):
        methods.run_method("_test_grows", original.model, request)
    evaluation = experiment.make_evaluation(smoke, digits, class_split)
    with pytest.warns(UserWarning, match="_test_diverges DIVERGED"):
        result = methods.run_method("_test_diverges", original.model, request, evaluation)
    assert result.record["nonfinite_weights"] > 0 and result.record["nonfinite_outputs"] == 1.0
    table = experiment.compare_methods(original.model, request, evaluation,
                                       {"_test_diverges": ("_test_diverges", {})})[0]
    assert metrics.collapsed(table, 10).tolist() == [False, False, True]
    assert "DIVERGED" in experiment.baseline_verdict(table)


# -- 4. the cache -------------------------------------------------------------------------


def test_an_entry_is_served_only_for_its_own_config(runs_dir):
    first = cache.cached("hard-a", {"lr": 0.1}, lambda: {"v": torch.tensor(1.0)})
    blob, sidecar = cache.cache_paths("hard-a", {"lr": 0.1})
    meta = json.loads(sidecar.read_text())
    meta["config"] = {"lr": 0.2}  # an entry whose sidecar says it was made for another config
    sidecar.write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="another config"):
        again = cache.cached("hard-a", {"lr": 0.1}, lambda: {"v": torch.tensor(2.0)})
    assert float(first["v"]) == 1.0 and float(again["v"]) == 2.0


def test_keys_follow_the_model_structure_and_the_cache_format(monkeypatch):
    a = models.create_model("tiny_cnn", 10, 1, 8)
    b = models.create_model("tiny_cnn", 10, 1, 8, seed=5)
    assert models.structure_fingerprint(a) == models.structure_fingerprint(b), "weights do not matter"
    b.fc = nn.Linear(b.fc.in_features, 10, bias=False)
    assert models.structure_fingerprint(a) != models.structure_fingerprint(b)
    key = cache.config_key({"x": 1})
    monkeypatch.setattr(cache, "CACHE_FORMAT", cache.CACHE_FORMAT + 1)
    assert cache.config_key({"x": 1}) != key


def test_leftover_temporary_files_are_cleaned_up(runs_dir):
    blob, _ = cache.cache_paths("hard-b", {"k": 1})
    blob.parent.mkdir(parents=True, exist_ok=True)
    leftover = blob.with_name(f".{blob.name}.99999.tmp")
    leftover.write_bytes(b"half a checkpoint")
    cache.cached("hard-b", {"k": 1}, lambda: {"v": 1})
    assert not leftover.exists() and blob.exists()


def test_an_unwritable_cache_still_returns_the_result(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache folder cannot be made under a file, even by root")
    monkeypatch.setenv("UNLEARNLAB_RUNS", str(blocker))
    with pytest.warns(UserWarning, match="Could not write the cache entry"):
        assert cache.cached("hard-c", {"k": 1}, lambda: {"v": 3})["v"] == 3


def test_a_failing_write_keeps_nothing_half_written(runs_dir, monkeypatch):
    def full_disk(obj, path):
        open(path, "wb").write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.warns(UserWarning, match="No space left"):
        assert cache.cached("hard-d", {"k": 1}, lambda: {"v": 4})["v"] == 4
    blob, _ = cache.cache_paths("hard-d", {"k": 1})
    assert not list(blob.parent.glob(f".{blob.stem}.*.tmp")) and not blob.exists()


# -- 5. models LRP cannot explain ------------------------------------------------------------


class _FlattenNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(self.flat(torch.relu(self.conv(x))))


class _TwiceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        x = self.conv(self.conv(x.repeat(1, 4, 1, 1)))
        return self.fc(x.mean(dim=(2, 3)))


def test_lrp_refuses_modules_it_cannot_pass_through():
    x = torch.zeros(2, 1, 8, 8)
    with pytest.raises(LRPIncompatibleModel, match=r"flat \(Flatten\): no LRP rule; call torch.flatten"):
        check_lrp_compatible(_FlattenNet(), x)
    with pytest.raises(LRPIncompatibleModel, match=r"conv \(Conv2d\): called 2 times"):
        check_lrp_compatible(_TwiceNet(), x)
    for name in models.list_models():
        model = models.create_model(name, 10, 1, 32).eval()
        check_lrp_compatible(model, torch.zeros(1, 1, 32, 32))  # every registered model passes


def test_lrp_path_refuses_before_captum_runs(smoke, digits, class_split):
    request = experiment.make_request(smoke, digits, class_split)
    with pytest.raises(LRPIncompatibleModel, match="Supported modules"):
        methods.run_method("lrp_path", _FlattenNet(), request)


# -- 6. notebook parameters, 7. the runner ------------------------------------------------


@pytest.mark.parametrize("notebook", execute.list_notebooks(), ids=lambda p: p.stem)
def test_every_parameter_line_parses(notebook, caplog):
    first = next(c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code")
    assigned = [line.split(":")[0].split("=")[0].strip() for line in "".join(first["source"]).splitlines()
                if line.strip() and not line.startswith("#")]
    with caplog.at_level("WARNING"):
        parsed = execute.notebook_parameters(notebook)
    assert "Unable to parse" not in caplog.text
    assert list(parsed) == assigned
    # no annotated assignments: older papermill versions cannot parse them; types go in "# type:"
    assert not [line for line in "".join(first["source"]).splitlines()
                if re.match(r"^[A-Za-z_]\w*\s*:\s*[^=]+=", line)]
    assert all(t != "None" for t in parsed.values()), f"every parameter has a type: {parsed}"


def test_the_runner_refuses_unknown_or_mistyped_parameters(capsys):
    assert run.main(["00", "--preset", "smoke", "-p", "EPOCH=3"]) == 2
    assert "has no parameter 'EPOCH'" in capsys.readouterr().err
    assert run.main(["00", "--preset", "smoke", "-p", "EPOCHS=two"]) == 2
    assert "parameter EPOCHS must be Optional[int], got str 'two'" in capsys.readouterr().err
    assert run.main(["77", "--preset", "smoke"]) == 2
    assert "No single notebook matches '77'" in capsys.readouterr().err


def test_parameters_parse_as_literals():
    assert run.parse_parameter("K=64") == ("K", 64)
    assert run.parse_parameter("CLASSES=[1, 2]") == ("CLASSES", [1, 2])
    assert run.parse_parameter("MODE=fast") == ("MODE", "fast")
    with pytest.raises(run.ParameterError, match="NAME=VALUE"):
        run.parse_parameter("K")


def test_the_runner_checks_the_runs_folder_before_it_starts(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert run.main(["00", "--preset", "smoke", "--output-dir", str(blocker / "out")]) == 2
    assert "Cannot write to" in capsys.readouterr().err


def test_warnings_module_is_quiet_for_valid_requests(original, smoke, digits, class_split):
    request = experiment.make_request(smoke, digits, class_split)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        methods.run_method("finetune", original.model, request, epochs=1)
