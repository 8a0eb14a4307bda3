"""From tables to the measurements the claims are judged on (unlearnlab.evidence)."""

from __future__ import annotations

import pandas as pd

from unlearnlab import analysis, evidence, models


def test_stages_of_a_resnet_and_of_the_small_cnn():
    resnet = models.create_model("resnet18", 10, 1, 28, seed=0, width=8)
    assert evidence.conv_stages(resnet) == ["stem", "layer1", "layer2", "layer3", "layer4"]
    assert evidence.late_stages(resnet) == (["layer4", "pool", "fc"], ["stem", "layer1", "layer2", "layer3"])
    assert analysis.last_stages(resnet) == ("layer4", "fc"), "the pool has no weights to reset"
    small = models.create_model("small_cnn", 10, 1, 28, seed=0)
    assert evidence.conv_stages(small) == ["stage1", "stage2"]
    assert evidence.late_stages(small) == (["stage2", "head", "fc"], ["stage1"])
    assert analysis.last_stages(small) == ("head", "fc")


def test_n_is_chosen_by_the_papers_criterion_on_validation_classes_only():
    rows = [  # class a and b choose; class c, judged, would prefer another N
        ("a", 0.1, 0.04, 0.80), ("a", 0.2, 0.00, 0.70), ("a", 0.3, 0.00, 0.60),
        ("b", 0.1, 0.05, 0.82), ("b", 0.2, 0.02, 0.72), ("b", 0.3, 0.00, 0.61),
        ("c", 0.1, 0.90, 0.90), ("c", 0.2, 0.80, 0.80), ("c", 0.3, 0.00, 0.50)]
    trade = pd.DataFrame(rows, columns=["forget", "n_keep", "acc_forget", "acc_test_retain"])
    assert evidence.choose_n(trade, ["a", "b"]) == 0.1, "forget <= 0.05, then the most kept"
    assert evidence.choose_n(trade, ["c"]) == 0.3, "none forgets well enough: the N that forgets most"


def test_validation_classes_are_half_seeded_and_in_order():
    names = [str(i) for i in range(10)]
    first = evidence.validation_classes(names, seed=0)
    assert len(first) == 5 and first == sorted(first, key=names.index)
    assert first == evidence.validation_classes(names, seed=0) != evidence.validation_classes(names, seed=1)


def test_falls_counts_every_decrease():
    assert evidence._falls([1, 2, 3]) == 0 and evidence._falls([3, 2, 4, 1]) == 2
