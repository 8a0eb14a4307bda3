"""LRP path perturbation (P2): zero-shot, the ranking, the edit, multi-layer relevance."""

from __future__ import annotations

import copy

import pytest
import torch

from unlearnlab import data, experiment, methods, models
from unlearnlab.methods.lrp import count_from, path_weights, perturb, select_units, unit_relevance

from .test_models import _bias_free


@pytest.fixture()
def request_for(smoke, digits):
    def build(classes=(3,)):
        return experiment.make_request(smoke, digits, data.class_split(digits, list(classes)))

    return build


def test_never_reads_a_training_sample(original, request_for):
    request = request_for()
    spec = methods.get_method("lrp_path")
    assert spec.needs == {"unseen_forget"}
    guarded = request.restricted_to(spec.needs)
    spec.fn(copy.deepcopy(original.model), guarded, n_samples=12)
    assert guarded.accessed == {"unseen_forget"}
    for accessor in (guarded.forget_data, guarded.retain_data, lambda: guarded.retain_subset(1)):
        with pytest.raises(methods.DataAccessError):
            accessor()


def test_last_layer_relevance_equals_activation_times_outgoing_weight(original, digits):
    model = original.model
    x = digits.normalize(digits.x_test[:16])
    relevance = unit_relevance(model, x, "fc", to_input=True)
    with torch.no_grad():
        target = model(x).argmax(1)
        expected = model.features(x) * model.fc.weight[target]
    assert torch.allclose(relevance, expected, atol=1e-5, rtol=1e-4)
    assert torch.equal(relevance.topk(5, dim=1).indices.sort(1).values,
                       expected.topk(5, dim=1).indices.sort(1).values)


def test_selection_keeps_the_most_frequent_units():
    relevance = torch.tensor([[5.0, 4.0, 0.0, 1.0],
                              [0.0, 4.0, 5.0, 1.0],
                              [5.0, 4.0, 0.0, 1.0]])
    selection = select_units(relevance, k=2, n_keep=2)
    assert selection.frequency.tolist() == [2.0, 3.0, 1.0, 0.0]
    assert selection.units.tolist() == [0, 1]


def test_counts_and_fractions():
    assert count_from(0.5, 128, "k") == 64 and count_from(10, 128, "k") == 10
    assert count_from(1.0, 128, "k") == 128 and count_from(500, 128, "k") == 128
    with pytest.raises(ValueError, match="positive"):
        count_from(0, 128, "k")


def test_zeroing_changes_exactly_the_selected_weights(original, request_for):
    model = copy.deepcopy(original.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    units = torch.tensor([1, 5, 7])
    weights = path_weights(model, units, [3], "auto")  # tiny_cnn has an MLP head
    changed = perturb(weights, "zero")
    assert changed == 3 * model.head[0].in_features + 3
    expected_zero = {"head.0.weight": (units,), "fc.weight": (torch.tensor([[3]]), units[None, :])}
    for name, value in model.state_dict().items():
        if name in expected_zero:
            mask = torch.zeros_like(value, dtype=torch.bool)
            mask[expected_zero[name]] = True
            assert torch.all(value[mask] == 0)
            assert torch.equal(value[~mask], before[name][~mask]), name
        else:
            assert torch.equal(value, before[name]), f"{name} must be untouched (biases too)"


def test_outgoing_all_for_pooled_features_and_noise_is_seeded():
    model = models.create_model("resnet18", 10, 1, 8, seed=0)
    weights = path_weights(model, torch.tensor([2, 3]), [1], "auto")
    assert len(weights) == 1 and weights[0][0] is model.fc.weight
    with pytest.raises(ValueError, match="no linear layer"):
        path_weights(model, torch.tensor([2]), [1], "incoming")
    a, b = (copy.deepcopy(model) for _ in range(2))
    for m in (a, b):
        perturb(path_weights(m, torch.tensor([2, 3]), [1], "auto"), "laplace", seed=4)
    assert torch.equal(a.fc.weight, b.fc.weight) and not torch.equal(a.fc.weight, model.fc.weight)


def test_noise_at_each_tensors_own_std_is_sized_by_that_tensor():
    model = models.create_model("resnet18", 10, 1, 8, seed=0)
    before = model.fc.weight.detach().clone()
    weights = path_weights(model, torch.arange(64), [1], "auto")
    perturb(weights, "gaussian", scale="tensor_std", seed=0)
    index = weights[0][1]
    moved = (model.fc.weight.detach()[index] - before[index]).std()
    assert 0.8 < float(moved / before.std()) < 1.25, "noise of the tensor's own size, not 1.0"
    with pytest.raises(ValueError, match="tensor_std"):
        perturb(weights, "gaussian", scale="huge")


def test_relevance_is_conserved_through_residual_blocks():
    """Multi-layer mode ranks channels of inner stages: the relevance reaching a stage
    must still sum to the explained logit (bias-free network, Addition_Module sums)."""
    model = _bias_free(models.create_model("resnet18", 10, 1, 8, seed=3))
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(x)
    target = logits.argmax(1)
    scale = logits.gather(1, target[:, None]).abs().view(-1, 1, 1, 1)
    x = x / scale  # homogeneous network: explained logits become 1
    with torch.no_grad():
        explained = model(x).gather(1, target[:, None]).flatten()
    # block outputs are cuts of the network: all relevance passes through each of them
    # (the residual sums, before their ReLU, which passes relevance unchanged)
    for layer in ("stem.1", "layer1.1.add", "layer2.0.add", "layer3.0.add", "layer4.1.add", "pool"):
        total = unit_relevance(model, x, layer, to_input=False).sum(1)
        assert torch.allclose(total, explained, rtol=1e-3), layer


def test_lrp_path_forgets_and_multilayer_mode_runs(smoke, digits, original, request_for):
    request = request_for()
    result = methods.run_method("lrp_path", original.model, request, n_samples=20, k=0.3, n_keep=0.5)
    xf = digits.x_train[request.split.forget_indices]
    with torch.no_grad():
        before = (original.model(digits.normalize(xf)).argmax(1) == 3).float().mean()
        after = (result.model(digits.normalize(xf)).argmax(1) == 3).float().mean()
    assert before > 0.9 and after < before - 0.3
    multi = methods.run_method("lrp_path", original.model, request, n_samples=20,
                               layers=("stage2.0",), k=0.3, n_keep=0.25)
    assert multi.record["units_kept"] == 8 + 4, "a quarter of 32 head units and of 16 channels"
    with pytest.raises(ValueError, match="conv or linear"):
        methods.run_method("lrp_path", original.model, request, layers=("stage2",))


def test_default_shares_follow_the_reference_per_model_family(original, request_for):
    from unlearnlab.methods.lrp import REFERENCE_SHARES, model_family

    assert model_family(models.create_model("resnet18", 10, 3, 32)) == "resnet"
    assert model_family(models.create_model("vgg16_bn", 10, 3, 32)) == "vgg"
    assert model_family(original.model) == "small"
    assert REFERENCE_SHARES["small"][1] == pytest.approx(0.156, abs=1e-3), "MNIST: 80 of 512"
    assert REFERENCE_SHARES["resnet"][1] == pytest.approx(0.195, abs=1e-3), "CIFAR-10 ResNet: 400 of 2048"
    result = methods.run_method("lrp_path", original.model, request_for(), n_samples=20)
    assert result.record["model_family"] == "small"
    assert result.record["units_kept"] == count_from(REFERENCE_SHARES["small"][1], 32, "n_keep"), \
        "15.6 % of the 32 head units"


def test_a_share_or_a_count_is_accepted_and_nonsense_refused(original, request_for):
    request = request_for()
    assert methods.run_method("lrp_path", original.model, request, n_samples=20, n_keep=3).record["units_kept"] == 3
    for bad in (0.0, -2, float("nan"), "many"):
        with pytest.raises((ValueError, TypeError)):
            methods.run_method("lrp_path", original.model, request, n_samples=20, n_keep=bad)


def test_rules_per_module_change_the_relevance_and_are_validated(original, digits):
    x = digits.normalize(digits.x_test[:8])
    epsilon = unit_relevance(original.model, x, "fc")
    gamma = unit_relevance(original.model, x, "fc", rules={"head.0": "gamma", "fc": "alpha1beta0"})
    assert gamma.shape == epsilon.shape and not torch.allclose(gamma, epsilon)
    assert not hasattr(original.model.fc, "rule"), "rules are set on a probe copy, not on the model"
    with pytest.raises(ValueError, match="Unknown rule"):
        unit_relevance(original.model, x, "fc", rules={"fc": "zplus"})
    with pytest.raises(ValueError, match="No module"):
        unit_relevance(original.model, x, "fc", rules={"nowhere": "gamma"})
