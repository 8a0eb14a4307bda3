"""The method contract, run over every registered method, and the guarded request."""

from __future__ import annotations

import copy

import pytest
import torch

from unlearnlab import data, experiment, methods
from unlearnlab.methods import DataAccessError, UnlearningRequest


@pytest.fixture()
def request_for(smoke, digits, class_split):
    def build(split=class_split) -> UnlearningRequest:
        return experiment.make_request(smoke, digits, split)

    return build


def _split_for(spec, digits, class_split):
    return data.instance_split(digits, 8, seed=0) if spec.scenario == "instance" else class_split


@pytest.mark.parametrize("name", methods.list_methods())
def test_every_method_honours_the_contract(name, smoke, digits, class_split, original, request_for):
    spec = methods.get_method(name)
    request = request_for(_split_for(spec, digits, class_split))
    before = {k: v.clone() for k, v in original.model.state_dict().items()}
    result = methods.run_method(name, original.model, request, **smoke.method_kwargs(name))
    # same architecture
    assert type(result.model) is type(original.model)
    assert result.model.state_dict().keys() == before.keys()
    for k, v in result.model.state_dict().items():
        assert v.shape == before[k].shape, k
    # the original is untouched, and the result is a different object
    assert result.model is not original.model
    for k, v in original.model.state_dict().items():
        assert torch.equal(v, before[k]), f"{name} modified the original's {k}"
    assert result.record["time_s"] >= 0 and result.record["method"] == name


@pytest.mark.parametrize("name", methods.list_methods())
def test_every_method_is_refused_data_it_did_not_declare(name, smoke, digits, class_split,
                                                         original, request_for):
    """Each declared need is really used: withhold it and the request refuses."""
    spec = methods.get_method(name)
    request = request_for(_split_for(spec, digits, class_split))
    for need in spec.needs:
        crippled = request.restricted_to(spec.needs - {need})
        with pytest.raises(DataAccessError, match=need):
            spec.fn(copy.deepcopy(original.model), crippled, **smoke.method_kwargs(name))


@pytest.fixture()
def greedy_method():
    """A method that declares retain_subset but reads D_f (what a zero-glance method
    must never do)."""
    @methods.register("_test_greedy", scenario="class", needs={"retain_subset"})
    def greedy(model, request):
        request.retain_subset(2)
        request.forget_data()
        return model

    yield "_test_greedy"
    methods.base._METHODS.pop("_test_greedy")


def test_undeclared_access_fails(greedy_method, original, request_for):
    with pytest.raises(DataAccessError, match="forget_data.*needs=\\['retain_subset'\\]"):
        methods.run_method(greedy_method, original.model, request_for())


def test_request_accessors_return_the_right_data(request_for, digits, class_split):
    request = request_for()
    xf, yf = request.forget_data()
    assert set(yf.tolist()) == set(class_split.forget_classes) and len(xf) == class_split.num_forget
    xr, yr = request.retain_data()
    assert not set(yr.tolist()) & set(class_split.forget_classes)
    xs, ys = request.retain_subset(5)
    assert ys.bincount(minlength=10)[list(class_split.forget_classes)].sum() == 0
    assert (ys.bincount(minlength=10).max()) == 5 and len(ys) == 5 * 9
    xu, yu = request.unseen_forget_samples(7)
    assert len(yu) == 7 and set(yu.tolist()) == set(class_split.forget_classes)
    # unseen samples come from the test split, never from training images
    train_rows = {bytes(r.numpy()) for r in digits.x_train.flatten(1)}
    test_rows = [bytes(r.numpy()) for r in xu.flatten(1)]
    assert all(row not in train_rows for row in test_rows)
    assert request.accessed == {"forget_data", "retain_data", "retain_subset", "unseen_forget"}


def test_restricted_request_cannot_widen_access(request_for):
    narrow = request_for().restricted_to({"retain_subset"})
    wider = narrow.restricted_to({"retain_subset", "forget_data"})
    with pytest.raises(DataAccessError):
        wider.forget_data()


def test_run_method_rejects_unknown_hyperparameters_and_scenarios(original, request_for, digits):
    with pytest.raises(TypeError, match="no hyperparameter"):
        methods.run_method("finetune", original.model, request_for(), learning_rate=0.1)
    with pytest.raises(ValueError, match="Unknown method"):
        methods.get_method("magic")
    with pytest.raises(ValueError, match="Unknown needs"):
        methods.register("_bad", needs={"everything"})


def test_register_rejects_unknown_scenario():
    with pytest.raises(ValueError, match="scenario"):
        methods.register("_bad", scenario="galaxy")


def test_retrain_never_saw_the_forget_class_and_is_cached(smoke, original, request_for, class_split, digits):
    first = methods.run_method("retrain", original.model, request_for())
    second = methods.run_method("retrain", original.model, request_for())
    assert second.record["cached"] is True
    assert second.record["time_s"] == pytest.approx(first.record["time_s"])
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    xf = digits.x_train[class_split.forget_indices]
    predicted = first.model(digits.normalize(xf)).argmax(1)
    assert (predicted == smoke.forget_class).float().mean() == 0.0


def test_neggrad_lowers_forget_accuracy(smoke, original, request_for, digits, class_split):
    result = methods.run_method("neggrad", original.model, request_for(), epochs=2, lr=0.05)
    xf, yf = digits.x_train[class_split.forget_indices], digits.y_train[class_split.forget_indices]
    before = (original.model(digits.normalize(xf)).argmax(1) == yf).float().mean()
    after = (result.model(digits.normalize(xf)).argmax(1) == yf).float().mean()
    assert before > 0.9 and after < 0.5
    assert result.record["steps"] > 0


def test_register_refuses_a_name_taken_by_another_function():
    with pytest.raises(ValueError, match="already registered"):
        @methods.register("finetune")
        def my_finetune(model, request):  # pragma: no cover - never registered
            return model
    assert methods.get_method("finetune").fn.__module__ == "unlearnlab.methods.baselines"
