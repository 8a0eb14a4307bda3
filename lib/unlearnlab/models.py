"""Model registry: small CNNs for the CPU, and the papers' architectures for small images.

Every model follows one contract, which the analysis and the methods rely on:

- ``forward(x) == fc(features(x))``: ``features`` returns the penultimate vector (the
  input of the last linear layer ``fc``), the layer P2 ranks units in;
- ``stages`` names the top-level children in forward order (P1 groups layers by stage);
- it is *LRP-correct* for Captum: ``torch.flatten`` instead of ``nn.Flatten``, no module
  called twice in one forward (every ReLU is its own module, never in-place), and
  residual additions go through Captum's ``Addition_Module`` so relevance is conserved
  (Chang et al. 2024 use LRP on ResNet-50). ``tests/test_models.py`` proves it for every
  registered model.

Inputs are normalised float images (see ``Dataset.normalize``).
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from captum.attr._utils.custom_modules import Addition_Module
from torch import nn

from .validation import check_int


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable[..., nn.Module]
    description: str


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, description: str):
    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _REGISTRY[name] = ModelSpec(name, builder, description)
        return builder

    return wrap


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(
    name: str,
    num_classes: int,
    in_channels: int = 3,
    image_size: int = 32,
    *,
    seed: int | None = None,
    **options,
) -> nn.Module:
    """Build a registered model; ``seed`` makes its initialisation reproducible
    without touching the global random state. ``options`` go to the model's builder
    (``width`` for the ResNets); a builder that takes none refuses them by name."""
    if name not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}; choose one of {', '.join(list_models())}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    builder = _REGISTRY[name].builder
    accepted = set(inspect.signature(builder).parameters) - {"num_classes", "in_channels", "image_size"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"Model {name!r} takes no option(s) {unknown}; it takes {sorted(accepted) or 'none'}")
    if seed is None:
        return builder(num_classes=num_classes, in_channels=in_channels, image_size=image_size, **options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(num_classes=num_classes, in_channels=in_channels, image_size=image_size, **options)


def _conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int = 1):
    return [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    ]


class _Classifier(nn.Module):
    """Shared forward: ``features`` runs every stage but ``fc``."""

    stages: tuple[str, ...] = ()
    flatten_after: str = ""

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.stages[:-1]:
            x = getattr(self, name)(x)
            if x.dim() > 2 and name == self.flatten_after:
                x = torch.flatten(x, 1)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def _pooled_stage(layers: list[nn.Module]) -> nn.Sequential:
    """A conv stage ending in conv -> BN -> ReLU, max-pooled: the pool runs before the
    last ReLU. Max-pooling and ReLU commute exactly (max(relu(x)) == relu(max(x)), and
    the gradient reaches the same input), so the function, its gradients and every
    trained weight are bit-identical to the usual order, while ReLU touches a quarter
    of the values: training ran 12-17 % faster on two CPU cores (README)."""
    *rest, relu = layers
    return nn.Sequential(*rest, nn.MaxPool2d(2), relu)


class SmallCNN(_Classifier):
    """Two conv stages (``convs_per_stage`` x conv + BN + ReLU, max-pooled) and a
    2-layer MLP head."""

    stages = ("stage1", "stage2", "head", "fc")
    flatten_after = "stage2"

    def __init__(self, num_classes: int, in_channels: int, image_size: int,
                 widths: tuple[int, int], hidden: int, convs_per_stage: int):
        super().__init__()
        check_int("hidden", hidden, minimum=1)
        w1, w2 = widths
        layers1 = _conv_bn_relu(in_channels, w1)
        layers2 = _conv_bn_relu(w1, w2)
        for _ in range(convs_per_stage - 1):
            layers1 += _conv_bn_relu(w1, w1)
            layers2 += _conv_bn_relu(w2, w2)
        self.stage1 = _pooled_stage(layers1)
        self.stage2 = _pooled_stage(layers2)
        side = image_size // 4
        self.head = nn.Sequential(nn.Linear(w2 * side * side, hidden), nn.ReLU())
        self.fc = nn.Linear(hidden, num_classes)


@register_model("tiny_cnn", "8/16-channel CNN with a 32-unit head: seconds on digits (smoke)")
def tiny_cnn(num_classes: int, in_channels: int, image_size: int, hidden: int = 32) -> nn.Module:
    return SmallCNN(num_classes, in_channels, image_size, widths=(8, 16), hidden=hidden,
                    convs_per_stage=1)


@register_model("small_cnn", "16/32-channel CNN with a 128-unit head: the CPU model")
def small_cnn(num_classes: int, in_channels: int, image_size: int, hidden: int = 128) -> nn.Module:
    """``hidden``: units of the MLP head (the layer P2 edits); 512 is the reference
    MNIST net's (notebook 02's head-width check)."""
    # about 7,000-9,000 training images/s on two CPU cores at 28x28 (README)
    return SmallCNN(num_classes, in_channels, image_size, widths=(16, 32), hidden=hidden,
                    convs_per_stage=1)


class AllCNN(_Classifier):
    """ALL-CNN-C (Springenberg et al. 2015) with BatchNorm, as used by P2.

    The last 1x1 conv to the classes followed by global average pooling is written as
    global average pooling followed by ``fc``: both are linear, so the function is the
    same, and P2's last-linear-layer analysis applies.
    """

    stages = ("stage1", "stage2", "stage3", "pool", "fc")
    flatten_after = "pool"

    def __init__(self, num_classes: int, in_channels: int, image_size: int):
        super().__init__()
        self.stage1 = nn.Sequential(
            *_conv_bn_relu(in_channels, 96), *_conv_bn_relu(96, 96),
            *_conv_bn_relu(96, 96, stride=2), nn.Dropout(0.5),
        )
        self.stage2 = nn.Sequential(
            *_conv_bn_relu(96, 192), *_conv_bn_relu(192, 192),
            *_conv_bn_relu(192, 192, stride=2), nn.Dropout(0.5),
        )
        self.stage3 = nn.Sequential(*_conv_bn_relu(192, 192), *_conv_bn_relu(192, 192, 1, padding=0))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(192, num_classes)


register_model("allcnn", "ALL-CNN-C with BatchNorm (P2)")(AllCNN)


class BasicBlock(nn.Module):
    """ResNet basic block; the residual sum is an ``Addition_Module`` (LRP-correct)."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = _shortcut(cin, cout, stride)
        self.add = Addition_Module()
        self.relu_out = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        identity = self.shortcut(x) if self.shortcut is not None else x
        return self.relu_out(self.add(out, identity))


class Bottleneck(nn.Module):
    """ResNet bottleneck block (1x1, 3x3, 1x1), residual through ``Addition_Module``."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = _shortcut(cin, cout, stride)
        self.add = Addition_Module()
        self.relu_out = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = self.shortcut(x) if self.shortcut is not None else x
        return self.relu_out(self.add(out, identity))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None  # identity: no module, so no nn.Identity for Captum to reject
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(_Classifier):
    """ResNet for small images: 3x3 stem with stride 1 and no max-pool (CIFAR-style).
    ``width`` is the first stage's channel count (64 in the paper networks; the stages
    double it: 64, 128, 256, 512); a narrower ResNet keeps the depth and the four stages."""

    stages = ("stem", "layer1", "layer2", "layer3", "layer4", "pool", "fc")
    flatten_after = "pool"

    def __init__(self, block: type[nn.Module], depths: tuple[int, ...], num_classes: int,
                 in_channels: int, image_size: int, width: int = 64):
        super().__init__()
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int, got {width!r}")
        self.stem = nn.Sequential(*_conv_bn_relu(in_channels, width))
        cin = width
        for i, (planes, depth) in enumerate(zip((width, 2 * width, 4 * width, 8 * width), depths, strict=True)):
            blocks = []
            for j in range(depth):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(cin, planes, stride))
                cin = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)


@register_model("resnet18", "ResNet-18 for small images (P3, P4); width 64, or narrower (deep preset: 8)")
def resnet18(num_classes: int, in_channels: int, image_size: int, width: int = 64) -> nn.Module:
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, image_size, width)


@register_model("resnet50", "ResNet-50 for small images (P1, P2, P3)")
def resnet50(num_classes: int, in_channels: int, image_size: int, width: int = 64) -> nn.Module:
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels, image_size, width)


class VGG16(_Classifier):
    """VGG-16 with BatchNorm for small images (P2).

    A stage max-pools only while the feature map is at least 2 pixels wide, so 28-pixel
    and 8-pixel inputs work as well as 32-pixel ones. The head is 512-512-classes
    instead of ImageNet's 4096-4096-1000.
    """

    stages = ("stage1", "stage2", "stage3", "stage4", "stage5", "pool", "head", "fc")
    flatten_after = "pool"

    def __init__(self, num_classes: int, in_channels: int, image_size: int):
        super().__init__()
        side, cin = image_size, in_channels
        for i, (width, convs) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))):
            layers = []
            for _ in range(convs):
                layers += _conv_bn_relu(cin, width)
                cin = width
            if side >= 2:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            setattr(self, f"stage{i + 1}", nn.Sequential(*layers))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.5))
        self.fc = nn.Linear(512, num_classes)


register_model("vgg16_bn", "VGG-16 with BatchNorm for small images (P2)")(VGG16)


def submodules(model: nn.Module, names: Sequence[str]) -> list[nn.Module]:
    """Modules of ``model`` by dotted name (a stage like ``stage2`` or a layer like
    ``layer4.1.conv2``); an unknown name is an error that lists the stages."""
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules or n == ""]
    if missing:
        raise ValueError(f"No module(s) {missing} in {type(model).__name__}; stages are "
                         f"{', '.join(getattr(model, 'stages', ()))}")
    return [modules[n] for n in names]


def structure_fingerprint(model: nn.Module) -> str:
    """Hash of a model's structure: every module's path and type, every parameter's and
    buffer's name and shape. Cache keys include it, so editing a model class recomputes
    instead of loading weights into a changed architecture."""
    parts = [f"{name}:{type(module).__module__}.{type(module).__qualname__}"
             for name, module in model.named_modules()]
    parts += [f"{name}:{tuple(t.shape)}" for name, t in model.state_dict().items()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def reinitialize(module: nn.Module, *, seed: int) -> nn.Module:
    """Re-draw the parameters of ``module`` and all its submodules in place (default
    PyTorch initialisation, BatchNorm statistics reset), reproducibly."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for sub in module.modules():
            if hasattr(sub, "reset_parameters"):
                sub.reset_parameters()
            if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                sub.reset_running_stats()
    return module
