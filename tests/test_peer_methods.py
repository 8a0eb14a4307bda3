"""The leaderboard's peer methods (Bad Teacher, SCRUB, SSD, SalUn): each test shows the
mechanism the paper describes, not only that the method runs."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from unlearnlab import experiment, methods, metrics
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
    result = methods.run_method("scrub", original.model, request_)  # the reference's defaults
    teacher_f, teacher_r = _logits(original.model, digits, forget), _logits(original.model, digits, retain)
    js_forget = metrics.js_divergence(_logits(result.model, digits, forget), teacher_f).mean()
    js_retain = metrics.js_divergence(_logits(result.model, digits, retain), teacher_r).mean()
    assert js_forget > 0.5 and js_retain < 0.05
    assert _accuracy(result.model, digits, forget) < 0.1
    assert result.record["max_steps"] == 2 * -(-len(forget) // 32)
    assert result.record["min_steps"] == 3 * -(-len(retain) // 128)
    # without max passes SCRUB is distillation on D_r: the forget class is barely touched
    kept = methods.run_method("scrub", original.model, request_, max_epochs=0)
    assert _accuracy(kept.model, digits, forget) > _accuracy(result.model, digits, forget)


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


def test_ssd_only_dampens_and_trains_nothing(original, request_, digits, class_split):
    result = methods.run_method("ssd", original.model, request_)
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
    fisher = fisher_diagonal(model, x, y, normalize=digits.normalize, batch_size=64, device=device, seed=0)
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


@pytest.mark.parametrize("name,kwargs,match", [
    ("bad_teacher", {"retain_share": 0.0}, "retain_share"),
    ("scrub", {"max_epochs": 5, "epochs": 3}, "max_epochs"),
    ("ssd", {"alpha": 0.0}, "alpha"),
    ("salun", {"keep": 1.5}, "keep"),
])
def test_peer_methods_refuse_settings_out_of_range(name, kwargs, match, original, request_):
    with pytest.raises(ValueError, match=match):
        methods.run_method(name, original.model, request_, **kwargs)
