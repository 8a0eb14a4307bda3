"""L2UL (P3): no retain data, PGD examples, MAS importance, stopping, relabeling, continual."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from unlearnlab import data, experiment, methods
from unlearnlab.methods.l2ul import adversarial_examples, mas_importance, random_wrong_labels

FAST = {"adv_per_sample": 2, "pgd_steps": 10, "pgd_radius": 2.0, "pgd_step": 0.3, "max_steps": 200,
        "lr": 0.01}


@pytest.fixture()
def instance_request(smoke, digits):
    def build(k=8, seed=0):
        return experiment.make_request(smoke, digits, data.instance_split(digits, k, seed=seed))

    return build


def test_no_access_to_retain_data(original, instance_request):
    spec = methods.get_method("l2ul")
    assert spec.needs == {"forget_data"} and spec.scenario == "instance"
    guarded = instance_request().restricted_to(spec.needs)
    spec.fn(copy.deepcopy(original.model), guarded, **FAST)
    assert guarded.accessed == {"forget_data"}
    for accessor in (guarded.retain_data, lambda: guarded.retain_subset(1)):
        with pytest.raises(methods.DataAccessError):
            accessor()


def test_random_wrong_labels_never_equal_the_true_label():
    labels = torch.arange(10).repeat(500)
    wrong = random_wrong_labels(labels, 10, generator=torch.Generator().manual_seed(0))
    assert not (wrong == labels).any()
    assert set(wrong.tolist()) == set(range(10)), "every other class can be drawn"


def test_pgd_examples_stay_in_the_ball_and_hit_their_targets(original, digits):
    pixels = digits.x_test[:12].float() / 255
    labels = digits.y_test[:12]
    radius = 3.0
    adv, targets, source = adversarial_examples(original.model, pixels, labels, 10, digits.normalize,
                                                per_sample=3, radius=radius, step_size=0.3, steps=30)
    assert adv.shape == (36, 1, 8, 8) and torch.equal(source, torch.arange(12).repeat_interleave(3))
    assert not (targets == labels[source]).any()
    distance = (adv - pixels[source]).flatten(1).norm(dim=1)
    assert (distance <= radius + 1e-4).all()
    assert adv.min() >= 0 and adv.max() <= 1
    with torch.no_grad():
        hit = (original.model(digits.normalize(adv)).argmax(1) == targets).float().mean()
    assert hit > 0.8


def test_mas_importance_is_normalised_and_follows_the_forget_inputs():
    model = nn.Sequential(nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]]))
    x = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 1.0]])  # feature 1 never active in D_f
    importance = mas_importance(model, x)["0.weight"]
    assert importance.min() == 0 and importance.max() == 1
    assert torch.all(importance[:, 1] == 0), "weights D_f never uses are unimportant"
    inverted = 1 - importance
    assert torch.all(inverted[:, 1] == 1), "so the penalty holds them at full strength"


def test_loop_stops_the_moment_the_goal_holds(original, instance_request, digits):
    request = instance_request()
    result = methods.run_method("l2ul", original.model, request, **FAST)
    steps = result.record["steps"]
    assert result.record["goal_met"] and steps >= 1
    xf = digits.x_train[request.split.forget_indices]
    yf = digits.y_train[request.split.forget_indices]
    with torch.no_grad():
        assert (result.model(digits.normalize(xf)).argmax(1) != yf).all()
    one_short = methods.run_method("l2ul", original.model, request, **{**FAST, "max_steps": steps - 1})
    assert not one_short.record["goal_met"] and one_short.record["steps"] == steps - 1


def test_relabeling_reaches_the_given_labels(original, instance_request, digits):
    request = instance_request(k=6)
    yf = digits.y_train[request.split.forget_indices]
    new = ((yf + 3) % 10).tolist()
    result = methods.run_method("l2ul", original.model, request, goal="relabel", new_labels=new, **FAST)
    xf = digits.x_train[request.split.forget_indices]
    with torch.no_grad():
        assert result.model(digits.normalize(xf)).argmax(1).tolist() == new
    with pytest.raises(ValueError, match="one label per forget instance"):
        methods.run_method("l2ul", original.model, request, goal="relabel", new_labels=[1, 2])


def test_continual_equals_sequential_application(original, instance_request):
    requests = [instance_request(k=4, seed=s) for s in (1, 2, 3)]
    kwargs = {**FAST, "use_adversarial": False, "lr": 1e-3, "max_steps": 30}
    chained = experiment.continual(original.model, requests, "l2ul", **kwargs)
    model = original.model
    for request in requests:
        model = methods.run_method("l2ul", model, request, **kwargs).model
    for a, b in zip(chained[-1].model.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.isfinite(a).all() and torch.equal(a, b)
    assert len(chained) == 3


def test_union_split_covers_every_request(digits):
    splits = [data.instance_split(digits, 5, seed=s) for s in (0, 1)]
    union = data.union_split(digits, splits)
    expected = torch.cat([s.forget_indices for s in splits]).unique()
    assert torch.equal(union.forget_indices, expected)
    assert len(union.forget_indices) + len(union.retain_indices) == len(digits.y_train)


def test_the_attack_hits_its_targets_on_fashion_mnist_at_the_cpu_settings():
    """The reference's attack hits about 100 % of its targets; the cpu preset's settings
    must too on the cpu model (skipped where Fashion-MNIST is not installed: `make data`)."""
    from unlearnlab import config

    preset = config.get_preset("cpu")
    try:
        dataset = experiment.load_preset_data(preset)
    except data.DataUnavailableError as err:
        pytest.skip(f"Fashion-MNIST not installed ({str(err).splitlines()[0]})")
    model = experiment.train_original(preset, dataset).model.eval()
    split = data.instance_split(dataset, 32, seed=0)
    pixels = dataset.x_train[split.forget_indices].float() / 255
    kw = {**methods.get_method("l2ul").defaults, **preset.method_kwargs("l2ul")}
    adv, targets, _ = adversarial_examples(model, pixels, dataset.y_train[split.forget_indices], 10,
                                           dataset.normalize, per_sample=4, radius=kw["pgd_radius"],
                                           step_size=kw["pgd_step"], steps=kw["pgd_steps"])
    with torch.no_grad():
        hit = (model(dataset.normalize(adv)).argmax(1) == targets).float().mean()
    assert hit >= 0.95


def test_the_step_cap_is_counted_in_passes_over_the_adversarial_set(original, instance_request):
    request = instance_request(k=8)
    kw = {**FAST, "max_steps": None, "max_passes": 3, "adv_per_sample": 5, "adv_batch": 16, "lr": 1e-6}
    result = methods.run_method("l2ul", original.model, request, **kw)
    assert result.record["step_cap"] == 3 * -(-8 * 5 // 16)
    assert not result.record["goal_met"] and result.record["steps"] == result.record["step_cap"]
    plain = methods.run_method("l2ul", original.model, request, **{**kw, "use_adversarial": False})
    assert plain.record["step_cap"] == 3 * -(-8 // FAST.get("forget_batch", 32))


def test_max_steps_caps_the_passes_where_it_comes_first(original, instance_request):
    request = instance_request(k=8)
    kw = {**FAST, "max_passes": 3, "adv_per_sample": 5, "adv_batch": 16, "lr": 1e-6}
    assert methods.run_method("l2ul", original.model, request, **{**kw, "max_steps": 4}).record["step_cap"] == 4
    assert methods.run_method("l2ul", original.model, request, **{**kw, "max_steps": 100}).record["step_cap"] == 9


def test_a_cap_in_images_gives_small_requests_more_steps_at_the_same_cost():
    from unlearnlab.methods.l2ul import step_cap

    # k = 128 with 8 examples each: 32 + 256 images a step, 4 steps a pass
    assert step_cap(128, 1024, 32, 256, max_passes=1000, max_images=57_600) == 200
    assert step_cap(16, 128, 32, 256, max_passes=1000, max_images=57_600) == 400  # 144 a step
    assert step_cap(1, 8, 32, 256, max_passes=1000, max_images=57_600) == 1000  # passes come first
    assert step_cap(128, 0, 32, 256, max_passes=1000, max_images=57_600) == 1800  # no adversarial set
    assert step_cap(1, 8, 32, 256, max_passes=1000, max_steps=50, max_images=57_600) == 50
    assert step_cap(128, 1024, 32, 256, max_passes=1000, max_images=10) == 1


def test_max_images_reaches_the_loop(original, instance_request):
    request = instance_request(k=8)
    kw = {**FAST, "max_steps": None, "max_passes": 3, "adv_per_sample": 5, "adv_batch": 16, "lr": 1e-6}
    result = methods.run_method("l2ul", original.model, request, **{**kw, "max_images": 2 * (8 + 16)})
    assert result.record["step_cap"] == 2 and result.record["steps"] == 2


def test_the_model_is_published_where_forgetting_reaches_half_and_a_quarter(original, instance_request, smoke,
                                                                             digits):
    from unlearnlab.methods.l2ul import MILESTONES

    split = data.instance_split(digits, 16, seed=0)
    result = methods.run_method("l2ul", original.model, instance_request(k=16), experiment.make_evaluation(
        smoke, digits, split), **FAST)
    record = result.record
    assert record["goal_met"], "the smoke model forgets 16 samples within the cap"
    for name, share in MILESTONES.items():
        assert 0 < record[f"{name}_steps"] <= record["steps"]
        assert record[f"{name}_acc_forget"] <= share * 1.0 + 1e-9, "the original classifies all 16"
        assert f"{name}_acc_test" in record
    assert record["half_steps"] <= record["quarter_steps"]


def test_reference_schedule_walks_the_adversarial_set_in_order_with_forget_batches_cycled():
    from unlearnlab.methods.l2ul import batch_schedule

    schedule = batch_schedule(5, 7, 2, 3, generator=torch.Generator(), sequential=True)
    pairs = [next(schedule) for _ in range(4)]
    assert [a.tolist() for _, a in pairs] == [[0, 1, 2], [3, 4, 5], [6], [0, 1, 2]]
    assert [f.tolist() for f, _ in pairs] == [[0, 1], [2, 3], [4], [0, 1]]
    no_adv = batch_schedule(5, 0, 2, 3, generator=torch.Generator(), sequential=True)
    assert [(f.tolist(), a) for f, a in (next(no_adv) for _ in range(4))] == [
        ([0, 1], None), ([2, 3], None), ([4], None), ([0, 1], None)]


def test_our_schedule_draws_at_random_with_the_seeded_generator():
    from unlearnlab.methods.l2ul import batch_schedule

    draws = [batch_schedule(20, 50, 4, 8, generator=torch.Generator().manual_seed(3), sequential=False)
             for _ in range(2)]
    first, second = ([next(d) for _ in range(3)] for d in draws)
    for (f1, a1), (f2, a2) in zip(first, second, strict=True):
        assert torch.equal(f1, f2) and torch.equal(a1, a2) and len(f1) == 4 and len(a1) == 8


def test_mas_on_batch_means_is_the_reference_variant():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x = torch.randn(8, 1, 2, 2)
    per_sample = mas_importance(model, x)
    batched = mas_importance(model, x, batch_size=4)
    one, one_batched = mas_importance(model, x[:1]), mas_importance(model, x[:1], batch_size=1)
    assert all(torch.allclose(one[n], one_batched[n]) for n in one)
    for name in per_sample:
        assert 0 <= batched[name].min() and batched[name].max() <= 1
    assert not all(torch.allclose(per_sample[n], batched[n]) for n in per_sample), \
        "gradients of batch means are not means of per-sample gradient magnitudes"


def test_reference_loop_moves_batchnorm_statistics_and_ours_does_not(original, instance_request):
    def running_means(model):
        return [m.running_mean.clone() for m in model.modules() if isinstance(m, nn.BatchNorm2d)]

    before = running_means(original.model)
    assert before, "the smoke model has BatchNorm"
    moved = {}
    for reference in (False, True):
        request = instance_request(k=8)
        model = methods.get_method("l2ul").fn(copy.deepcopy(original.model), request,
                                             **{**FAST, "max_steps": 5}, reference_loop=reference)
        assert request.report["reference_loop"] is reference and request.report["steps"] >= 1
        assert not model.training
        moved[reference] = any(not torch.equal(a, b) for a, b in zip(before, running_means(model), strict=True))
    assert moved == {False: False, True: True}
