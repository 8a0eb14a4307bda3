"""The leaderboard's peer methods (Bad Teacher, SCRUB, SSD, SalUn, NegGrad+, l1-sparse,
Boundary Shrink): each test shows the mechanism the paper describes, not only that the
method runs."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from unlearnlab import experiment, methods, metrics
from unlearnlab.methods.boundary import nearest_wrong_labels
from unlearnlab.methods.salun import saliency_mask
from unlearnlab.methods.ssd import dampen, fisher_diagonal
from unlearnlab.models import reinitialize
from unlearnlab.training import predict


@pytest.fixture()
def request_(smoke, digits, class_split):
    return experiment.make_request(smoke, digits, class_split)


def _logits(model, dataset, idx):
    return predict(model, dataset.x_train[idx], normalize=dataset.normalize)


def _accuracy(model, dataset, idx):
    return metrics.accuracy(_logits(model, dataset, idx), dataset.y_train[idx])


def test_bad_teacher_pulls_forget_outputs_to_the_incompetent_teacher(original, request_, digits,
                                                                      class_split):
    result = methods.run_method("bad_teacher", original.model, request_, epochs=5, lr=1e-3,
                                batch_size=64)
    # the incompetent teacher is the original's architecture re-drawn with the method's seed
    incompetent = reinitialize(copy.deepcopy(original.model), seed=request_.seed + 7919)
    forget, retain = class_split.forget_indices, class_split.retain_indices
    random_out = _logits(incompetent, digits, forget)
    before = metrics.js_divergence(_logits(original.model, digits, forget), random_out).mean()
    after = metrics.js_divergence(_logits(result.model, digits, forget), random_out).mean()
    assert after < 0.5 * before
    # on D_r the competent teacher (the original) is followed: retain accuracy holds
    assert _accuracy(result.model, digits, retain) > _accuracy(original.model, digits, retain) - 0.05
    assert _accuracy(result.model, digits, forget) < 0.5
    assert result.record["retain_used"] == round(0.3 * len(retain))


def test_scrub_moves_away_from_the_teacher_on_forget_data_only(original, request_, digits,
                                                               class_split):
    forget, retain = class_split.forget_indices, class_split.retain_indices
    # the reference's batches: 512 on D_f, 256 on D_r (a max pass over this class is 1 step)
    defaults = methods.run_method("scrub", original.model, request_)
    assert defaults.record["max_steps"] == 2 * -(-len(forget) // 512)
    assert defaults.record["min_steps"] == 3 * -(-len(retain) // 256)
    result = methods.run_method("scrub", original.model, request_, lr=5e-3)
    teacher_f, teacher_r = _logits(original.model, digits, forget), _logits(original.model, digits, retain)
    js_forget = metrics.js_divergence(_logits(result.model, digits, forget), teacher_f).mean()
    js_retain = metrics.js_divergence(_logits(result.model, digits, retain), teacher_r).mean()
    assert js_forget > 0.5 and js_retain < 0.1
    assert _accuracy(result.model, digits, forget) < 0.1
    assert _accuracy(result.model, digits, retain) > 0.9
    # without max passes SCRUB is distillation on D_r: the forget class is barely touched
    kept = methods.run_method("scrub", original.model, request_, lr=5e-3, max_epochs=0)
    assert _accuracy(kept.model, digits, forget) > 0.9


def test_scrub_carries_one_optimizer_through_the_run(original, request_, monkeypatch):
    from unlearnlab.methods import scrub as scrub_module

    seen = []
    real = scrub_module.train_constant

    def spy(*args, **kwargs):
        seen.append(kwargs["shared_optimizer"])
        return real(*args, **kwargs)

    monkeypatch.setattr(scrub_module, "train_constant", spy)
    methods.run_method("scrub", original.model, request_)
    assert len(seen) == 5 and all(o is seen[0] for o in seen)  # 2 max + 3 min passes, one optimizer
    assert seen[0].state  # its momentum buffers were built and kept


def test_ssd_dampening_follows_its_equations():
    layer = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 2.0], [-3.0, 4.0]]))
    forget = {"weight": torch.tensor([[10.0, 1.0], [0.0, 50.0]])}
    data = {"weight": torch.tensor([[0.5, 1.0], [1.0, 2.0]])}
    # selected where f > alpha * d: 10 > 2*0.5 yes; 1 > 2 no; 0 > 2 no; 50 > 4 yes
    n = dampen(layer, forget, data, alpha=2.0, lam=1.0)
    expected = torch.tensor([[1.0 * 0.5 / 10.0, 2.0], [-3.0, 4.0 * 2.0 / 50.0]])
    assert n == 2 and torch.allclose(layer.weight, expected)
    # lambda large enough: the factor is capped at 1, nothing grows
    layer2 = nn.Linear(2, 2, bias=False)
    before = layer2.weight.detach().clone()
    dampen(layer2, forget, data, alpha=2.0, lam=1e6)
    assert torch.equal(layer2.weight, before)


def test_ssd_at_the_reference_alpha_cannot_fire_for_a_tenth_of_the_data(original, request_, class_split):
    """alpha 10 = 1 / s for a forget share s of one class in ten: with the reference's
    class-ordered batches the rule selects (almost) nothing."""
    share = class_split.num_forget / class_split.num_train
    assert 1 / share < 10.5
    result = methods.run_method("ssd", original.model, request_)
    total = sum(p.numel() for p in original.model.parameters())
    assert result.record["params_dampened"] < 0.001 * total


def test_ssd_only_dampens_and_trains_nothing(original, request_, digits, class_split):
    result = methods.run_method("ssd", original.model, request_, alpha=2.0)
    before, after = original.model.state_dict(), result.model.state_dict()
    for name, value in before.items():
        if value.is_floating_point():
            # every entry is scaled by a factor in [0, 1]: |after| <= |before|, same sign
            assert (after[name].abs() <= value.abs() + 1e-7).all(), name
            assert (after[name] * value >= 0).all(), name
        else:
            assert torch.equal(after[name], value)
    # buffers (BatchNorm statistics) are untouched: there is no training
    for name, buffer in original.model.named_buffers():
        assert torch.equal(dict(result.model.named_buffers())[name], buffer)
    assert result.record["params_dampened"] > 0
    forget = class_split.forget_indices
    assert _accuracy(result.model, digits, forget) < _accuracy(original.model, digits, forget)


def test_fisher_diagonal_is_the_mean_squared_batch_gradient(original, digits):
    model = copy.deepcopy(original.model)
    x, y = digits.x_train[:64], digits.y_train[:64]
    device = next(original.model.parameters()).device
    fisher = fisher_diagonal(model, x, y, normalize=digits.normalize, batch_size=64, device=device)
    model.zero_grad()
    nn.functional.cross_entropy(model(digits.normalize(x.to(device))), y.to(device)).backward()
    for name, p in model.named_parameters():
        assert torch.allclose(fisher[name], p.grad ** 2, rtol=1e-4, atol=1e-10), name


def test_salun_moves_only_the_salient_weights(original, request_, digits, class_split):
    xf, yf = digits.x_train[class_split.forget_indices], digits.y_train[class_split.forget_indices]
    mask = saliency_mask(copy.deepcopy(original.model), xf, yf, normalize=digits.normalize, keep=0.3,
                         batch_size=64, device=request_.device)
    share = sum(m.sum() for m in mask.values()) / sum(m.numel() for m in mask.values())
    assert abs(float(share) - 0.3) < 0.01
    result = methods.run_method("salun", original.model, request_, keep=0.3, epochs=2, lr=0.05)
    after = dict(result.model.named_parameters())
    moved_outside = moved_inside = 0
    for name, p in original.model.named_parameters():
        changed = after[name].detach() != p.detach()
        moved_outside += int((changed & (mask[name] == 0)).sum())
        moved_inside += int((changed & (mask[name] == 1)).sum())
    assert moved_outside == 0 and moved_inside > 0
    assert _accuracy(result.model, digits, class_split.forget_indices) < 0.5
    assert abs(result.record["salient_share"] - 0.3) < 0.01


def test_neggrad_plus_ascends_on_forget_data_only_through_its_weight(original, request_, digits, class_split):
    forget, retain = class_split.forget_indices, class_split.retain_indices
    mixed = methods.run_method("neggrad_plus", original.model, request_, epochs=2, alpha=0.9)
    pure = methods.run_method("neggrad_plus", original.model, request_, epochs=2, alpha=1.0)
    assert _accuracy(mixed.model, digits, forget) < 0.5  # the (1 - alpha) ascent forgets
    assert _accuracy(pure.model, digits, forget) > 0.9  # alpha 1: fine-tuning on D_r only
    assert _accuracy(mixed.model, digits, retain) > 0.95
    assert mixed.record["steps"] == 2 * -(-len(retain) // 128)  # one step per retain batch


def test_l1_sparse_shrinks_the_weights_by_its_penalty(original, request_):
    def l1(model):
        return sum(float(p.detach().abs().sum()) for p in model.parameters())

    plain = methods.run_method("l1_sparse", original.model, request_, epochs=2, gamma=0.0)
    sparse = methods.run_method("l1_sparse", original.model, request_, epochs=2, gamma=1e-2)
    assert l1(sparse.model) < 0.95 * l1(plain.model)
    assert sparse.record["steps"] == plain.record["steps"]


def test_boundary_shrink_moves_forget_samples_to_their_nearest_wrong_class(original, request_, digits,
                                                                         class_split):
    forget = class_split.forget_indices
    x, y = digits.x_train[forget], digits.y_train[forget]
    neighbours = nearest_wrong_labels(original.model, x, y, normalize=digits.normalize, bound=0.1,
                                      device=request_.device)
    changed = neighbours != y
    assert 0.3 < float(changed.float().mean()) <= 1.0
    assert torch.equal(nearest_wrong_labels(original.model, x, y, normalize=digits.normalize, bound=1e-6,
                                            device=request_.device), y)  # no step, no new class
    result = methods.run_method("boundary_shrink", original.model, request_, lr=1e-2)
    assert result.record["neighbour_changed"] == pytest.approx(float(changed.float().mean()))
    predicted = _logits(result.model, digits, forget).argmax(1)
    assert float((predicted[changed] == neighbours[changed]).float().mean()) > 0.8
    assert _accuracy(result.model, digits, class_split.retain_indices) > 0.9


@pytest.mark.parametrize("name,kwargs,match", [
    ("bad_teacher", {"retain_share": 0.0}, "retain_share"),
    ("scrub", {"max_epochs": 5, "epochs": 3}, "max_epochs"),
    ("ssd", {"alpha": 0.0}, "alpha"),
    ("salun", {"keep": 1.5}, "keep"),
    ("neggrad_plus", {"alpha": 1.5}, "alpha"),
    ("l1_sparse", {"gamma": -1.0}, "gamma"),
    ("boundary_shrink", {"bound": 0.0}, "bound"),
])
def test_peer_methods_refuse_settings_out_of_range(name, kwargs, match, original, request_):
    with pytest.raises(ValueError, match=match):
        methods.run_method(name, original.model, request_, **kwargs)
