"""The steps every notebook shares: load a preset's data, train (or load) its original
model, and set up a forget request with its evaluation."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .config import Preset
from .data import Dataset, ForgetSplit, load_dataset
from .methods import UnlearningRequest
from .metrics import Evaluation
from .models import create_model
from .training import History, cached, default_device, fit


def load_preset_data(preset: Preset) -> Dataset:
    return load_dataset(preset.dataset, train_subset=preset.train_subset, subset_seed=preset.seed)


def build_model(preset: Preset, dataset: Dataset, *, seed: int | None = None) -> nn.Module:
    return create_model(preset.model, dataset.num_classes, dataset.in_channels,
                        dataset.image_size, seed=preset.seed if seed is None else seed)


@dataclass
class Original:
    """The trained original model, its training curve and the wall time it took."""

    model: nn.Module
    history: History
    train_seconds: float
    from_cache: bool


def train_original(preset: Preset, dataset: Dataset, *, device: torch.device | None = None) -> Original:
    """Train the preset's model on all of D_train, or load it from the cache."""
    device = device or default_device()
    model = build_model(preset, dataset)
    key = {"dataset": dataset.fingerprint, "model": preset.model, "train": preset.train,
           "seed": preset.seed}
    computed = []

    def train() -> dict:
        start = time.perf_counter()
        history = fit(model, dataset.x_train, dataset.y_train, preset.train,
                      normalize=dataset.normalize, seed=preset.seed,
                      test=(dataset.x_test, dataset.y_test), device=device, desc="original")
        computed.append(True)
        return {"state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "history": asdict(history), "train_seconds": time.perf_counter() - start}

    entry = cached("original", key, train)
    model.load_state_dict(entry["state"])
    return Original(model.to(device).eval(), History(**entry["history"]),
                    float(entry["train_seconds"]), from_cache=not computed)


def make_request(preset: Preset, dataset: Dataset, split: ForgetSplit,
                 *, device: torch.device | None = None) -> UnlearningRequest:
    return UnlearningRequest(dataset, split, recipe=preset.train, model_name=preset.model,
                             seed=preset.seed, device=device)


def make_evaluation(preset: Preset, dataset: Dataset, split: ForgetSplit,
                    *, device: torch.device | None = None) -> Evaluation:
    """The evaluation protocol of a split; ZRF's random model is a fresh initialisation."""
    random_model = build_model(preset, dataset, seed=preset.seed + 10_000)
    return Evaluation(dataset, split, random_model=random_model,
                      retain_max=preset.eval_retain_max, seed=preset.seed, device=device)
