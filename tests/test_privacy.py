"""Per-example privacy scores: each score on distributions whose answer is known, then a
smoke pool in which retrain against retrain is indistinguishable and the original
against retrain exposed, a method scored from every original, and the cost-fidelity
curve."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unlearnlab import paths, privacy


def test_logit_confidence_and_margin_on_known_logits():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 5.0, 1.0]])
    labels = torch.tensor([0, 2])
    p = torch.softmax(logits, 1)
    expected = torch.log(p[[0, 1], labels] / (1 - p[[0, 1], labels]))
    assert torch.allclose(privacy.logit_confidence(logits, labels), expected, atol=1e-5)
    assert privacy.margin(logits, labels).tolist() == [2.0, -4.0]
    # where p rounds to 1 in float32 the statistic stays finite and ordered
    confident = torch.tensor([[60.0, 0.0], [80.0, 0.0]])
    phi = privacy.logit_confidence(confident, torch.tensor([0, 0]))
    assert torch.isfinite(phi).all() and phi[1] > phi[0]


def test_epsilon_is_small_for_the_same_distribution_and_capped_when_separable():
    rng = np.random.default_rng(0)
    same = privacy.example_epsilon(rng.normal(size=64), rng.normal(size=64))
    apart = privacy.example_epsilon(rng.normal(size=64), rng.normal(5, 1, size=64))
    shifted = privacy.example_epsilon(rng.normal(size=64), rng.normal(1, 1, size=64))
    # with 64 models a side, sampling alone shows about 2 (the tails of an empirical rate):
    # why every comparison is read against retrain against retrain at the same N
    assert same < shifted < apart and same < math.log(63)
    assert privacy.example_epsilon(np.zeros(8), np.ones(8)) == privacy.EPSILON_CAP  # no overlap at all
    assert privacy.example_epsilon(np.ones(8), np.ones(8)) == 0.0  # nothing to tell apart
    # an interval rule catches a distribution hidden inside the other's range
    inner = privacy.example_epsilon(rng.normal(0, 0.1, size=64), rng.normal(0, 3, size=64))
    assert inner > 1.0


def test_forgetting_score_buckets_epsilon_into_powers_of_two():
    # N = 64: buckets of 0.5 up to ceil(log 63) = 5
    assert privacy.forgetting_score(np.array([0.0, 0.2]), 64) == 1.0
    assert privacy.forgetting_score(np.array([0.6]), 64) == 0.5
    assert privacy.forgetting_score(np.array([1.2, 0.0]), 64) == pytest.approx((0.25 + 1.0) / 2)
    assert privacy.forgetting_score(np.array([50.0]), 64) == pytest.approx(2.0 ** -10)


def test_klom_and_ulira_tell_apart_only_what_differs():
    rng = np.random.default_rng(1)
    same_a, same_b = rng.normal(size=(32, 5)), rng.normal(size=(32, 5))
    far = rng.normal(4, 1, size=(32, 5))
    assert privacy.klom(same_a, same_b).mean() < 0.5 < privacy.klom(far, same_b).mean()
    assert abs(privacy.ulira(same_a, same_b).mean() - 0.5) < 0.15
    assert privacy.ulira(far, same_b).mean() > 0.95
    with pytest.raises(ValueError, match="at least 4"):
        privacy.ulira(same_a[:3], same_b[:3])


@pytest.fixture(scope="module")
def pool(smoke, tmp_path_factory):
    import os

    old = os.environ.get("UNLEARNLAB_RUNS")
    os.environ["UNLEARNLAB_RUNS"] = str(tmp_path_factory.mktemp("runs"))
    try:
        yield privacy.build_pool(smoke, 12, request="class")
    finally:
        if old is None:
            os.environ.pop("UNLEARNLAB_RUNS")
        else:
            os.environ["UNLEARNLAB_RUNS"] = old


def test_known_answers_on_a_smoke_pool(pool):
    known = privacy.known_answers(pool).set_index("case")
    same, exposed = known.loc["retrain vs retrain (halves)"], known.loc["original vs retrain"]
    assert same.n_models == exposed.n_models == 6
    assert same.ulira_acc <= 0.75 and exposed.ulira_acc >= 0.95
    assert same.forgetting_score > 3 * exposed.forgetting_score  # at 6 models F spans 1/16..1
    assert same.klom_mean < exposed.klom_mean
    assert exposed.epsilon_mean > same.epsilon_mean


def test_a_method_is_scored_from_every_original_and_the_pool_grows_without_retraining(pool, smoke):
    runs = paths.cache_dir()
    before = len(list(runs.glob("pool-member-*.pt")))
    side = privacy.score_method(pool, "finetune")
    assert side["phi"].shape == (6, pool.split.num_forget)  # one run from each compared original
    assert len(list(runs.glob("pool-member-*.pt"))) == before + 6
    privacy.score_method(pool, "finetune")  # cached: nothing new
    assert len(list(runs.glob("pool-member-*.pt"))) == before + 6
    table = privacy.method_table(pool, ["original", "finetune"]).set_index("method")
    assert (table.forgetting_low <= table.forgetting_score).all()
    assert (table.forgetting_score <= table.forgetting_high).all()
    assert (table.n_models == 6).all()
    lines = privacy.verdicts(table.reset_index(), privacy.known_answers(pool),
                             float(pool.sides["retrain"]["acc_forget"].mean()))
    assert lines[0].startswith("original: distinguishable from retrain")  # a class request: fully exposed
    blind = table.reset_index().assign(forgetting_high=1.0)  # as if the originals reached retrain's score
    (line,) = privacy.verdicts(blind, privacy.known_answers(pool), 0.0)
    assert line.startswith("UNTESTABLE HERE: the originals themselves are indistinguishable")
    bigger = privacy.build_pool(smoke, 14, request="class")  # 2 more per side, 24 reused
    assert len(list(runs.glob("pool-member-*.pt"))) == before + 6 + 4
    assert np.array_equal(bigger.sides["original"]["phi"][:12], pool.sides["original"]["phi"])
    fidelity = privacy.rank_fidelity(pool, ["original", "finetune"], [4, 6, 8], draws=5)
    assert fidelity.n.tolist() == [4, 6] and fidelity.tau.iloc[-1] == 1.0  # 8 is more than the pool compares
    assert math.isfinite(fidelity.tau.iloc[0])
    assert paths.cache_dir() == runs


def test_a_tuned_setting_is_scored_beside_the_default(pool, smoke):
    tuned = {"finetune": {**smoke.method_kwargs("finetune"), "lr": 1e-4}}
    labels = privacy.score_methods(pool, ["finetune", "neggrad"], tuned=tuned)
    assert labels == ["finetune", "finetune (tuned)", "neggrad"]
    default, at_tuned = pool.sides["finetune"]["phi"], pool.sides["finetune (tuned)"]["phi"]
    assert default.shape == at_tuned.shape and not np.array_equal(default, at_tuned)


def test_pools_refuse_too_few_models_and_unknown_requests(smoke):
    with pytest.raises(ValueError, match="at least 4"):
        privacy.build_pool(smoke, 3)
    with pytest.raises(ValueError, match="at least 8"):
        privacy.known_answers(privacy.build_pool(smoke, 6))
    with pytest.raises(ValueError, match="request must be one of"):
        privacy.build_pool(smoke, 4, request="everything")
