"""Datasets (loaders tested on small files in torchvision's on-disk formats) and splits."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from unlearnlab import data, paths


def _write_idx_set(raw, n_train=30, n_test=12, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    raw.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        data.write_idx(raw / f"{split}-images-idx3-ubyte{suffix}", images)
        data.write_idx(raw / f"{split}-labels-idx1-ubyte{suffix}", labels)
        arrays[split] = (images, labels)
    return arrays


def _no_download(monkeypatch):
    def refuse(name, root):
        raise OSError("no network in this test")

    monkeypatch.setattr(data, "_torchvision_download", refuse)


def test_idx_roundtrip_plain_and_gzipped(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a.idx", "b.idx.gz"):
        data.write_idx(tmp_path / name, array)
        assert torch.equal(data.read_idx(tmp_path / name), torch.from_numpy(array))


def test_idx_rejects_truncated_file(tmp_path):
    data.write_idx(tmp_path / "x", np.zeros((4, 5), dtype=np.uint8))
    (tmp_path / "x").write_bytes((tmp_path / "x").read_bytes()[:-3])
    with pytest.raises(ValueError, match="header says"):
        data.read_idx(tmp_path / "x")


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_idx_datasets_load_from_data_folder(tmp_path, monkeypatch, name, folder):
    _no_download(monkeypatch)
    monkeypatch.setattr(paths, "SYSTEM_FASHION_MNIST", tmp_path / "nowhere")
    arrays = _write_idx_set(tmp_path / folder / "raw")
    ds = data.load_dataset(name, root=tmp_path)
    assert ds.x_train.shape == (30, 1, 28, 28) and ds.x_train.dtype == torch.uint8
    assert ds.x_test.shape == (12, 1, 28, 28)
    assert torch.equal(ds.x_train[:, 0], torch.from_numpy(arrays["train"][0]))
    assert torch.equal(ds.y_test, torch.from_numpy(arrays["t10k"][1]).long())
    assert ds.num_classes == 10 and len(ds.classes) == 10


def test_fashion_mnist_falls_back_to_the_system_copy(tmp_path, monkeypatch):
    _no_download(monkeypatch)
    system = tmp_path / "system"
    arrays = _write_idx_set(system, gz=True)
    monkeypatch.setattr(paths, "SYSTEM_FASHION_MNIST", system)
    ds = data.load_dataset("fashion_mnist", root=tmp_path / "data")
    assert torch.equal(ds.x_train[:, 0], torch.from_numpy(arrays["train"][0]))
    # unpacked once into torchvision's layout, so the next load reads data/
    assert (tmp_path / "data" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").exists()


def test_missing_dataset_error_names_every_way(tmp_path, monkeypatch):
    _no_download(monkeypatch)
    monkeypatch.setattr(paths, "SYSTEM_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(data.DataUnavailableError) as err:
        data.load_dataset("fashion_mnist", root=tmp_path)
    message = str(err.value)
    assert "FashionMNIST/raw" in message
    assert "dataset-fashion-mnist" in message
    assert "torchvision" in message and "no network in this test" in message


def _write_cifar(root, name):
    rng = np.random.default_rng(1)
    if name == "cifar10":
        base = root / "cifar-10-batches-py"
        files = {f"data_batch_{i}": 4 for i in range(1, 6)} | {"test_batch": 6}
        key, classes = "labels", 10
    else:
        base = root / "cifar-100-python"
        files = {"train": 20, "test": 8}
        key, classes = "fine_labels", 100
    base.mkdir(parents=True)
    written = {}
    for fname, n in files.items():
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 key: list(rng.integers(0, classes, n)), "coarse_labels": [0] * n}
        with open(base / fname, "wb") as f:
            pickle.dump(batch, f)
        written[fname] = batch
    return written


def test_cifar10_loads_pickled_batches(tmp_path, monkeypatch):
    _no_download(monkeypatch)
    written = _write_cifar(tmp_path, "cifar10")
    ds = data.load_dataset("cifar10", root=tmp_path)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (6, 3, 32, 32)
    first = torch.from_numpy(written["data_batch_1"]["data"][0].reshape(3, 32, 32))
    assert torch.equal(ds.x_train[0], first)
    assert ds.y_test.tolist() == [int(v) for v in written["test_batch"]["labels"]]
    assert ds.classes[0] == "airplane"


def test_cifar100_has_twenty_superclasses_of_five(tmp_path, monkeypatch):
    _no_download(monkeypatch)
    _write_cifar(tmp_path, "cifar100")
    ds = data.load_dataset("cifar100", root=tmp_path)
    assert ds.num_classes == 100 and len(ds.superclasses) == 20
    members = [c for ids in ds.superclasses.values() for c in ids]
    assert sorted(members) == list(range(100))
    assert {ds.classes[c] for c in ds.superclasses["people"]} == {"baby", "boy", "girl", "man", "woman"}


def test_unknown_dataset_names_the_choices():
    with pytest.raises(ValueError, match="digits, fashion_mnist, mnist, cifar10, cifar100"):
        data.load_dataset("imagenet")


def test_digits_are_uint8_and_normalize_to_zero_mean(digits):
    assert digits.x_train.dtype == torch.uint8 and digits.x_train.shape[1:] == (1, 8, 8)
    normalized = digits.normalize(digits.x_train)
    assert abs(float(normalized.mean())) < 1e-3
    assert abs(float(normalized.std()) - 1) < 1e-2


def test_train_subset_is_seeded_and_stratified():
    a = data.load_dataset("digits", train_subset=500, subset_seed=3)
    b = data.load_dataset("digits", train_subset=500, subset_seed=3)
    c = data.load_dataset("digits", train_subset=500, subset_seed=4)
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.x_train, c.x_train)
    full = data.load_dataset("digits").y_train.bincount().double()
    expected = full * 500 / full.sum()
    assert len(a.y_train) == 500
    assert (a.y_train.bincount() - expected).abs().max() <= 1
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_test_subset_is_stratified_and_the_same_for_every_seed():
    a = data.load_dataset("digits", train_subset=500, subset_seed=3, test_subset=100)
    b = data.load_dataset("digits", train_subset=500, subset_seed=4, test_subset=100)
    assert len(a.y_test) == 100 and torch.equal(a.x_test, b.x_test), "every seed tests on the same images"
    assert a.y_test.bincount().max() - a.y_test.bincount().min() <= 1
    assert len(data.load_dataset("digits").y_test) == 360


def test_class_split_partitions_the_training_set(digits):
    split = data.class_split(digits, [2, 7])
    assert split.scenario == "classes" and split.forget_classes == (2, 7)
    assert set(digits.y_train[split.forget_indices].tolist()) == {2, 7}
    assert not set(digits.y_train[split.retain_indices].tolist()) & {2, 7}
    union = torch.cat([split.forget_indices, split.retain_indices]).sort().values
    assert torch.equal(union, torch.arange(len(digits.y_train)))


def test_single_class_split(digits):
    split = data.class_split(digits, 4)
    assert split.scenario == "class" and split.forget_classes == (4,)


@pytest.mark.parametrize("classes, message", [
    ([], "empty"),
    ([1, 1], "Duplicate"),
    ([10], r"out of range.*0\.\.9"),
    ([-1], "out of range"),
    (list(range(10)), "every class"),
])
def test_bad_class_requests_are_explained(digits, classes, message):
    with pytest.raises(ValueError, match=message):
        data.class_split(digits, classes)


def test_instance_split_is_seeded_and_validated(digits):
    a = data.instance_split(digits, 16, seed=0)
    assert torch.equal(a.forget_indices, data.instance_split(digits, 16, seed=0).forget_indices)
    assert not torch.equal(a.forget_indices, data.instance_split(digits, 16, seed=1).forget_indices)
    assert a.num_forget == 16 and len(a.retain_indices) == len(digits.y_train) - 16
    assert a.scenario == "instance" and a.forget_classes == ()
    with pytest.raises(ValueError, match="not smaller than the training set"):
        data.instance_split(digits, len(digits.y_train), seed=0)
    with pytest.raises(ValueError, match="positive"):
        data.instance_split(digits, 0, seed=0)


def test_superclass_split_and_uniform_sample(tmp_path, monkeypatch):
    _no_download(monkeypatch)
    _write_cifar(tmp_path, "cifar100")
    ds = data.load_dataset("cifar100", root=tmp_path)
    split = data.superclass_split(ds, ["fish", "trees"])
    assert split.scenario == "superclass" and len(split.forget_classes) == 10
    with pytest.raises(ValueError, match="Unknown superclass"):
        data.superclass_split(ds, ["dragons"])
    uniform = data.uniform_class_sample(ds, 40, seed=0)
    per_super = [len(set(uniform) & set(ids)) for ids in ds.superclasses.values()]
    assert len(uniform) == 40 and per_super == [2] * 20


def test_superclass_split_needs_superclasses(digits):
    with pytest.raises(ValueError, match="no superclasses"):
        data.superclass_split(digits, "fish")
