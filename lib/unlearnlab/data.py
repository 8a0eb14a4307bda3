"""Datasets as in-memory tensors and the forget/retain splits of every scenario.

Images are stored as ``uint8`` tensors of shape (N, C, H, W); normalisation happens on
batches, on the device (:meth:`Dataset.normalize`). Labels are ``int64``.

Files are read in torchvision's on-disk formats (IDX for MNIST-like sets, the pickled
batches for CIFAR) by small readers here, so that the same code reads the files that
torchvision downloads, Debian's copy of Fashion-MNIST, and the small files the tests
write. Resolution order for a dataset: ``data/<torchvision layout>``, then a system copy
(Debian's ``dataset-fashion-mnist``), then torchvision's download.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from . import paths

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
MNIST_CLASSES = tuple(str(i) for i in range(10))
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
#: The 20 CIFAR-100 superclasses and their five fine classes each (Krizhevsky 2009).
CIFAR100_SUPERCLASSES: dict[str, tuple[str, ...]] = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
CIFAR100_CLASSES = tuple(sorted(c for fine in CIFAR100_SUPERCLASSES.values() for c in fine))

DATASETS = ("digits", "fashion_mnist", "mnist", "cifar10", "cifar100")


class DataUnavailableError(RuntimeError):
    """No copy of a dataset could be found or downloaded."""


@dataclass(frozen=True)
class Dataset:
    """A labelled image dataset held in memory.

    ``x_*`` are uint8 (N, C, H, W); ``mean``/``std`` are per channel on the [0, 1] scale
    and are applied by :meth:`normalize`. ``superclasses`` maps a superclass name to its
    class ids (CIFAR-100 only). ``source_indices`` gives each training image's index in
    the full training split (None: the full split itself), so that requests drawn on
    different subsets can be kept disjoint.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    superclasses: dict[str, tuple[int, ...]] = field(default_factory=dict)
    source_indices: torch.Tensor | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[-1])

    @cached_property
    def fingerprint(self) -> str:
        """Hash of the contents (images, labels), so cache keys follow the data."""
        digest = hashlib.sha256(self.name.encode())
        for t in (self.x_train, self.y_train, self.x_test, self.y_test):
            digest.update(str(tuple(t.shape)).encode())
            digest.update(t.contiguous().numpy().tobytes())
        return digest.hexdigest()[:20]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (or [0, 1] float) images to the float input the models expect."""
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        return (x - mean) / std

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={tuple(self.x_train.shape)}, "
            f"test={tuple(self.x_test.shape)}, classes={self.num_classes})"
        )


# --------------------------------------------------------------------------------------
# File readers (torchvision's on-disk formats)


def read_idx(path: Path) -> torch.Tensor:
    """Read an IDX file (plain or gzipped) as used by MNIST and Fashion-MNIST."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    data = np.frombuffer(raw, dtype=np.uint8, offset=offset)
    if data.size != expected:
        raise ValueError(f"{path}: header says {expected} bytes of data, file has {data.size}")
    return torch.from_numpy(data.reshape(dims).copy())


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped if the name ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def read_cifar_batch(path: Path, label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one pickled CIFAR batch: images (N, 3, 32, 32) uint8 and labels."""
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    x = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    y = np.asarray(batch[label_key], dtype=np.int64)
    return torch.from_numpy(x.copy()), torch.from_numpy(y)


# --------------------------------------------------------------------------------------
# Loaders

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_TORCHVISION_FOLDER = {"fashion_mnist": "FashionMNIST", "mnist": "MNIST"}


def _idx_raw_dir(name: str, root: Path) -> Path:
    return root / _TORCHVISION_FOLDER[name] / "raw"


def _has_idx(raw: Path) -> bool:
    return all((raw / f).exists() for split in _IDX_FILES.values() for f in split)


def _install_system_fashion_mnist(raw: Path, system_dir: Path) -> bool:
    """Gunzip Debian's Fashion-MNIST into torchvision's raw layout; True on success."""
    sources = [system_dir / f"{f}.gz" for split in _IDX_FILES.values() for f in split]
    if not all(s.exists() for s in sources):
        return False
    raw.mkdir(parents=True, exist_ok=True)
    for src in sources:
        dst = raw / src.name[: -len(".gz")]
        tmp = dst.with_suffix(".tmp")
        with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        tmp.replace(dst)
    return True


def _torchvision_download(name: str, root: Path) -> None:
    import torchvision.datasets as tvd

    cls = {
        "fashion_mnist": tvd.FashionMNIST, "mnist": tvd.MNIST,
        "cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100,
    }[name]
    for train in (True, False):
        cls(str(root), train=train, download=True)


def _unavailable(name: str, root: Path, location: str, error: Exception | None) -> DataUnavailableError:
    ways = [f"1. put the files in {location} (torchvision's layout)"]
    if name == "fashion_mnist":
        ways.append(
            f"2. as root: `apt-get update && apt-get install -y dataset-fashion-mnist` "
            f"(installs {paths.SYSTEM_FASHION_MNIST})"
        )
    ways.append(f"{len(ways) + 1}. let torchvision download it into {root} (needs internet)")
    reason = f" The download failed: {error}" if error else ""
    return DataUnavailableError(
        f"Dataset {name!r} not found. Ways to provide it:\n  " + "\n  ".join(ways) + reason
    )


def _load_idx_dataset(name: str, root: Path, download: bool) -> tuple[torch.Tensor, ...]:
    raw = _idx_raw_dir(name, root)
    if not _has_idx(raw) and name == "fashion_mnist":
        _install_system_fashion_mnist(raw, paths.SYSTEM_FASHION_MNIST)
    if not _has_idx(raw):
        error = None
        if download:
            try:
                _torchvision_download(name, root)
            except Exception as exc:  # network errors come in many types
                error = exc
        if not _has_idx(raw):
            raise _unavailable(name, root, str(raw), error)
    out = []
    for images, labels in _IDX_FILES.values():
        out += [read_idx(raw / images).unsqueeze(1), read_idx(raw / labels).long()]
    return tuple(out)


_CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels"),
}


def _load_cifar(name: str, root: Path, download: bool) -> tuple[torch.Tensor, ...]:
    folder, train_files, test_files, label_key = _CIFAR_FILES[name]
    base = root / folder
    files = [base / f for f in train_files + test_files]
    if not all(f.exists() for f in files):
        error = None
        if download:
            try:
                _torchvision_download(name, root)
            except Exception as exc:
                error = exc
        if not all(f.exists() for f in files):
            raise _unavailable(name, root, str(base), error)
    out = []
    for group in (train_files, test_files):
        parts = [read_cifar_batch(base / f, label_key) for f in group]
        out += [torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])]
    return tuple(out)


def _load_digits() -> tuple[torch.Tensor, ...]:
    """scikit-learn's 8x8 digits, split 80/20 stratified with a fixed seed (0)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    # values are 0..16; scale to the uint8 range like every other dataset
    images = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, bunch.target, test_size=0.2, stratify=bunch.target, random_state=0
    )
    to_x = lambda a: torch.from_numpy(a).unsqueeze(1)  # noqa: E731
    to_y = lambda a: torch.from_numpy(a.astype(np.int64))  # noqa: E731
    return to_x(x_tr), to_y(y_tr), to_x(x_te), to_y(y_te)


def _channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    xf = x.float().div(255.0)
    mean = xf.mean(dim=(0, 2, 3))
    std = xf.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(round(float(m), 4) for m in mean), tuple(round(float(s), 4) for s in std)


def load_dataset(
    name: str,
    *,
    root: Path | str | None = None,
    download: bool = True,
    train_subset: int | None = None,
    subset_seed: int = 0,
    test_subset: int | None = None,
) -> Dataset:
    """Load a dataset by name into memory.

    ``train_subset`` keeps a seeded, class-stratified subset of that many training
    images; ``test_subset`` one of the test images (seed 0 whatever ``subset_seed``:
    every seed of a preset is tested on the same images; None keeps the whole test set).
    Normalisation statistics are computed on the training images that are kept.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    root = Path(root) if root is not None else paths.DATA_DIR
    superclasses: dict[str, tuple[int, ...]] = {}
    if name == "digits":
        x_tr, y_tr, x_te, y_te = _load_digits()
        classes = MNIST_CLASSES
    elif name in _TORCHVISION_FOLDER:
        x_tr, y_tr, x_te, y_te = _load_idx_dataset(name, root, download)
        classes = FASHION_MNIST_CLASSES if name == "fashion_mnist" else MNIST_CLASSES
    else:
        x_tr, y_tr, x_te, y_te = _load_cifar(name, root, download)
        if name == "cifar10":
            classes = CIFAR10_CLASSES
        else:
            classes = CIFAR100_CLASSES
            index = {c: i for i, c in enumerate(classes)}
            superclasses = {
                sup: tuple(index[c] for c in fine) for sup, fine in CIFAR100_SUPERCLASSES.items()
            }
    source = None
    if train_subset is not None:
        source = stratified_subset(y_tr, train_subset, seed=subset_seed)
        x_tr, y_tr = x_tr[source], y_tr[source]
    if test_subset is not None:
        keep = stratified_subset(y_te, test_subset, seed=0)
        x_te, y_te = x_te[keep], y_te[keep]
    mean, std = _channel_stats(x_tr)
    return Dataset(name, x_tr, y_tr, x_te, y_te, classes, mean, std, superclasses,
                   source_indices=source)


def stratified_subset(labels: torch.Tensor, size: int, *, seed: int) -> torch.Tensor:
    """Indices of a seeded subset of ``size`` samples with class proportions kept."""
    n = len(labels)
    if not 0 < size <= n:
        raise ValueError(f"Subset size must be in 1..{n}, got {size}")
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=gen)
    # rank of each sample inside its class, in the random order: taking the lowest
    # normalised ranks first keeps every class at its share
    ranks = torch.empty(n)
    for c in labels.unique():
        members = order[labels[order] == c]
        ranks[members] = torch.arange(len(members), dtype=torch.float32) / len(members)
    keep = order[torch.argsort(ranks[order], stable=True)[:size]]
    return keep.sort().values


# --------------------------------------------------------------------------------------
# Forget / retain splits

SCENARIOS = ("class", "classes", "superclass", "instance")



def index_hash(indices: torch.Tensor) -> str:
    """A short stable hash of a set of sample indices, for cache keys (a cached result
    follows the exact samples it was computed on)."""
    return hashlib.sha256(indices.contiguous().numpy().tobytes()).hexdigest()[:20]

@dataclass(frozen=True)
class ForgetSplit:
    """Which training samples are to be forgotten (D_f) and which retained (D_r).

    ``forget_classes`` is empty for the instance scenario. Indices refer to the
    dataset's training set and are sorted.
    """

    scenario: str
    forget_classes: tuple[int, ...]
    forget_indices: torch.Tensor
    retain_indices: torch.Tensor
    description: str

    def __post_init__(self) -> None:
        """Refuse a split that is not a partition of the training set into a non-empty
        D_f and a non-empty D_r (the builders below always make one)."""
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {SCENARIOS}, got {self.scenario!r}")
        for name, what in (("forget_indices", "D_f"), ("retain_indices", "D_r")):
            value = getattr(self, name)
            if isinstance(value, torch.Tensor) and value.numel() == 0:
                raise ValueError(f"{what} is empty: a split must {'forget' if what == 'D_f' else 'retain'} "
                                 f"at least one sample")
            if not isinstance(value, torch.Tensor) or value.dim() != 1 or value.is_floating_point() \
                    or value.dtype == torch.bool:
                raise TypeError(f"{name} must be a 1-D integer tensor of training-set indices, "
                                f"got {type(value).__name__}"
                                + (f" of {value.dtype}" if isinstance(value, torch.Tensor) else ""))
        forget, retain = self.forget_indices, self.retain_indices
        both = torch.cat([forget, retain])
        if int(both.min()) < 0:
            raise ValueError(f"Negative training-set indices in the split: {both[both < 0][:5].tolist()}")
        if len(forget.unique()) != len(forget):
            raise ValueError("forget_indices holds duplicates")
        if len(retain.unique()) != len(retain):
            raise ValueError("retain_indices holds duplicates")
        if torch.isin(forget, retain).any():
            raise ValueError(f"D_f and D_r overlap at {forget[torch.isin(forget, retain)][:5].tolist()}")
        if int(both.max()) != len(both) - 1:
            raise ValueError(
                f"D_f and D_r must together cover the training set 0..{len(both) - 1} "
                f"(largest index is {int(both.max())})")

    @property
    def num_forget(self) -> int:
        return len(self.forget_indices)

    @property
    def num_train(self) -> int:
        """Size of the training set the split partitions."""
        return len(self.forget_indices) + len(self.retain_indices)

    def __repr__(self) -> str:
        return (
            f"ForgetSplit({self.description}: |D_f|={self.num_forget}, "
            f"|D_r|={len(self.retain_indices)})"
        )


def class_id(dataset: Dataset, value: int | str) -> int:
    """A class given by id (int or numpy integer) or by its name in ``dataset.classes``
    ("Coat", "T-shirt/top"); floats, bools and unknown names are refused by name."""
    if isinstance(value, str):
        if value in dataset.classes:
            return dataset.classes.index(value)
        if value.strip().lstrip("-").isdigit():
            raise ValueError(f"Class {value!r} is a string: pass the id {int(value)} as an int, "
                             f"or a class name of {dataset.name}: {', '.join(dataset.classes[:12])}"
                             f"{', ...' if dataset.num_classes > 12 else ''}")
        raise ValueError(f"No class named {value!r} in {dataset.name}; its classes are: "
                         f"{', '.join(dataset.classes[:12])}{', ...' if dataset.num_classes > 12 else ''}")
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"A class id must be an int, got the bool {value!r}")
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_floating_point() \
            and value.dtype != torch.bool:
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    raise TypeError(f"A class id must be an int or a class name, got {type(value).__name__} {value!r}")


def _as_class_list(dataset: Dataset, classes) -> list[int]:
    """One class or several, never a string taken character by character."""
    if isinstance(classes, (str, int, np.integer)) or (
            isinstance(classes, torch.Tensor) and classes.dim() == 0):
        return [class_id(dataset, classes)]
    if not isinstance(classes, (Sequence, np.ndarray, torch.Tensor, set, frozenset)):
        raise TypeError(f"Classes must be an id, a name or a sequence of them, got {type(classes).__name__}")
    return [class_id(dataset, c) for c in classes]


def _check_classes(dataset: Dataset, classes: Sequence[int]) -> tuple[int, ...]:
    classes = tuple(classes)
    if not classes:
        raise ValueError("The forget set is empty: name at least one class to forget")
    if len(set(classes)) != len(classes):
        dupes = sorted({c for c in classes if classes.count(c) > 1})
        raise ValueError(f"Duplicate classes in the forget set: {dupes}")
    bad = [c for c in classes if not 0 <= c < dataset.num_classes]
    if bad:
        raise ValueError(
            f"Class id(s) {bad} out of range for {dataset.name}: valid ids are "
            f"0..{dataset.num_classes - 1} ({', '.join(dataset.classes[:10])}"
            f"{', ...' if dataset.num_classes > 10 else ''})"
        )
    if len(classes) == dataset.num_classes:
        raise ValueError(
            f"Cannot forget every class of {dataset.name}: nothing would be left to retain"
        )
    return tuple(sorted(classes))


def class_split(dataset: Dataset, classes: int | str | Sequence[int | str]) -> ForgetSplit:
    """Forget one class or several whole classes (P1, P2, P4), by id or by name
    (``class_split(ds, "Coat")``, ``class_split(ds, [0, "Bag"])``)."""
    classes = _check_classes(dataset, _as_class_list(dataset, classes))
    in_forget = torch.isin(dataset.y_train, torch.tensor(classes))
    names = ", ".join(dataset.classes[c] for c in classes[:5]) + (", ..." if len(classes) > 5 else "")
    return ForgetSplit(
        scenario="class" if len(classes) == 1 else "classes",
        forget_classes=classes,
        forget_indices=torch.nonzero(in_forget).flatten(),
        retain_indices=torch.nonzero(~in_forget).flatten(),
        description=f"{len(classes)} class(es) of {dataset.name} [{names}]",
    )


def superclass_split(dataset: Dataset, superclasses: str | Sequence[str]) -> ForgetSplit:
    """Forget whole CIFAR-100 superclasses (P1's "50 cluster" set is ten of them)."""
    if not dataset.superclasses:
        raise ValueError(f"{dataset.name} has no superclasses (only cifar100 has)")
    names = [superclasses] if isinstance(superclasses, str) else list(superclasses)
    unknown = [s for s in names if s not in dataset.superclasses]
    if unknown:
        raise ValueError(
            f"Unknown superclass(es) {unknown}; choose from {', '.join(dataset.superclasses)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"Duplicate superclasses in the forget set: {names}")
    classes = [c for s in names for c in dataset.superclasses[s]]
    split = class_split(dataset, classes)
    return ForgetSplit(
        "superclass", split.forget_classes, split.forget_indices, split.retain_indices,
        f"{len(names)} superclass(es) of {dataset.name} [{', '.join(names[:3])}{', ...' if len(names) > 3 else ''}]",
    )


def indices_split(dataset: Dataset, indices) -> ForgetSplit:
    """Forget the given training samples (indices into ``dataset.x_train``): the builder
    for a user who knows which samples must go. Indices must be integers in range,
    without duplicates, and leave something to retain."""
    if isinstance(indices, (str, bytes)):
        raise TypeError(f"indices must be a sequence of ints, got the string {indices!r}")
    values = torch.as_tensor(np.asarray(indices))
    if values.numel() == 0:
        raise ValueError("indices is empty: name at least one training sample to forget")
    if values.dim() != 1 or values.dtype == torch.bool or values.is_floating_point():
        raise TypeError(f"indices must be a 1-D sequence of ints, got {values.dtype} of shape "
                        f"{tuple(values.shape)}")
    n = len(dataset.y_train)
    bad = values[(values < 0) | (values >= n)]
    if len(bad):
        raise ValueError(f"Indices {bad[:5].tolist()} out of range: {dataset.name}'s training set "
                         f"has samples 0..{n - 1}")
    if len(values.unique()) != len(values):
        raise ValueError(f"Duplicate indices: {values[values.bincount(minlength=n)[values] > 1].unique()[:5].tolist()}")
    if len(values) == n:
        raise ValueError(f"Cannot forget all {n} training samples: nothing would be left to retain")
    chosen = values.long().sort().values
    mask = torch.zeros(n, dtype=torch.bool)
    mask[chosen] = True
    return ForgetSplit("instance", (), chosen, torch.nonzero(~mask).flatten(),
                       f"{len(chosen)} given samples of {dataset.name}")


def instance_split(dataset: Dataset, k: int, *, seed: int) -> ForgetSplit:
    """Forget k random training samples (P3), drawn by their own seeded generator."""
    n = len(dataset.y_train)
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive number of samples, got {k!r}")
    if k >= n:
        raise ValueError(
            f"k={k} is not smaller than the training set of {dataset.name} ({n} samples)"
        )
    k = int(k)
    gen = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(n, generator=gen)[:k].sort().values
    mask = torch.zeros(n, dtype=torch.bool)
    mask[chosen] = True
    return ForgetSplit(
        "instance", (), chosen, torch.nonzero(~mask).flatten(),
        f"{k} random samples of {dataset.name} (seed {seed})",
    )


def union_split(dataset: Dataset, splits: Sequence[ForgetSplit]) -> ForgetSplit:
    """Everything forgotten by a sequence of requests (continual unlearning)."""
    if not splits:
        raise ValueError("union_split needs at least one split")
    mask = torch.zeros(len(dataset.y_train), dtype=torch.bool)
    for split in splits:
        mask[split.forget_indices] = True
    classes = tuple(sorted({c for s in splits for c in s.forget_classes}))
    scenario = "instance" if any(s.scenario == "instance" for s in splits) else "classes"
    return ForgetSplit(scenario, classes, torch.nonzero(mask).flatten(), torch.nonzero(~mask).flatten(),
                       f"union of {len(splits)} requests on {dataset.name}")


def uniform_class_sample(dataset: Dataset, count: int, *, seed: int) -> tuple[int, ...]:
    """``count`` classes drawn at random (P1's "50 uniform" when superclasses exist).

    With superclasses, classes are drawn round-robin over superclasses so every
    superclass contributes as evenly as possible.
    """
    if not 0 < count < dataset.num_classes:
        raise ValueError(f"count must be in 1..{dataset.num_classes - 1}, got {count}")
    gen = torch.Generator().manual_seed(seed)
    if not dataset.superclasses:
        return tuple(sorted(torch.randperm(dataset.num_classes, generator=gen)[:count].tolist()))
    pools = [
        [members[i] for i in torch.randperm(len(members), generator=gen).tolist()]
        for members in dataset.superclasses.values()
    ]
    chosen: list[int] = []
    while len(chosen) < count:
        for pool in pools:
            if pool and len(chosen) < count:
                chosen.append(pool.pop())
    return tuple(sorted(chosen))


def nested_class_sets(dataset: Dataset, sizes: Sequence[int], *, seed: int) -> dict[int, tuple[int, ...]]:
    """Forget sets of the given sizes, each containing the smaller ones (a seeded
    permutation's prefixes), so that results across sizes differ only by the added classes."""
    if any(not 0 < k < dataset.num_classes for k in sizes):
        raise ValueError(f"Sizes must be in 1..{dataset.num_classes - 1}, got {list(sizes)}")
    order = torch.randperm(dataset.num_classes, generator=torch.Generator().manual_seed(seed)).tolist()
    return {k: tuple(sorted(order[:k])) for k in sizes}


def class_forget_sets(dataset: Dataset, sizes: Sequence[int | str], *, seed: int
                      ) -> dict[str, ForgetSplit]:
    """P1's forget sets by size: ints are nested random class sets; "50 cluster" is ten
    whole superclasses and "50 uniform" fifty classes spread over all superclasses
    (CIFAR-100 only; any "<n> cluster"/"<n> uniform" works)."""
    nested = nested_class_sets(dataset, [s for s in sizes if isinstance(s, int)], seed=seed)
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, ForgetSplit] = {}
    for size in sizes:
        if isinstance(size, int):
            out[f"{size} class{'es' if size > 1 else ''}"] = class_split(dataset, list(nested[size]))
            continue
        count, kind = size.split()
        if kind == "cluster":
            names = list(dataset.superclasses)
            if not names:
                raise ValueError(f"{size!r} needs superclasses; {dataset.name} has none")
            per = len(next(iter(dataset.superclasses.values())))
            order = torch.randperm(len(names), generator=gen)[: int(count) // per].tolist()
            out[size] = superclass_split(dataset, [names[i] for i in order])
        elif kind == "uniform":
            out[size] = class_split(dataset, list(uniform_class_sample(dataset, int(count), seed=seed)))
        else:
            raise ValueError(f"Unknown forget-set size {size!r}: use an int, '<n> cluster' or '<n> uniform'")
    return out


if __name__ == "__main__":  # python -m unlearnlab.data NAME ...: fetch datasets
    import sys

    for dataset_name in sys.argv[1:] or ["fashion_mnist"]:
        try:
            print(load_dataset(dataset_name))
        except (DataUnavailableError, ValueError) as err:
            sys.exit(str(err))
