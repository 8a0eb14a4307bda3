"""Training loops, the device helper, and the checkpoint cache."""

from __future__ import annotations

import json
from contextlib import nullcontext

import pytest
import torch

from unlearnlab import cache, models, training
from unlearnlab.training import TrainConfig


def test_fit_learns_digits_and_is_seeded(digits):
    cfg = TrainConfig(epochs=3, batch_size=64, lr=0.05)
    results = []
    for _ in range(2):
        model = models.create_model("tiny_cnn", 10, 1, 8, seed=0)
        history = training.fit(model, digits.x_train, digits.y_train, cfg,
                               normalize=digits.normalize, seed=0,
                               test=(digits.x_test, digits.y_test))
        results.append((history, model.fc.weight.detach().clone()))
    (h1, w1), (h2, w2) = results
    assert torch.equal(w1, w2), "same seed, same machine: same weights"
    assert h1.train_loss[-1] < h1.train_loss[0]
    assert h1.test_acc[-1] > 0.8
    assert h1.images_seen == 3 * len(digits.y_train) and h1.images_per_second > 0


def test_fit_updates_only_given_params_and_freezes_batchnorm(digits):
    model = models.create_model("tiny_cnn", 10, 1, 8, seed=0)
    stage1 = {k: v.clone() for k, v in model.stage1.state_dict().items()}
    training.fit(model, digits.x_train[:128], digits.y_train[:128], TrainConfig(epochs=1, lr=0.1),
                 normalize=digits.normalize, seed=0, params=list(model.fc.parameters()),
                 freeze_batchnorm=True)
    for k, v in model.stage1.state_dict().items():
        assert torch.equal(v, stage1[k]), k


def test_predict_and_evaluate(digits, original):
    logits = training.predict(original.model, digits.x_test, normalize=digits.normalize, batch_size=50)
    assert logits.shape == (len(digits.y_test), 10) and logits.dtype == torch.float32
    acc = training.evaluate(original.model, digits.x_test, digits.y_test, normalize=digits.normalize)
    assert acc == pytest.approx(float((logits.argmax(1) == digits.y_test).float().mean()))
    assert acc > 0.9


def test_augmentation_keeps_shape_and_moves_pixels():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    gen = torch.Generator().manual_seed(0)
    out = training.augment_batch(x, "crop_flip", gen)
    assert out.shape == x.shape and not torch.equal(out, x)
    assert training.augment_batch(x, "none", gen) is x


def test_cosine_schedule_with_warmup():
    cfg = TrainConfig(epochs=2, lr=1.0, warmup_epochs=1)
    lrs = [training.lr_at(s, 20, cfg, steps_per_epoch=10) for s in range(20)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[-1] < 0.05 and all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))


def test_bad_train_config_is_refused():
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="augment"):
        TrainConfig(augment="mixup")


def test_default_device_honours_override(monkeypatch):
    monkeypatch.setenv("UNLEARNLAB_DEVICE", "cpu")
    assert training.default_device() == torch.device("cpu")


# -- cache ------------------------------------------------------------------------------

def _counting(value):
    calls = []

    def compute():
        calls.append(1)
        return value

    return compute, calls


def test_cache_hits_after_first_compute(runs_dir):
    config = {"test": "hit", "n": 1}
    compute, calls = _counting({"w": torch.ones(3)})
    first = cache.cached("unit", config, compute)
    second = cache.cached("unit", config, compute)
    assert len(calls) == 1 and torch.equal(first["w"], second["w"])
    blob, sidecar = cache.cache_paths("unit", config)
    assert json.loads(sidecar.read_text())["config"] == config
    assert not list(blob.parent.glob(".*.tmp")), "no temporary file left behind"


def test_cache_key_ignores_dict_order_and_follows_values():
    assert cache.config_key({"a": 1, "b": 2}) == cache.config_key({"b": 2, "a": 1})
    assert cache.config_key({"a": 1}) != cache.config_key({"a": 2})
    assert cache.config_key({"cfg": TrainConfig(epochs=1)}) != cache.config_key({"cfg": TrainConfig(epochs=2)})


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "drop_sidecar", "garbage_sidecar"])
def test_damaged_cache_is_recomputed_not_loaded(damage):
    config = {"test": "damage", "kind": damage}
    compute, calls = _counting({"w": torch.arange(1000.0)})
    cache.cached("unit", config, compute)
    blob, sidecar = cache.cache_paths("unit", config)
    raw = blob.read_bytes()
    if damage == "truncate":
        blob.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip_byte":
        i = len(raw) // 2
        blob.write_bytes(raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1:])
    elif damage == "drop_sidecar":
        sidecar.unlink()
    else:
        sidecar.write_text("{not json")
    with pytest.warns(UserWarning, match="damaged cache") if damage != "drop_sidecar" else nullcontext():
        again = cache.cached("unit", config, compute)
    assert len(calls) == 2 and torch.equal(again["w"], torch.arange(1000.0))
    assert cache.load_cached("unit", config) is not None, "recomputed entry is stored again"


def test_original_model_comes_from_cache_the_second_time(smoke, digits, original):
    from unlearnlab import experiment

    again = experiment.train_original(smoke, digits)
    assert again.from_cache
    for a, b in zip(original.model.state_dict().values(), again.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert again.history.test_acc == original.history.test_acc


def test_model_stays_trainable_after_predict(digits):
    """predict runs in inference mode; the model it touched must still train."""
    model = models.create_model("tiny_cnn", 10, 1, 8, seed=0)
    training.predict(model, digits.x_test[:8], normalize=digits.normalize)
    loss = model(digits.normalize(digits.x_test[:8])).sum()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_a_loop_inside_another_shows_no_bar_of_its_own(monkeypatch):
    """One bar per top-level loop: in a notebook each nested bar would leave an output."""
    monkeypatch.setenv("UNLEARNLAB_QUIET", "0")
    made = []

    class Counting(training.tqdm):
        def __init__(self, *args, **kwargs):
            made.append(kwargs.get("desc"))
            super().__init__(*args, disable=True, **kwargs)

    monkeypatch.setattr(training, "tqdm", Counting)
    seen = [(a, b) for a in training.progress(range(3), desc="outer")
            for b in training.progress(range(2), desc="inner")]
    assert len(seen) == 6 and made == ["outer"]
    list(training.progress(range(2), desc="next"))
    assert made == ["outer", "next"], "a loop after the first one has its bar again"


def test_expected_warnings_print_as_lines_in_a_notebook(monkeypatch, capsys):
    import warnings

    from unlearnlab import notices

    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    notices.report_as_lines()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        notices.warn("neggrad DIVERGED: 3 weights are NaN")
    captured = capsys.readouterr()
    assert captured.out == "warning: neggrad DIVERGED: 3 weights are NaN\n" and captured.err == ""
    with pytest.warns(UserWarning, match="someone else's"):  # other warnings: shown as before
        warnings.warn("someone else's", UserWarning, stacklevel=1)
    assert capsys.readouterr().out == ""
