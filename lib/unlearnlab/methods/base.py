"""The method contract: registry, the data-guarding request, and the common runner.

A method is a function ``fn(model, request, **hyperparameters) -> nn.Module`` that
receives a copy of the original model and an :class:`UnlearningRequest`. It reads data
only through the request's accessors, and the request refuses every accessor the
method did not declare in ``needs``: this is how the zero-shot (P2) and zero-glance
(P4) guarantees are enforced rather than promised.
"""

from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .. import notices
from ..data import Dataset, ForgetSplit
from ..models import submodules
from ..training import TrainConfig, default_device, model_device
from ..validation import check_hyperparameter

#: What a method may declare in ``needs``.
ACCESSORS = {
    "forget_data": "the training samples to forget, D_f",
    "retain_data": "all retained training samples, D_r",
    "retain_subset": "a class-balanced sample of D_r (``retain_subset(per_class)``)",
    "unseen_forget": "forget-class samples from the test split, never trained on",
}
SCENARIO_KINDS = ("class", "instance", "any")


class DataAccessError(PermissionError):
    """A method asked for data it did not declare in ``needs``."""


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fn: Callable[..., nn.Module]
    scenario: str
    needs: frozenset[str]

    @property
    def description(self) -> str:
        return (inspect.getdoc(self.fn) or "").split("\n")[0]

    @property
    def defaults(self) -> dict[str, Any]:
        return {
            k: p.default for k, p in inspect.signature(self.fn).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }

    def accepts(self, split: ForgetSplit) -> bool:
        if self.scenario == "any":
            return True
        return (split.scenario == "instance") == (self.scenario == "instance")


_METHODS: dict[str, MethodSpec] = {}


def register(name: str, *, scenario: str = "any", needs: Iterable[str] = ()):
    """Register an unlearning method under ``name``.

    ``scenario`` is ``class`` (one or more whole classes), ``instance`` (k samples) or
    ``any``; ``needs`` lists the accessors of :data:`ACCESSORS` the method may call.
    A name already taken by another function is refused (re-registering the same
    function, as a module reload does, replaces it).
    """
    needs = frozenset(needs)
    unknown = needs - ACCESSORS.keys()
    if unknown:
        raise ValueError(f"Unknown needs {sorted(unknown)}; choose from {sorted(ACCESSORS)}")
    if scenario not in SCENARIO_KINDS:
        raise ValueError(f"scenario must be one of {SCENARIO_KINDS}, got {scenario!r}")

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        taken = _METHODS.get(name)
        if taken is not None and _qualified(taken.fn) != _qualified(fn):
            raise ValueError(f"A method named {name!r} is already registered "
                             f"({_qualified(taken.fn)}); choose another name")
        _METHODS[name] = MethodSpec(name, fn, scenario, needs)
        return fn

    return wrap


def _qualified(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def list_methods(scenario: str | None = None) -> list[str]:
    """Registered method names (those usable for ``scenario`` if given)."""
    return sorted(n for n, s in _METHODS.items()
                  if scenario is None or s.scenario in (scenario, "any"))


def get_method(name: str) -> MethodSpec:
    if name not in _METHODS:
        raise ValueError(f"Unknown method {name!r}; registered: {', '.join(list_methods())}")
    return _METHODS[name]


class UnlearningRequest:
    """What to forget, and guarded access to the data a method may see.

    ``recipe`` is how the original model was trained (retrain reuses it), ``model_name``
    its registry name, ``seed`` the seed every random choice of the method derives from.
    Accessors return ``(x, y)`` pairs of uint8 images and labels; ``normalize`` turns
    images into model inputs.
    """

    def __init__(
        self,
        dataset: Dataset,
        split: ForgetSplit,
        *,
        recipe: TrainConfig,
        model_name: str,
        seed: int = 0,
        allowed: Iterable[str] = ACCESSORS.keys(),
        device: torch.device | None = None,
    ):
        if split.num_train != len(dataset.y_train):
            raise ValueError(f"The split partitions {split.num_train} training samples, but "
                             f"{dataset.name} has {len(dataset.y_train)}: it was built for another dataset")
        self._dataset = dataset
        self.split = split
        self.recipe = recipe
        self.model_name = model_name
        self.seed = seed
        self.allowed = frozenset(allowed)
        self.device = device or default_device()
        self.accessed: set[str] = set()
        self.report: dict[str, Any] = {}
        self.checkpoints: dict[str, nn.Module] = {}

    # -- facts that are not data -------------------------------------------------------
    @property
    def forget_classes(self) -> tuple[int, ...]:
        return self.split.forget_classes

    @property
    def num_classes(self) -> int:
        return self._dataset.num_classes

    @property
    def dataset_name(self) -> str:
        return self._dataset.name

    @property
    def dataset_fingerprint(self) -> str:
        return self._dataset.fingerprint

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self._dataset.x_train.shape[1:])  # type: ignore[return-value]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return self._dataset.normalize(x)

    def restricted_to(self, needs: Iterable[str]) -> UnlearningRequest:
        """A copy that allows only ``needs`` (and never more than this one allows)."""
        clone = copy.copy(self)
        clone.allowed = self.allowed & frozenset(needs)
        clone.accessed = set()
        clone.report = {}
        clone.checkpoints = {}
        return clone

    def checkpoint(self, name: str, model: nn.Module) -> None:
        """Publish an intermediate model (e.g. UNSIR after impair); ``run_method``
        evaluates it too and adds its accuracies as ``<name>_acc_*`` columns."""
        self.checkpoints[name] = copy.deepcopy(model).eval()

    # -- guarded data --------------------------------------------------------------------
    def _check(self, accessor: str) -> None:
        if accessor not in self.allowed:
            raise DataAccessError(
                f"This method may not read {accessor!r} ({ACCESSORS[accessor]}): it declared "
                f"needs={sorted(self.allowed) or '{}'}. Declare it in @register(needs=...) "
                f"if the method really needs it."
            )
        self.accessed.add(accessor)

    def forget_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """D_f: the training samples to forget."""
        self._check("forget_data")
        idx = self.split.forget_indices
        return self._dataset.x_train[idx], self._dataset.y_train[idx]

    def retain_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """D_r: every retained training sample."""
        self._check("retain_data")
        idx = self.split.retain_indices
        return self._dataset.x_train[idx], self._dataset.y_train[idx]

    def retain_subset(self, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Up to ``per_class`` retained samples of each retained class, seeded.

        Allowed for methods that declare ``retain_subset`` or ``retain_data``.
        """
        if "retain_subset" not in self.allowed and "retain_data" in self.allowed:
            self.accessed.add("retain_data")
        else:
            self._check("retain_subset")
        if per_class < 1:
            raise ValueError(f"per_class must be positive, got {per_class}")
        idx = self.split.retain_indices
        labels = self._dataset.y_train[idx]
        gen = torch.Generator().manual_seed(self.seed + 1)
        order = torch.randperm(len(idx), generator=gen)
        chosen = []
        for c in labels.unique():
            members = order[labels[order] == c][:per_class]
            chosen.append(idx[members])
        keep = torch.cat(chosen).sort().values
        return self._dataset.x_train[keep], self._dataset.y_train[keep]

    def unseen_forget_samples(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples of the forget classes from the *test* split (never trained on),
        spread evenly over the forget classes, seeded."""
        self._check("unseen_forget")
        if not self.forget_classes:
            raise ValueError("unseen_forget_samples needs a class scenario; this request "
                             "forgets individual instances")
        if n < 1:
            raise ValueError(f"n must be positive, got {n}")
        y_test = self._dataset.y_test
        gen = torch.Generator().manual_seed(self.seed + 2)
        per_class = -(-n // len(self.forget_classes))
        chosen = []
        for c in self.forget_classes:
            members = torch.nonzero(y_test == c).flatten()
            if len(members) == 0:
                raise ValueError(f"The test split has no sample of class {c}")
            chosen.append(members[torch.randperm(len(members), generator=gen)[:per_class]])
        keep = torch.cat(chosen)[:n]
        return self._dataset.x_test[keep], y_test[keep]


@dataclass
class MethodResult:
    """The unlearned model and its row of the results table."""

    model: nn.Module
    record: dict[str, Any] = field(default_factory=dict)


def run_method(
    name: str,
    model: nn.Module,
    request: UnlearningRequest,
    evaluation: Any | None = None,
    *,
    label: str | None = None,
    freeze: Sequence[str] = (),
    **hyperparameters: Any,
) -> MethodResult:
    """Run a registered method on a copy of ``model``, time it, and evaluate it.

    The original ``model`` is never modified. The request is restricted to the method's
    declared ``needs``. ``evaluation`` (a :class:`unlearnlab.metrics.Evaluation`) turns
    the unlearned model into metrics; the record also holds the wall time (``time_s``)
    and whatever the method reported (steps, phase times).
    A method that served a cached result reports the original compute time as
    ``time_s`` and sets ``cached``.

    ``freeze`` names modules or stages that may not change (Liao & Lin 2024's selective
    layer-wise freezing), for any method: their parameters do not require gradients
    while the method runs, and afterwards their parameters and buffers (BatchNorm
    statistics) are restored bit for bit from the original.
    """
    spec = get_method(name)
    if not spec.accepts(request.split):
        raise ValueError(
            f"Method {name!r} handles the {spec.scenario!r} scenario, not "
            f"{request.split.scenario!r}"
        )
    unknown = set(hyperparameters) - spec.defaults.keys()
    if unknown:
        raise TypeError(f"{name} has no hyperparameter(s) {sorted(unknown)}; "
                        f"it takes {sorted(spec.defaults)}")
    defaults = spec.defaults
    for key, value in hyperparameters.items():
        check_hyperparameter(name, key, value, defaults[key])
    check_model_fits(model, request)
    guarded = request.restricted_to(spec.needs)
    working = copy.deepcopy(model)
    frozen = _frozen_parameters(working, freeze)
    _synchronize(guarded.device)
    start = time.perf_counter()
    unlearned = spec.fn(working, guarded, **hyperparameters)
    _synchronize(guarded.device)
    elapsed = time.perf_counter() - start
    nonfinite = check_same_architecture(name, model, unlearned)
    _restore(unlearned, model, freeze, frozen)
    unlearned.eval()
    record: dict[str, Any] = {"method": label or name, "time_s": elapsed, "cached": False,
                              "nonfinite_weights": nonfinite}
    if nonfinite:
        notices.warn(f"{label or name} DIVERGED: {nonfinite} weights of the unlearned model are "
                     f"NaN or infinite; its metrics describe a broken model")
    record.update(guarded.report)
    if evaluation is not None:
        record.update(evaluation.evaluate(unlearned))
        for stage, snapshot in guarded.checkpoints.items():
            metrics = evaluation.evaluate(snapshot, accuracy_only=True)
            record.update({f"{stage}_{k}": v for k, v in metrics.items() if k.startswith("acc_")})
    return MethodResult(unlearned, record)


def check_model_fits(model: nn.Module, request: UnlearningRequest) -> None:
    """Before a method runs: one forward pass of two of the request's images works and
    gives one output per class of the request's dataset."""
    device = model_device(model)
    probe = torch.zeros((2, *request.input_shape), device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(probe)
    except Exception as exc:
        raise ValueError(
            f"The model cannot take the request's inputs of shape (N, {', '.join(map(str, request.input_shape))}) "
            f"from {request.dataset_name}: {type(exc).__name__}: {exc}") from exc
    finally:
        model.train(was_training)
    if out.dim() != 2 or out.shape[1] != request.num_classes:
        raise ValueError(
            f"The model outputs shape {tuple(out.shape)} per batch of 2, but {request.dataset_name} has "
            f"{request.num_classes} classes: expected (2, {request.num_classes})")


def check_same_architecture(method: str, original: nn.Module, unlearned: Any) -> int:
    """After a method runs: it returned a module with the original's parameter names and
    shapes. Returns how many weights are not finite (0 for a healthy model)."""
    if not isinstance(unlearned, nn.Module):
        raise TypeError(f"{method} returned {type(unlearned).__name__}, not the unlearned nn.Module")
    before = {k: tuple(v.shape) for k, v in original.state_dict().items()}
    after = {k: tuple(v.shape) for k, v in unlearned.state_dict().items()}
    if before != after:
        changed = sorted(set(before.items()) ^ set(after.items()))[:4]
        raise ValueError(f"{method} changed the architecture (parameter names or shapes differ: "
                         f"{changed}); a method must return the original's architecture")
    return sum(int((~torch.isfinite(p)).sum()) for p in unlearned.state_dict().values()
               if p.is_floating_point())


def _frozen_parameters(model: nn.Module, names: Sequence[str]) -> list[nn.Parameter]:
    params = [p for m in submodules(model, names) for p in m.parameters()]
    for p in params:
        p.requires_grad_(False)
    return params


def _restore(unlearned: nn.Module, original: nn.Module, names: Sequence[str],
             frozen: list[nn.Parameter]) -> None:
    """Copy the frozen modules' state back from the original; re-enable gradients."""
    if not names:
        return
    target, source = dict(unlearned.named_modules()), dict(original.named_modules())
    with torch.no_grad():
        for name in names:
            for key, value in source[name].state_dict().items():
                target[name].state_dict()[key].copy_(value)
    for p in frozen:
        p.requires_grad_(True)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
