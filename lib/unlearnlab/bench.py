"""Throughput of the library's training and inference loops beside a minimal tuned loop:
``python -m unlearnlab.bench --model resnet18 --device cuda --batch-size 128``.

The same model, the same synthetic uint8 data (CIFAR-shaped by default) and the same
SGD step are timed three ways:

- ``library``: :func:`unlearnlab.training.fit` and :func:`~unlearnlab.training.predict`,
  exactly as every notebook calls them;
- ``tuned``: the shortest loop we know to be fast: data resident on the device, indices
  drawn on the device, channels-last, bf16 autocast on CUDA, no host sync until the end;
- ``tuned+compile`` (``--compile``): the tuned loop with ``torch.compile`` (``--mode
  reduce-overhead`` adds CUDA graphs).

It prints images/s for training and inference and each loop's ratio to the tuned eager
loop. Timings exclude a warm-up (compilation, cuDNN autotuning) and end with a device
synchronisation. Nothing here is used by the notebooks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from . import models, training


@dataclass
class Measurement:
    loop: str
    train_images_per_s: float
    predict_images_per_s: float


def synthetic_data(n: int, shape: tuple[int, int, int], num_classes: int,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random uint8 images of ``shape`` (C, H, W) and random labels, on the CPU."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *shape), generator=gen, dtype=torch.uint8)
    return x, torch.randint(0, num_classes, (n,), generator=gen)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """uint8 to zero-centred floats, as :meth:`Dataset.normalize` does (mean 0.5, std 0.25)."""
    return (x.float() / 255.0 - 0.5) / 0.25


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step: Callable[[], None], device: torch.device) -> float:
    _synchronize(device)
    start = time.perf_counter()
    step()
    _synchronize(device)
    return time.perf_counter() - start


def library_loop(model: torch.nn.Module, x, y, *, batch_size: int, epochs: int,
                 device: torch.device) -> Measurement:
    cfg = training.TrainConfig(epochs=epochs, batch_size=batch_size, lr=0.05, schedule="constant")
    warm = training.TrainConfig(epochs=1, batch_size=batch_size, lr=0.05, schedule="constant")
    training.fit(model, x[: batch_size * 20], y[: batch_size * 20], warm, normalize=normalize,
                 seed=0, device=device)
    train_s = _timed(lambda: training.fit(model, x, y, cfg, normalize=normalize, seed=0,
                                          device=device), device)
    training.predict(model, x[: batch_size * 4], normalize=normalize, device=device)
    predict_s = _timed(lambda: training.predict(model, x, normalize=normalize, device=device),
                       device)
    return Measurement("library", len(y) * epochs / train_s, len(y) / predict_s)


def tuned_loop(model: torch.nn.Module, x, y, *, batch_size: int, epochs: int,
               device: torch.device, compile_mode: str | None = None) -> Measurement:
    """Resident data, device-side indices, channels-last, bf16 on CUDA, no host sync."""
    model = model.to(device=device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    xd, yd = x.to(device), y.to(device)
    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
           else torch.autocast("cpu", enabled=False))

    def train_step(xb, yb):
        with amp:
            loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def infer(xb):
        with amp:
            return model(xb)

    if compile_mode is not None:
        train_step = torch.compile(train_step, mode=compile_mode)
        infer = torch.compile(infer, mode=compile_mode)
    steps = len(y) // batch_size  # full batches only: one shape, no recompilation

    def epoch(n_steps: int) -> None:
        order = torch.randperm(len(y), device=device)
        for i in range(n_steps):
            idx = order[i * batch_size:(i + 1) * batch_size]
            xb = normalize(xd[idx]).contiguous(memory_format=torch.channels_last)
            train_step(xb, yd[idx])

    def predict_all() -> None:
        with torch.inference_mode():
            for i in range(steps):
                xb = normalize(xd[i * batch_size:(i + 1) * batch_size])
                infer(xb.contiguous(memory_format=torch.channels_last))

    model.train()
    epoch(min(steps, 20))  # warm-up: compilation, autotuning
    train_s = _timed(lambda: [epoch(steps) for _ in range(epochs)], device)
    model.eval()
    with torch.inference_mode():
        for i in range(min(steps, 4)):
            infer(normalize(xd[i * batch_size:(i + 1) * batch_size]).contiguous(
                memory_format=torch.channels_last))
    predict_s = _timed(predict_all, device)
    name = "tuned" if compile_mode is None else f"tuned+compile ({compile_mode})"
    return Measurement(name, steps * batch_size * epochs / train_s, steps * batch_size / predict_s)


def run(model_name: str = "resnet18", device: str | None = None, batch_size: int = 128,
        images: int = 50_000, shape: tuple[int, int, int] = (3, 32, 32), epochs: int = 1,
        compile_mode: str | None = None, threads: int | None = None, width: int | None = None
        ) -> list[Measurement]:
    """Every loop on fresh copies of one seeded model (``width``: a ResNet's first-stage
    channels, as the ``deep`` preset sets it); returns the measurements."""
    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device) if device else training.default_device()
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("CUDA was asked for, but torch sees no CUDA device "
                         f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})")
    x, y = synthetic_data(images, shape, 10)

    def fresh():
        options = {} if width is None else {"width": width}
        return models.create_model(model_name, 10, in_channels=shape[0], image_size=shape[1], seed=0,
                                   **options)

    results = [library_loop(fresh(), x, y, batch_size=batch_size, epochs=epochs, device=dev),
               tuned_loop(fresh(), x, y, batch_size=batch_size, epochs=epochs, device=dev)]
    if compile_mode is not None:
        results.append(tuned_loop(fresh(), x, y, batch_size=batch_size, epochs=epochs,
                                  device=dev, compile_mode=compile_mode))
    return results


def report(results: list[Measurement]) -> str:
    """A text table with each loop's ratio to the tuned eager loop."""
    base = next(r for r in results if r.loop == "tuned")
    lines = [f"{'loop':<32}{'train img/s':>14}{'ratio':>8}{'predict img/s':>16}{'ratio':>8}"]
    for r in results:
        lines.append(f"{r.loop:<32}{r.train_images_per_s:>14,.0f}"
                     f"{r.train_images_per_s / base.train_images_per_s:>8.2f}"
                     f"{r.predict_images_per_s:>16,.0f}"
                     f"{r.predict_images_per_s / base.predict_images_per_s:>8.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unlearnlab.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="resnet18", choices=models.list_models())
    parser.add_argument("--device", default=None, help="cuda, cpu, mps (default: the library's choice)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--shape", default="3,32,32", help="C,H,W of the synthetic images")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="add the torch.compile'd tuned loop")
    parser.add_argument("--mode", default="default",
                        help="torch.compile mode with --compile (reduce-overhead: CUDA graphs)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    parser.add_argument("--width", type=int, default=None,
                        help="a ResNet's first-stage channels (the deep preset: 16; default 64)")
    parser.add_argument("--json", default=None, help="also write the measurements here")
    args = parser.parse_args(argv)
    os.environ.setdefault("UNLEARNLAB_QUIET", "1")  # the library's progress bars would cut the table
    try:
        shape = tuple(int(v) for v in args.shape.split(","))
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError
    except ValueError:
        parser.error(f"--shape is C,H,W with positive integers, got {args.shape!r}")
    for name in ("batch_size", "images", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.width is not None and args.width < 1:
        parser.error("--width must be at least 1")
    if args.images < args.batch_size:
        parser.error("--images must be at least --batch-size")
    results = run(args.model, args.device, args.batch_size, args.images, shape, args.epochs,
                  args.mode if args.compile else None, args.threads, args.width)
    device = args.device or str(training.default_device())
    name = args.model if args.width is None else f"{args.model} (width {args.width})"
    print(f"{name}, {args.images:,} images of {args.shape}, batch {args.batch_size}, "
          f"{args.epochs} epoch(s), device {device}, torch {torch.__version__}")
    print(report(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "width": args.width, "device": device,
                       "batch_size": args.batch_size,
                       "images": args.images, "shape": shape, "torch": torch.__version__,
                       "results": [asdict(r) for r in results]}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
