"""Each metric on a case whose answer is known."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from unlearnlab import experiment, methods, metrics

N, K = 400, 10


def _confident(labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Logits that put ``margin`` on the true class (large margin = memorised)."""
    logits = torch.zeros(len(labels), K)
    logits[torch.arange(len(labels)), labels] = margin
    return logits


@pytest.fixture()
def labels():
    return torch.arange(N) % K


@pytest.fixture()
def members_and_nonmembers(labels):
    gen = torch.Generator().manual_seed(0)
    noise = lambda: 0.3 * torch.randn(N, K, generator=gen)  # noqa: E731
    member = _confident(labels, 8.0) + noise()       # memorised: confident, low loss
    nonmember = _confident(labels, 1.0) + noise()    # unseen: uncertain, higher loss
    return member, nonmember


def test_accuracy_and_entropy():
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]])
    assert metrics.accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    assert math.isnan(metrics.accuracy(torch.empty(0, 2), torch.empty(0, dtype=torch.long)))
    uniform = metrics.entropy(torch.zeros(1, 4))
    assert float(uniform) == pytest.approx(math.log(4))


def test_js_divergence_bounds():
    a = torch.tensor([[20.0, -20.0]])
    b = torch.tensor([[-20.0, 20.0]])
    assert float(metrics.js_divergence(a, a)) == pytest.approx(0.0, abs=1e-6)
    assert float(metrics.js_divergence(a, b)) == pytest.approx(1.0, abs=1e-4)


def test_zrf_is_one_for_a_random_copy_and_low_for_a_confident_model(labels):
    random_logits = torch.zeros(N, K)
    assert metrics.zrf_score(random_logits, random_logits) == pytest.approx(1.0)
    # one-hot vs uniform over K classes, mixture m = (onehot + uniform) / 2:
    m_true, m_other = 0.5 + 0.5 / K, 0.5 / K
    kl_onehot = math.log2(1 / m_true)
    kl_uniform = (1 / K) * math.log2((1 / K) / m_true) + (1 - 1 / K) * math.log2((1 / K) / m_other)
    expected = 1 - 0.5 * (kl_onehot + kl_uniform)
    assert metrics.zrf_score(_confident(labels, 30.0), random_logits) == pytest.approx(expected, abs=1e-4)


def test_activation_distance():
    a = torch.tensor([[10.0, -10.0]])
    assert metrics.activation_distance(a, a) == pytest.approx(0.0)
    assert metrics.activation_distance(a, -a) == pytest.approx(math.sqrt(2), abs=1e-4)


def test_entropy_attack_calls_memorised_forget_set_member(members_and_nonmembers):
    member, nonmember = members_and_nonmembers
    assert metrics.mia_entropy_lr(member, nonmember, member.flip(0)) > 0.95
    assert metrics.mia_entropy_lr(member, nonmember, nonmember.flip(0)) < 0.05


def test_svc_attack_calls_unseen_forget_set_nonmember(members_and_nonmembers, labels):
    member, nonmember = members_and_nonmembers
    svc = metrics.mia_svc_confidence
    assert svc(member, labels, nonmember, labels, nonmember, labels) > 0.95
    assert svc(member, labels, nonmember, labels, member, labels) < 0.05


def test_svc_attack_is_monotone_so_a_forgotten_class_reads_non_member(members_and_nonmembers, labels):
    """Class forgetting puts D_f's confidences near 0, below anything the attack saw; a
    monotone attack must call all of them non-members (an RBF kernel need not)."""
    member, nonmember = members_and_nonmembers
    forgotten = _confident((labels + 1) % K, 30.0)  # the true class gets ~0 confidence
    assert metrics.mia_svc_confidence(member, labels, nonmember, labels, forgotten, labels) == 1.0
    grid = torch.linspace(-30, 30, 61)
    logits = torch.stack([grid, torch.zeros(61)], 1)
    confident_order = metrics.true_class_confidence(logits, torch.zeros(61, dtype=torch.long)).argsort()
    calls = [metrics.mia_svc_confidence(member, labels, nonmember, labels, logits[i:i + 1],
                                        torch.zeros(1, dtype=torch.long)) for i in confident_order[::6]]
    assert calls == sorted(calls, reverse=True), "non-member calls fall as confidence rises"


def test_p2_svm_attack_separates_one_class_train_from_test_samples():
    """P2's attack sees one class's samples: train (confident) vs test (less so)."""
    gen = torch.Generator().manual_seed(0)
    one_class = torch.full((N,), 3)
    member = _confident(one_class, 8.0) + 0.3 * torch.randn(N, K, generator=gen)
    nonmember = _confident(one_class, 2.0) + 0.3 * torch.randn(N, K, generator=gen)
    assert metrics.mia_svm_softmax(member, nonmember, nonmember.flip(0)) > 0.95
    assert metrics.mia_svm_softmax(member, nonmember, member.flip(0)) < 0.05


def test_loss_attack_separates_memorised_but_not_unseen(members_and_nonmembers, labels):
    member, nonmember = members_and_nonmembers
    gen = torch.Generator().manual_seed(1)
    other_nonmember = _confident(labels, 1.0) + 0.3 * torch.randn(N, K, generator=gen)
    assert metrics.mia_loss_lr(member, labels, nonmember, labels) > 0.95
    assert abs(metrics.mia_loss_lr(other_nonmember, labels, nonmember, labels) - 0.5) < 0.1
    assert math.isnan(metrics.mia_loss_lr(member[:1], labels[:1], nonmember, labels))


def test_gap_to_retrain_and_speedup():
    table = pd.DataFrame({"method": ["original", "retrain", "fast"],
                          "acc_forget": [1.0, 0.0, 0.1], "time_s": [float("nan"), 100.0, 4.0]})
    out = metrics.add_gap_to_retrain(table, ["acc_forget"])
    assert out["gap_acc_forget"].tolist() == pytest.approx([1.0, 0.0, 0.1])
    assert out.loc[2, "speedup"] == pytest.approx(25.0)
    with pytest.raises(ValueError, match="exactly one retrain"):
        metrics.add_gap_to_retrain(table[table.method != "retrain"], ["acc_forget"])


def test_evaluation_tells_original_from_retrain(smoke, digits, class_split, original):
    """Known answer on real models: the original memorised D_f, retrain never saw it."""
    request = experiment.make_request(smoke, digits, class_split)
    evaluation = experiment.make_evaluation(smoke, digits, class_split)
    table, _ = experiment.compare_methods(original.model, request, evaluation, {})
    orig, retrain = (table[table.method == m].iloc[0] for m in ("original", "retrain"))
    assert orig.acc_forget > 0.95 and retrain.acc_forget == 0.0
    assert retrain.acc_test_forget == 0.0 and retrain.acc_test_retain > 0.85
    assert retrain.mia_svc_nonmember > orig.mia_svc_nonmember + 0.5
    assert retrain.mia_entropy_lr_member < orig.mia_entropy_lr_member
    assert retrain.js_to_retrain == pytest.approx(0.0, abs=1e-6)
    assert orig.js_to_retrain > 0.5 and retrain.zrf > orig.zrf


def test_a_setting_given_twice_runs_once(smoke, digits, class_split, original):
    """A tuned setting that kept the defaults is the same run: its row repeats the first."""
    request = experiment.make_request(smoke, digits, class_split)
    evaluation = experiment.make_evaluation(smoke, digits, class_split)
    default = methods.get_method("finetune").defaults
    runs = {"finetune": ("finetune", {"epochs": 1}),
            "finetune (tuned)": ("finetune", {"lr": default["lr"], "epochs": 1}),
            "finetune (lr x3)": ("finetune", {"lr": default["lr"] * 3, "epochs": 1})}
    table, models = experiment.compare_methods(original.model, request, evaluation, runs)
    rows = table.set_index("method")
    assert models["finetune (tuned)"] is models["finetune"]
    assert models["finetune (lr x3)"] is not models["finetune"]
    assert rows.loc["finetune (tuned)", "cached"] and not rows.loc["finetune (lr x3)", "cached"]
    shared = ["time_s", "acc_forget", "acc_test", "gap_acc_forget"]
    assert rows.loc["finetune (tuned)", shared].tolist() == rows.loc["finetune", shared].tolist()


def test_summarize_and_save_results(runs_dir):
    table = pd.DataFrame({"method": ["a"], "acc": [0.12345], "none": [float("nan")]})
    text = metrics.summarize(table, ["method", "acc", "none"], digits=2)
    assert "0.12" in text and "—" in text and "nan" not in text
    path = metrics.save_results(table, "99-test", "smoke")
    assert path == runs_dir / "smoke" / "results" / "99-test.csv"
    assert pd.read_csv(path)["acc"].iloc[0] == pytest.approx(0.12345)


def test_per_class_accuracy():
    table = metrics.per_class_accuracy(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]),
                                       ["a", "b", "c", "d"])
    assert table["accuracy"].tolist()[:3] == [1.0, 1.0, 0.5] and math.isnan(table["accuracy"][3])
    assert table["n"].tolist() == [1, 1, 2, 0]


def test_a_diverging_models_huge_logits_are_scored_not_crashed_on(smoke, digits, class_split, original):
    """Finite logits of 1e30 and more (a model on its way to NaN) made log-softmax -inf and
    the attacks' features NaN, and scikit-learn refused them (notebook 03, seed 1, cpu)."""
    evaluation = experiment.make_evaluation(smoke, digits, class_split)
    logits = evaluation.logits(original.model)
    huge = {name: v * 1e36 for name, v in logits.items()}
    assert torch.isfinite(huge["forget"]).all()
    row = evaluation.evaluate(logits=huge)
    attacks = ("mia_entropy_lr_member", "mia_svc_nonmember", "mia_loss_lr_acc")
    assert all(math.isfinite(row[c]) for c in attacks)
    assert row["nonfinite_outputs"] == 0.0
    assert row["acc_forget"] == evaluation.evaluate(logits=logits)["acc_forget"], "argmax kept"
