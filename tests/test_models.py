"""Every registered model: the shared contract, and LRP-correctness (relevance
conservation under Captum's LRP)."""

from __future__ import annotations

import pytest
import torch
from captum.attr import LRP
from torch import nn

from unlearnlab import models


def _bias_free(model: nn.Module) -> nn.Module:
    """Zero every bias and BatchNorm shift: the network becomes positively
    homogeneous, so LRP-epsilon must conserve relevance exactly (up to epsilon)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.zero_()
                module.bias.zero_()
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=gen) + 0.5)
            elif getattr(module, "bias", None) is not None:
                module.bias.zero_()
    return model.eval()


def _relative_conservation_error(model: nn.Module, x: torch.Tensor) -> float:
    logits = model(x)
    target = logits.argmax(1)
    # homogeneity: rescale inputs so the explained logits are about 1 (epsilon is 1e-9)
    x = x / logits.gather(1, target[:, None]).abs().clamp_min(1e-12).view(-1, 1, 1, 1)
    relevance = LRP(model).attribute(x.requires_grad_(), target=target)
    explained = model(x).gather(1, target[:, None]).flatten()
    return float(((relevance.sum((1, 2, 3)) - explained).abs() / explained.abs()).max().detach())


@pytest.mark.parametrize("name", models.list_models())
def test_model_contract(name):
    model = models.create_model(name, num_classes=7, in_channels=1, image_size=8, seed=0).eval()
    x = torch.randn(3, 1, 8, 8)
    logits = model(x)
    assert logits.shape == (3, 7)
    assert isinstance(model.fc, nn.Linear) and model.stages[-1] == "fc"
    assert torch.allclose(model.fc(model.features(x)), logits)
    assert all(hasattr(model, stage) for stage in model.stages)
    assert not any(isinstance(m, (nn.Flatten, nn.Identity)) for m in model.modules())
    assert not any(isinstance(m, nn.ReLU) and m.inplace for m in model.modules())


@pytest.mark.parametrize("name", models.list_models())
def test_no_module_runs_twice_in_one_forward(name):
    model = models.create_model(name, 5, 3, 16, seed=0).eval()
    calls: dict[nn.Module, int] = {}
    hooks = [m.register_forward_hook(lambda m, i, o: calls.__setitem__(m, calls.get(m, 0) + 1))
             for m in model.modules() if not list(m.children())]
    model(torch.randn(1, 3, 16, 16))
    for h in hooks:
        h.remove()
    assert max(calls.values()) == 1


@pytest.mark.parametrize("name", models.list_models())
@pytest.mark.parametrize("channels, size", [(1, 8), (3, 16)])
def test_lrp_conserves_relevance(name, channels, size):
    model = _bias_free(models.create_model(name, 10, channels, size, seed=1))
    x = torch.randn(2, channels, size, size, generator=torch.Generator().manual_seed(2))
    assert _relative_conservation_error(model, x) < 1e-3


class _FunctionalResidual(nn.Module):
    """Negative control: a residual block whose sum is ``+`` instead of Addition_Module."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1, 2, bias=False)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.relu(self.conv(x) + x)), 1))


def test_conservation_check_catches_a_functional_residual():
    torch.manual_seed(0)
    model = _FunctionalResidual().eval()
    with torch.no_grad():
        model.conv.weight.fill_(0.5)
        model.fc.weight.copy_(torch.tensor([[1.0], [-1.0]]))
    x = torch.rand(2, 1, 6, 6) + 0.1
    assert _relative_conservation_error(model, x) > 1e-2


def test_seeded_creation_is_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = models.create_model("tiny_cnn", 10, 1, 8, seed=5)
    after = torch.rand(1)
    b = models.create_model("tiny_cnn", 10, 1, 8, seed=5)
    assert torch.equal(before, after)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_reinitialize_redraws_weights_and_resets_batchnorm():
    model = models.create_model("tiny_cnn", 10, 1, 8, seed=0)
    with torch.no_grad():
        model.stage1[1].running_mean.fill_(3.0)
    old = model.fc.weight.clone()
    models.reinitialize(model, seed=1)
    assert not torch.equal(old, model.fc.weight)
    assert torch.all(model.stage1[1].running_mean == 0)


def test_a_resnets_width_sets_its_channels_and_other_models_refuse_options():
    narrow = models.create_model("resnet18", 10, 1, 28, seed=0, width=8)
    assert narrow.stem[0].out_channels == 8 and narrow.fc.in_features == 64
    assert models.create_model("resnet18", 10, 1, 28, seed=0).fc.in_features == 512
    with pytest.raises(ValueError, match="takes no option"):
        models.create_model("small_cnn", 10, 1, 28, width=8)
    with pytest.raises(ValueError, match="width must be a positive int"):
        models.create_model("resnet18", 10, 1, 28, width=0)


def test_the_small_cnns_head_width_is_an_option_a_preset_can_set():
    wide = models.create_model("small_cnn", 10, 1, 28, seed=0, hidden=512)
    assert wide.head[0].out_features == 512 and wide.fc.in_features == 512
    assert models.create_model("small_cnn", 10, 1, 28, seed=0).fc.in_features == 128
    with pytest.raises(ValueError, match="hidden"):
        models.create_model("small_cnn", 10, 1, 28, hidden=0)
    from unlearnlab import config

    preset = config.get_preset("cpu", model_options={"hidden": 512})
    assert preset.model_options == {"hidden": 512} and config.get_preset("cpu").model_options == {}
    deep = config.get_preset("deep", model_options={"width": 16})
    assert deep.model_options == {"width": 16}
    with pytest.raises(TypeError, match="model_options"):
        config.get_preset("cpu", model_options=512)


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match="resnet18"):
        models.create_model("transformer", 10)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_small_cnn_pools_before_its_last_relu_with_the_same_function_and_gradients(mode):
    """SmallCNN max-pools before a stage's last ReLU (faster); outputs, input gradients
    and weight gradients must equal those of the usual conv -> BN -> ReLU -> pool order,
    exactly, also where a whole pooling window is negative."""
    model = models.create_model("small_cnn", num_classes=10, in_channels=1, image_size=28, seed=0)
    assert [type(m) for m in model.stage1] == [nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.ReLU]

    def usual_order(x: torch.Tensor) -> torch.Tensor:
        for stage in (model.stage1, model.stage2):
            conv, bn, pool, relu = stage
            x = pool(relu(bn(conv(x))))
        return model.fc(model.head(torch.flatten(x, 1)))

    getattr(model, mode)()
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)) - 1.0
    results = []
    for forward in (model, usual_order):
        xi = x.clone().requires_grad_()
        model.zero_grad()
        logits = forward(xi)
        logits.square().sum().backward()
        results.append((logits.detach(), xi.grad, [p.grad.clone() for p in model.parameters()]))
    (a, ga, pa), (b, gb, pb) = results
    pre = model.stage1[1](model.stage1[0](x)).detach()
    windows = torch.nn.functional.max_pool2d(pre, 2)
    assert (windows < 0).any()  # the case where the two orders could differ is exercised
    assert torch.equal(a, b) and torch.equal(ga, gb)
    assert all(torch.equal(u, v) for u, v in zip(pa, pb, strict=True))
