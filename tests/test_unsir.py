"""UNSIR (P4): zero-glance, noise, steps, BatchNorm, and the reference-bug switch."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from unlearnlab import data, experiment, methods
from unlearnlab.methods.unsir import error_maximizing_noise, impair_set

FAST = {"noise_batch": 32, "noise_steps": 10, "retain_per_class": 20}


@pytest.fixture()
def request_for(smoke, digits):
    def build(classes):
        return experiment.make_request(smoke, digits, data.class_split(digits, classes))

    return build


def _bn_stats(model):
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k}


def test_unsir_never_reads_the_forget_set(original, request_for):
    request = request_for([3]).restricted_to({"retain_subset"})
    spec = methods.get_method("unsir")
    assert spec.needs == {"retain_subset"}
    spec.fn(copy.deepcopy(original.model), request, **FAST)
    assert request.accessed == {"retain_subset"}
    with pytest.raises(methods.DataAccessError):
        request.forget_data()


def test_noise_raises_the_loss_on_the_forget_class(original, digits):
    model = original.model
    shape = tuple(digits.x_train.shape[1:])
    start = error_maximizing_noise(model, 3, shape, batch=64, steps=0, seed=0)
    learned = error_maximizing_noise(model, 3, shape, batch=64, steps=40, seed=0)
    target = torch.full((64,), 3)
    with torch.no_grad():
        before = F.cross_entropy(model(start), target)
        after = F.cross_entropy(model(learned), target)
    assert after > before + 1.0


def test_noise_optimisation_leaves_model_and_batchnorm_unchanged(original, digits):
    model = copy.deepcopy(original.model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    error_maximizing_noise(model, 3, tuple(digits.x_train.shape[1:]), batch=16, steps=5)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert all(p.requires_grad for p in model.parameters())


def test_reference_bug_three_batchnorm_in_train_mode_moves_statistics(original, digits):
    model = copy.deepcopy(original.model)
    before = _bn_stats(model)
    error_maximizing_noise(model, 3, tuple(digits.x_train.shape[1:]), batch=16, steps=5,
                           batchnorm_train=True)
    assert any(not torch.equal(v, before[k]) for k, v in _bn_stats(model).items())


def test_impair_set_labels_noise_with_its_class():
    noise = {2: torch.randn(5, 3, 4, 4), 7: torch.randn(5, 3, 4, 4)}
    rx, ry = torch.randn(4, 3, 4, 4), torch.tensor([0, 1, 3, 4])
    x, y = impair_set(noise, rx, ry)
    assert len(x) == 14 and (y == 2).sum() == 5 and (y == 7).sum() == 5


def test_reference_bugs_keep_three_noise_images_twenty_times_each_all_labelled_zero():
    noise = {2: torch.randn(5, 1, 4, 4), 7: torch.randn(5, 1, 4, 4)}  # grey images: 1 channel
    rx, ry = torch.randn(4, 1, 4, 4), torch.tensor([1, 1, 3, 4])
    x, y = impair_set(noise, rx, ry, reference_bugs=True)
    assert len(x) == 4 + 2 * 3 * 20, "3 images x 20 copies per class, whatever the channel count"
    assert torch.equal(x[4:64], noise[2][:3].repeat_interleave(20, dim=0))
    assert torch.equal(y[4:], torch.zeros(120, dtype=torch.long)), "every noise image labelled 0"


def test_update_steps_do_not_grow_with_forget_classes(original, request_for):
    steps = []
    for classes in ([1], [1, 2], [1, 2, 4, 5]):
        result = methods.run_method("unsir", original.model, request_for(classes), **FAST)
        steps.append(result.record["steps"])
        assert result.record["noise_images"] == FAST["noise_batch"] * len(classes)
    assert steps == sorted(steps, reverse=True)


def test_unsir_forgets_a_class_and_no_noise_ablation_runs(original, request_for, digits):
    request = request_for([3])
    result = methods.run_method("unsir", original.model, request, noise_batch=64,
                                retain_per_class=100, impair_lr=0.05)
    split = request.split
    xf, yf = digits.x_train[split.forget_indices], digits.y_train[split.forget_indices]
    with torch.no_grad():
        acc = (result.model(digits.normalize(xf)).argmax(1) == yf).float().mean()
    assert acc < 0.5
    ablation = methods.run_method("unsir", original.model, request, use_noise=False, **FAST)
    assert ablation.record["noise_images"] == 0 and ablation.record["noise_time_s"] < 0.5
    impair_only = methods.run_method("unsir", original.model, request, phases="impair", **FAST)
    assert "repair_steps" not in impair_only.record
    with pytest.raises(ValueError, match="phases"):
        methods.run_method("unsir", original.model, request, phases="repair")


def test_after_impair_accuracies_are_reported(smoke, digits, original, request_for):
    request = request_for([3])
    evaluation = experiment.make_evaluation(smoke, digits, request.split)
    record = methods.run_method("unsir", original.model, request, evaluation, **FAST).record
    impair_only = methods.run_method("unsir", original.model, request, evaluation, phases="impair",
                                     **FAST).record
    assert record["impair_acc_forget"] == pytest.approx(impair_only["acc_forget"])
    assert record["impair_acc_retain"] == pytest.approx(impair_only["acc_retain"])
