"""Training, evaluation and prediction loops over in-memory tensor batches (the checkpoint
cache is :mod:`unlearnlab.cache`).

The hot path has no per-sample Python: a batch is sliced from uint8 tensors, moved to
the device, normalised and (optionally) augmented there. Progress bars come from tqdm.auto
(one per top-level loop) and are silenced by ``UNLEARNLAB_QUIET=1`` (the tests set it).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits
from torch import nn
from tqdm.auto import tqdm

from .validation import check_float, check_int

Normalizer = Callable[[torch.Tensor], torch.Tensor]

if os.environ.get("UNLEARNLAB_THREADS"):  # set per worker by the runner's --jobs
    torch.set_num_threads(int(os.environ["UNLEARNLAB_THREADS"]))

# NumPy's BLAS on one thread: scikit-learn's fits (the probe, the attacks) run between
# torch calls whose OpenMP threads are still spinning, and a second BLAS thread then
# fights them for the cores (a probe fit measured 1.5 s on two BLAS threads, 0.25 s on one).
threadpool_limits(1, user_api="blas")


def default_device() -> torch.device:
    """CUDA, then Apple's MPS, then the CPU (``UNLEARNLAB_DEVICE`` overrides)."""
    if "UNLEARNLAB_DEVICE" in os.environ:
        return torch.device(os.environ["UNLEARNLAB_DEVICE"])
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def progress_enabled() -> bool:
    return os.environ.get("UNLEARNLAB_QUIET", "") in ("", "0")


#: The progress bar shown now, if any: loops inside it show none of their own.
_open_bars: list = []


def progress(iterable, **kwargs):
    """Iterate with one tqdm bar per top-level loop; a loop run inside another's bar (the
    epochs of a retrain inside the leaderboard's seeds) shows none, so a notebook cell
    keeps one bar per loop instead of one output per inner loop. Quiet under
    ``UNLEARNLAB_QUIET=1`` (the tests and headless runs set it)."""
    if _open_bars or not progress_enabled():
        yield from iterable
        return
    bar = tqdm(iterable, **kwargs)
    _open_bars.append(bar)
    try:
        yield from bar
    finally:
        _open_bars.remove(bar)
        bar.close()


def uses_channels_last(device: torch.device) -> bool:
    """Channels-last convolutions: 1.3x faster training and 2.7x faster inference for the
    small CNN on two CPU cores (README); also the fast layout for CUDA mixed precision."""
    return device.type in ("cpu", "cuda")


def model_device(model: nn.Module) -> torch.device:
    """Where a model's parameters are (the CPU for a model without any). The library's
    rule: a function given a model and tensors computes on the model's device, moves the
    tensors it was given there, and returns what tables and plots read on the CPU."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move a model to ``device`` in the layout its batches will use."""
    if uses_channels_last(device):
        return model.to(device=device, memory_format=torch.channels_last)
    return model.to(device)


def as_input(x: torch.Tensor) -> torch.Tensor:
    """Give an image batch the layout :func:`prepare_model` chose (no-op elsewhere)."""
    if x.dim() == 4 and uses_channels_last(x.device):
        return x.contiguous(memory_format=torch.channels_last)
    return x


def autocast(device: torch.device):
    """bf16 mixed precision on CUDA; a no-op elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained (the original, retrain and fine-tuning all use one).

    ``lr`` is the peak learning rate; ``schedule`` is ``cosine`` (decay to 0 over all
    steps, ``warmup_epochs`` linear warm-up) or ``constant``. ``augment`` is ``none`` or
    ``crop_flip`` (4-pixel padded random crop and horizontal flip, CIFAR's standard).
    """

    epochs: int = 5
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    optimizer: str = "sgd"
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    augment: str = "none"
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.augment not in ("none", "crop_flip"):
            raise ValueError(f"augment must be 'none' or 'crop_flip', got {self.augment!r}")
        check_int("epochs", self.epochs, minimum=0)
        check_int("batch_size", self.batch_size, minimum=1)
        check_float("lr", self.lr, minimum=0.0, exclusive_minimum=True)
        check_float("momentum", self.momentum, minimum=0.0, maximum=1.0, exclusive_maximum=True)
        check_float("weight_decay", self.weight_decay, minimum=0.0)
        check_float("warmup_epochs", self.warmup_epochs, minimum=0.0)
        check_float("label_smoothing", self.label_smoothing, minimum=0.0, maximum=1.0,
                    exclusive_maximum=True)


@dataclass
class History:
    """Per-epoch training curve (and test accuracy when test data was given)."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    images_seen: int = 0

    @property
    def images_per_second(self) -> float:
        """Training throughput over all epochs (evaluation time excluded)."""
        return self.images_seen / max(sum(self.seconds), 1e-9) if self.seconds else float("nan")


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                           weight_decay=cfg.weight_decay, nesterov=cfg.momentum > 0)


def lr_at(step: int, total_steps: int, cfg: TrainConfig, steps_per_epoch: int) -> float:
    """Learning rate of one step under ``cfg``'s warm-up and schedule."""
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    if cfg.schedule == "constant":
        return cfg.lr
    progress_ = (step - warmup) / max(total_steps - warmup, 1)
    return 0.5 * cfg.lr * (1 + math.cos(math.pi * progress_))


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """Batch-wise augmentation on the device (no per-sample Python)."""
    if kind == "none":
        return x
    n, _, h, w = x.shape
    pad = 4
    xp = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    idx_n = torch.arange(n, device=x.device)[:, None, None, None]
    idx_c = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    out = xp[idx_n, idx_c, rows, cols]
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


#: Largest tensor :func:`resident` copies to an accelerator at once (a dataset as uint8:
#: Fashion-MNIST's 60,000 images are 47 MB, CIFAR-10's 50,000 are 154 MB).
RESIDENT_MAX_BYTES = 4 * 2**30


def resident(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``t`` on ``device`` in one copy when it is no larger than ``RESIDENT_MAX_BYTES``,
    so that a training step indexes device memory and copies nothing from the host;
    else ``t`` as it is (its batches then travel one by one). On the CPU: ``t`` itself."""
    if t.device == device or t.element_size() * t.nelement() > RESIDENT_MAX_BYTES:
        return t
    return t.to(device, non_blocking=True)


def batches(n: int, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None,
            drop_last: bool = False) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - (n % batch_size) if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    *,
    normalize: Normalizer,
    seed: int,
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
    device: torch.device | None = None,
    desc: str = "train",
    params: list[nn.Parameter] | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    freeze_batchnorm: bool = False,
    eval_modules: Iterable[nn.Module] = (),
    param_groups: list[dict] | None = None,
    shared_optimizer: torch.optim.Optimizer | None = None,
) -> History:
    """Train ``model`` in place; returns the per-epoch curve.

    ``loss_fn(logits, targets)`` defaults to cross-entropy (with ``cfg.label_smoothing``).
    ``y`` holds class labels, or any per-sample targets (soft labels, packed rows) that a
    custom ``loss_fn`` reads; train accuracy is recorded for class labels only.
    ``params`` restricts the update to a subset of parameters; ``param_groups`` instead
    gives optimizer groups whose ``lr_scale`` multiplies the scheduled rate.
    ``freeze_batchnorm`` keeps every BatchNorm layer in eval mode (running statistics do
    not move); ``eval_modules`` does so for the given modules only. ``shared_optimizer`` is one
    built by the caller and carried across calls (its momentum persists from one call to
    the next); the schedule still sets its rate at every step.
    """
    device = device or default_device()
    prepare_model(model, device)
    gen = torch.Generator().manual_seed(seed)
    if param_groups is None:
        trainable = params if params is not None else [p for p in model.parameters() if p.requires_grad]
        param_groups = [{"params": trainable}]
    opt = shared_optimizer if shared_optimizer is not None else make_optimizer([dict(g) for g in param_groups], cfg)
    eval_modules = list(eval_modules)
    steps_per_epoch = math.ceil(len(y) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    history = History()
    step = 0
    if loss_fn is None:
        def loss_fn(logits, labels):
            return F.cross_entropy(logits, labels, label_smoothing=cfg.label_smoothing)
    x, y = resident(x, device), resident(y, device)  # uint8 images: normalised per batch
    for epoch in progress(range(cfg.epochs), desc=desc, unit="epoch"):
        model.train()
        if freeze_batchnorm:
            set_batchnorm_eval(model)
        for module in eval_modules:
            module.eval()
        start = time.perf_counter()
        # sums stay on the device until the epoch ends: no host sync per step
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        for idx in batches(len(y), cfg.batch_size, shuffle=True, generator=gen):
            xb = normalize(x[idx.to(x.device, non_blocking=True)].to(device, non_blocking=True))
            xb = as_input(augment_batch(xb, cfg.augment, gen))
            yb = y[idx.to(y.device, non_blocking=True)].to(device, non_blocking=True)
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, cfg, steps_per_epoch) * group.get("lr_scale", 1.0)
            with autocast(device):
                logits = model(xb)
                loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.detach().float() * len(idx)
            if yb.dim() == 1:
                correct += (logits.argmax(1) == yb).sum()
            seen += len(idx)
        history.seconds.append(time.perf_counter() - start)
        history.images_seen += seen
        history.epoch.append(epoch + 1)
        history.train_loss.append(float(loss_sum) / max(seen, 1))
        history.train_acc.append(float(correct) / max(seen, 1) if y.dim() == 1 else float("nan"))
        if test is not None:
            history.test_acc.append(evaluate(model, *test, normalize=normalize, device=device))
    model.eval()
    return history


def train_constant(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float,
                   batch_size: int, normalize: Normalizer, seed: int, device: torch.device | None = None,
                   weight_decay: float = 0.0, optimizer: str = "sgd", augment: str = "none",
                   desc: str = "train", **fit_options) -> int:
    """Fine-tuning at a constant learning rate, the way unlearning methods train; returns
    the number of update steps taken. ``fit_options`` go to :func:`fit`."""
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, schedule="constant",
                      weight_decay=weight_decay, optimizer=optimizer, augment=augment)
    fit(model, x, y, cfg, normalize=normalize, seed=seed, device=device, desc=desc, **fit_options)
    return epochs * math.ceil(len(y) / batch_size)


def set_batchnorm_eval(model: nn.Module) -> None:
    """Put every BatchNorm layer in eval mode (running statistics stay as they are)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def soft_targets(model: nn.Module, x: torch.Tensor, *, normalize: Normalizer, temperature: float = 1.0,
                 device: torch.device | None = None) -> torch.Tensor:
    """A frozen teacher's output distribution softmax(logits / T) on ``x`` (CPU, float32),
    computed once: a teacher in eval mode gives the same targets on every pass."""
    logits = predict(model, x, normalize=normalize, device=device)
    return F.softmax(logits / temperature, dim=1)


def kl_to_targets(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(targets || softmax(logits / T)), averaged over the batch (Hinton et al. 2015's
    distillation loss without the T^2 factor; callers scale it where their paper does)."""
    return F.kl_div(F.log_softmax(logits.float() / temperature, dim=1), targets.float(),
                    reduction="batchmean")


def predict(
    model: nn.Module,
    x: torch.Tensor,
    *,
    normalize: Normalizer,
    batch_size: int = 256,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Logits (float32, on the CPU) of ``model`` in eval mode. (Batches of 256 ran twice
    as fast as batches of 1024 on two CPU cores: the activations stay in cache.) The
    logits stay on the device until the end: one copy to the host, not one per batch."""
    device = device or default_device()
    prepare_model(model, device)  # outside inference mode: parameters must stay trainable
    was_training = model.training
    model.eval()
    out = []
    x = resident(x, device)
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            xb = as_input(normalize(x[start:start + batch_size].to(device, non_blocking=True)))
            with autocast(device):
                out.append(model(xb).float())
    model.train(was_training)
    if not out:
        return torch.empty(0, 0)
    return torch.cat(out).cpu()


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, normalize: Normalizer,
             device: torch.device | None = None) -> float:
    """Top-1 accuracy in [0, 1] (NaN for an empty set)."""
    if len(y) == 0:
        return float("nan")
    return float((predict(model, x, normalize=normalize, device=device).argmax(1) == y).float().mean())
