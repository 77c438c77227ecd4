"""The optimizer and learning-rate schedules a TrainConfig asks for, stepped for real."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch

from actionkit.models import create_model
from actionkit.train.config import TrainConfig
from actionkit.train.optim import make_optimizer, make_scheduler
from tests._tiny import tiny_model


def _lrs(config: TrainConfig, steps: int, model=None) -> dict[str, list[float]]:
    """Each group's learning rate before every optimizer step of a run of ``steps`` steps."""
    model = model or tiny_model(pretrained=False)
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config, steps)
    seen = {g.get("name", str(i)): [] for i, g in enumerate(optimizer.param_groups)}
    for _ in range(steps):
        for i, group in enumerate(optimizer.param_groups):
            seen[group.get("name", str(i))].append(group["lr"])
        optimizer.step()
        scheduler.step()
    return seen


def test_onecycle_peaks_at_each_groups_lr_after_the_warmup_then_decays():
    lrs = _lrs(TrainConfig(lr=0.1, backbone_lr_mult=0.1, warmup=0.3), steps=20)
    head, backbone = lrs["head"], lrs["backbone"]
    peak = max(range(20), key=head.__getitem__)
    assert peak == round(0.3 * 20) - 1  # the warm-up ends at step 6 of 20
    assert head[peak] == pytest.approx(0.1) and backbone[peak] == pytest.approx(0.01)
    assert head[0] < 0.1 / 10 and head[-1] < 0.1 / 100  # starts low, ends near zero
    assert all(a < b for a, b in pairwise(head[: peak + 1]))
    assert all(a > b for a, b in pairwise(head[peak:]))
    for h, b in zip(head, backbone, strict=True):
        assert b == pytest.approx(0.1 * h)  # the backbone keeps its ratio all along


def test_cosine_warms_up_linearly_then_follows_the_cosine_to_zero():
    lrs = _lrs(TrainConfig(lr=0.2, schedule="cosine", warmup=0.2), steps=10)["head"]
    assert lrs[:2] == pytest.approx([0.1, 0.2])  # 2 warm-up steps: 1/2, 2/2 of lr
    expected = [0.1 * (1 + math.cos(math.pi * s / 8)) for s in range(8)]
    assert lrs[2:] == pytest.approx(expected)


def test_constant_after_warmup_and_without_warmup():
    assert _lrs(TrainConfig(lr=0.05, schedule="constant", warmup=0.25), 8)["head"] == (
        pytest.approx([0.025, 0.05] + [0.05] * 6)
    )
    assert _lrs(TrainConfig(lr=0.05, schedule="constant", warmup=0.0), 4)["head"] == (
        pytest.approx([0.05] * 4)
    )


def test_optimizers_and_their_settings():
    model = tiny_model(pretrained=False)
    sgd = make_optimizer(model, TrainConfig(optimizer="sgd", momentum=0.9, weight_decay=1e-3))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9
    decay = {g["name"]: g["weight_decay"] for g in sgd.param_groups}
    assert decay["head"] == 1e-3 and decay["head_no_decay"] == 0.0  # no decay on biases, norms
    no_decay = {id(p) for g in sgd.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    assert id(model.fc.bias) in no_decay and id(model.fc.weight) not in no_decay
    adamw = make_optimizer(model, TrainConfig(optimizer="adamw"))
    assert isinstance(adamw, torch.optim.AdamW)


def test_unset_settings_come_from_the_models_recipe():
    """TSN/TSM train with AdamW at one rate (their recipe); video ResNets with SGD, the
    backbone at a tenth: the same TrainConfig() gives each its own."""
    tsm = tiny_model(pretrained=False)
    adamw = make_optimizer(tsm, TrainConfig())
    assert isinstance(adamw, torch.optim.AdamW)
    rates = {g["name"]: g["lr"] for g in adamw.param_groups}
    assert rates["head"] == rates["backbone"] == tsm.recipe.lr
    r2plus1d = create_model("r2plus1d_18", pretrained=False, num_classes=3)
    sgd = make_optimizer(r2plus1d, TrainConfig())
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.95
    rates = {g["name"]: g["lr"] for g in sgd.param_groups}
    assert rates["backbone"] == pytest.approx(rates["head"] * 0.1)
    # What the user sets wins over the recipe.
    assert isinstance(make_optimizer(tsm, TrainConfig(optimizer="sgd")), torch.optim.SGD)
    config = TrainConfig(lr=0.5).resolve(tsm.recipe, "cpu")
    assert config.resolved and config.lr == 0.5 and config.optimizer == "adamw"
    assert config.channels_last is True  # measured faster on a CPU for this family
    assert TrainConfig().resolve(tsm.recipe, "cuda").channels_last is False


def test_a_plain_module_trains_its_trainable_parameters_as_one_group():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    model[0].requires_grad_(False)
    optimizer = make_optimizer(model, TrainConfig(lr=0.3, weight_decay=0.0))
    [group] = optimizer.param_groups
    assert [id(p) for p in group["params"]] == [id(p) for p in model[1].parameters()]
    assert _lrs(TrainConfig(lr=0.3, schedule="constant", warmup=0.0), 3, model)["0"] == (
        pytest.approx([0.3] * 3)
    )
