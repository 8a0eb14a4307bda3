"""P1 (Liao & Lin 2024): relabel, reset, prune, freezing, progressive unlearning, and the
analysis (per-layer weight change, CKA)."""

from __future__ import annotations

import copy

import pytest
import torch

from unlearnlab import analysis, data, experiment, methods
from unlearnlab.methods.manipulation import relabel_targets


@pytest.fixture()
def request_for(smoke, digits):
    def build(classes=(3,)):
        return experiment.make_request(smoke, digits, data.class_split(digits, list(classes)))

    return build


# -- CKA ----------------------------------------------------------------------------------

def _features(n=600, d=20, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen, dtype=torch.float64) @ torch.randn(d, d, generator=gen,
                                                                                dtype=torch.float64)


def test_cka_of_a_representation_with_itself_is_one():
    x = _features()
    assert analysis.linear_cka(x, x) == pytest.approx(1.0)
    mb = analysis.MinibatchCKA()
    for chunk in x.split(100):
        mb.update(chunk, chunk)
    assert mb.value == pytest.approx(1.0)


def test_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling():
    x, y = _features(seed=0), _features(seed=1)
    q, _ = torch.linalg.qr(torch.randn(20, 20, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    base = analysis.linear_cka(x, y)
    assert analysis.linear_cka(x @ q, y) == pytest.approx(base, rel=1e-9)
    assert analysis.linear_cka(3.7 * x, 0.2 * y) == pytest.approx(base, rel=1e-9)
    mb, mb_t = analysis.MinibatchCKA(), analysis.MinibatchCKA()
    for xa, ya in zip(x.split(100), y.split(100), strict=True):
        mb.update(xa, ya)
        mb_t.update(2.5 * xa @ q, ya)
    assert mb_t.value == pytest.approx(mb.value, rel=1e-9)


def test_minibatch_estimate_agrees_with_the_full_batch_formula():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3000, 16, generator=gen, dtype=torch.float64)
    y = x @ torch.randn(16, 16, generator=gen, dtype=torch.float64) + 2 * torch.randn(3000, 16, generator=gen,
                                                                                        dtype=torch.float64)
    mb = analysis.MinibatchCKA()
    for xa, ya in zip(x.split(500), y.split(500), strict=True):
        mb.update(xa, ya)
    assert mb.value == pytest.approx(analysis.linear_cka(x, y), abs=0.02)
    assert 0.1 < mb.value < 0.95, "a non-trivial case"


def test_stagewise_cka_between_identical_models_is_one(original, digits):
    table = analysis.stagewise_cka(original.model, copy.deepcopy(original.model), digits.x_test[:200],
                                   digits.normalize, batch_size=100)
    assert list(table.stage) == [s for s in original.model.stages if s != "fc"]
    assert table.cka.to_list() == pytest.approx([1.0] * len(table))


# -- weight change --------------------------------------------------------------------------

def test_weight_change_is_zero_between_identical_models(original):
    table = analysis.weight_change(original.model, copy.deepcopy(original.model))
    assert (table.relative_change == 0).all()
    assert set(table.kind) == {"conv", "linear", "batchnorm", "bn_stats"}
    assert list(table[table.kind.isin(["conv", "linear"])].layer) == ["stage1.0", "stage2.0", "head.0", "fc"]


# -- relabel ---------------------------------------------------------------------------------

def test_relabel_targets_never_equal_the_true_label_or_a_forgotten_class():
    labels = torch.arange(10).repeat(100)
    for how in ("random", "second_best"):
        logits = torch.randn(len(labels), 10, generator=torch.Generator().manual_seed(0))
        new = relabel_targets(labels, 10, (3, 7), how, logits=logits, seed=1)
        assert not (new == labels).any()
        assert not torch.isin(new, torch.tensor([3, 7])).any()
    second = relabel_targets(torch.tensor([0]), 4, (0,), "second_best", logits=torch.tensor([[9.0, 1.0, 5.0, 2.0]]))
    assert second.tolist() == [2]
    assert relabel_targets(labels, 10, (3,), "unknown").unique().tolist() == [10]


@pytest.mark.parametrize("target", ["random", "second_best", "unknown"])
def test_relabel_forgets_and_keeps_the_architecture(original, request_for, digits, target):
    request = request_for()
    result = methods.run_method("relabel", original.model, request, target=target, epochs=3, lr=0.05)
    xf, yf = (t[request.split.forget_indices] for t in (digits.x_train, digits.y_train))
    with torch.no_grad():
        acc = (result.model(digits.normalize(xf)).argmax(1) == yf).float().mean()
    assert acc < 0.5
    assert result.model.fc.out_features == 10


# -- reset, freezing -------------------------------------------------------------------------

def test_reset_changes_exactly_the_named_layers(original, request_for):
    result = methods.run_method("reset", original.model, request_for(), layers=("stage2", "fc"), epochs=1)
    before, after = original.model.state_dict(), result.model.state_dict()
    for key in before:
        same = torch.equal(before[key], after[key])
        if key.startswith(("stage2.", "fc.")) and "num_batches" not in key:
            assert not same, f"{key} should have been reset and retrained"
        elif not key.startswith(("stage2.", "fc.")):
            assert same, f"{key} must stay bit-identical"
    with pytest.raises(ValueError, match="No module"):
        methods.run_method("reset", original.model, request_for(), layers=("stage9",))


def test_reset_lower_lr_moves_the_rest_a_little(original, request_for):
    result = methods.run_method("reset", original.model, request_for(), layers=("fc",), rest="lower_lr",
                               epochs=1)
    assert not torch.equal(result.model.stage1[0].weight, original.model.stage1[0].weight)


@pytest.mark.parametrize("name", ["finetune", "relabel", "unsir"])
def test_frozen_stages_stay_bit_identical_for_any_method(name, smoke, original, request_for):
    result = methods.run_method(name, original.model, request_for(), freeze=("stage1", "stage2"),
                                **smoke.method_kwargs(name))
    before, after = original.model.state_dict(), result.model.state_dict()
    for key in before:
        if key.startswith(("stage1.", "stage2.")):
            assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["fc.weight"], after["fc.weight"])
    assert all(p.requires_grad for p in result.model.parameters())


# -- prune -------------------------------------------------------------------------------------

@pytest.mark.parametrize("criterion", ["magnitude", "importance"])
def test_prune_zeroes_the_fraction_and_keeps_it_zero_through_finetuning(original, request_for, criterion):
    result = methods.run_method("prune", original.model, request_for(), fraction=0.2, criterion=criterion,
                                finetune_epochs=1)
    for name, w in result.model.named_parameters():
        if name.endswith("weight") and w.dim() > 1:
            zero_share = float((w == 0).float().mean())
            assert zero_share == pytest.approx(0.2, abs=0.02), name
    assert result.record["weights_pruned"] > 0


def test_importance_pruning_hurts_the_forget_class_more_than_magnitude(original, request_for, digits):
    request = request_for()
    xf, yf = (t[request.split.forget_indices] for t in (digits.x_train, digits.y_train))
    accs = {}
    for criterion in ("magnitude", "importance"):
        model = methods.run_method("prune", original.model, request, fraction=0.1, criterion=criterion).model
        with torch.no_grad():
            accs[criterion] = float((model(digits.normalize(xf)).argmax(1) == yf).float().mean())
    assert accs["importance"] < accs["magnitude"] - 0.2


# -- progressive -------------------------------------------------------------------------------

def test_progressive_unlearning_equals_requests_applied_one_by_one(smoke, digits, original):
    splits = [data.class_split(digits, list(c)) for c in ((1,), (1, 5))]  # cumulative requests
    requests = [experiment.make_request(smoke, digits, s) for s in splits]
    chained = experiment.continual(original.model, requests, "finetune", epochs=1)
    model = original.model
    for request in requests:
        model = methods.run_method("finetune", model, request, epochs=1).model
    for a, b in zip(chained[-1].model.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
