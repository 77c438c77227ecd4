"""TSN and TSM: temporal shift, consensus, partial BN, fine-tuning surface, weights."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models import mobilenet_v3_large, resnet18
from torchvision.transforms.v2 import functional as TF

from actionkit.models import backbones_2d, create_model, layers, tsn
from actionkit.models.base import VideoClassifier
from actionkit.models.weights import WeightsError, WeightsRecord
from actionkit.spec import IMAGENET_MEAN, IMAGENET_STD

BACKBONES = ("resnet18", "resnet50", "efficientnet_lite0", "mobilenet_v3_large")
SMALL = ("resnet18", "efficientnet_lite0", "mobilenet_v3_large")  # fast enough for every test


def build(arch: str, **kw) -> VideoClassifier:
    kw.setdefault("pretrained", False)
    return tsn.MODELS[arch](**kw)


def clip(b: int = 2, k: int = 4, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, k, 3, size, size, generator=torch.Generator().manual_seed(seed))


# Weights never come from the internet here (file: URLs only), and the user's cache is left alone.
pytestmark = pytest.mark.usefixtures("no_network")


# -- the temporal shift ---------------------------------------------------------------------------
def test_temporal_shift_is_exact():
    b, k, c, h, w = 2, 4, 16, 3, 2  # fold = 16 // 8 = 2 channels each way
    # every value says where it came from: 1000·sample + 100·segment + channel (+ 0.01·pixel)
    x = torch.zeros(b, k, c, h, w)
    for i in range(b):
        for t in range(k):
            for ch in range(c):
                x[i, t, ch] = 1000 * i + 100 * t + ch + 0.01 * torch.arange(h * w).view(h, w) + 1
    shift = layers.TemporalShift(num_segments=k)
    y = shift(x.view(b * k, c, h, w)).view(b, k, c, h, w)

    for i in range(b):
        for t in range(k):
            # channels 0-1: taken from the next segment; zeros in the last one
            if t < k - 1:
                assert torch.equal(y[i, t, :2], x[i, t + 1, :2])
            else:
                assert torch.equal(y[i, t, :2], torch.zeros(2, h, w))
            # channels 2-3: taken from the previous segment; zeros in the first one
            if t > 0:
                assert torch.equal(y[i, t, 2:4], x[i, t - 1, 2:4])
            else:
                assert torch.equal(y[i, t, 2:4], torch.zeros(2, h, w))
            assert torch.equal(y[i, t, 4:], x[i, t, 4:])  # the other 3/4 unchanged
    assert sum(p.numel() for p in shift.parameters()) == 0
    assert not list(shift.buffers()) and shift.state_dict() == {}
    assert shift.num_segments == k


def test_temporal_shift_needs_whole_samples():
    with pytest.raises(ValueError, match="multiple of num_segments=3"):
        layers.TemporalShift(3)(torch.zeros(4, 8, 2, 2))


def test_shift_conv_shares_the_convolution():
    conv = nn.Conv2d(16, 4, 3, padding=1, bias=False)
    shifted = layers.ShiftConv2d.from_conv(conv, num_segments=2)
    assert shifted.weight is conv.weight and shifted.bias is None
    assert list(shifted.state_dict()) == ["weight"]
    x = torch.randn(4, 16, 5, 5)
    torch.testing.assert_close(shifted(x), conv(shifted.shift(x)))


@pytest.mark.parametrize(
    ("backbone", "expected"),
    [("resnet18", 8), ("resnet50", 16), ("efficientnet_lite0", 9), ("mobilenet_v3_large", 10)],
)
def test_shifts_sit_in_every_residual_branch(backbone, expected):
    model = build(f"tsm_{backbone}", num_segments=5)
    shifts = [m for m in model.modules() if isinstance(m, layers.TemporalShift)]
    assert len(shifts) == expected
    assert all(s.num_segments == 5 and s.fold_div == 8 for s in shifts)
    assert not [
        m for m in build(f"tsn_{backbone}").modules() if isinstance(m, layers.TemporalShift)
    ]


@pytest.mark.parametrize("backbone", BACKBONES)
def test_tsm_adds_no_parameters(backbone):
    a, b = build(f"tsn_{backbone}"), build(f"tsm_{backbone}")
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    assert list(a.state_dict()) == list(b.state_dict())  # checkpoints are interchangeable


# -- time: TSM models it, TSN does not -----------------------------------------------------------
@pytest.mark.parametrize("backbone", SMALL)
def test_segment_order_matters_to_tsm_only(backbone):
    torch.manual_seed(0)
    x = clip(b=2, k=4)
    reverse = x.flip(1)
    tsn_model = build(f"tsn_{backbone}").eval()
    tsm_model = build(f"tsm_{backbone}", num_segments=4).eval()
    tsm_model.load_state_dict(tsn_model.state_dict())  # the very same weights
    with torch.no_grad():
        torch.testing.assert_close(tsn_model(x), tsn_model(reverse), rtol=1e-4, atol=1e-5)
        a, b = tsm_model(x), tsm_model(reverse)
    assert (a - b).abs().max() > 1e-3 * a.abs().max()


def test_max_consensus_is_also_order_free():
    model = build("tsn_resnet18", consensus="max").eval()
    x = clip()
    with torch.no_grad():
        frames = model.forward_frames(x.flatten(0, 1)).view(2, 4, -1)
        torch.testing.assert_close(model.forward_features(x), frames.amax(1))
        torch.testing.assert_close(model(x), model(x.flip(1)))


def test_average_consensus_equals_average_of_frame_scores():
    model = build("tsn_efficientnet_lite0", num_classes=6).eval()
    x = clip(k=3)
    with torch.no_grad():
        frame_scores = model.fc(model.forward_frames(x.flatten(0, 1))).view(2, 3, 6)
        torch.testing.assert_close(model(x), frame_scores.mean(1), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("k", [3, 8])
def test_tsm_keeps_the_pretrained_prediction_on_a_still_image(k):
    """K copies of one photo: the shift only moves identical features, so it is still a cat."""
    skimage_data = pytest.importorskip("skimage.data")
    model = tsn.tsm_efficientnet_lite0(pretrained=True, num_classes=1000, num_segments=k).eval()
    spec = model.input_spec
    x = torch.from_numpy(skimage_data.chelsea()).permute(2, 0, 1).float() / 255
    x = TF.center_crop(TF.resize(x, spec.resize, antialias=True), spec.crop_size)
    x = TF.normalize(x, list(spec.mean), list(spec.std))
    with torch.no_grad():
        probs = model(x.expand(1, k, *x.shape)).softmax(-1)[0]
    top3 = probs.topk(3).indices.tolist()
    assert all(281 <= c <= 285 for c in top3), top3
    assert model.classes[top3[0]] in ("tiger cat", "Egyptian cat", "tabby")
    assert probs[281:286].sum() > 0.8


# -- shapes and inputs ----------------------------------------------------------------------------
@pytest.mark.parametrize("arch", [f"{kind}_{b}" for kind in ("tsn", "tsm") for b in SMALL])
@pytest.mark.parametrize("k", [3, 8])
def test_shapes(arch, k):
    model = build(arch, num_classes=5, num_segments=k).eval()
    x = clip(b=2, k=k, size=64)
    with torch.no_grad():
        features = model.forward_features(x)
        out = model(x)
    assert features.shape == (2, model.num_features)
    assert out.shape == (2, 5)
    torch.testing.assert_close(out, model.forward_head(features))
    assert model.forward_head(features, pre_logits=True).shape == features.shape


def test_tsn_takes_any_number_of_segments_but_tsm_needs_its_own():
    x = clip(b=1, k=5)
    assert build("tsn_resnet18", num_segments=3).eval()(x).shape == (1, 1000)
    with pytest.raises(ValueError, match="num_segments=3"):
        build("tsm_resnet18", num_segments=3)(x)
    with pytest.raises(ValueError, match="B×K×C×H×W"):
        build("tsn_resnet18")(torch.zeros(2, 3, 64, 64))


# -- builders -------------------------------------------------------------------------------------
def test_builders_record_how_to_rebuild_them():
    model = tsn.tsm_mobilenet_v3_large(
        pretrained=False,
        num_classes=7,
        num_segments=6,
        consensus="max",
        dropout=0.8,
        partial_bn=True,
    )
    assert model.arch == "tsm_mobilenet_v3_large"
    assert model.arch_kwargs == {
        "num_segments": 6,
        "consensus": "max",
        "dropout": 0.8,
        "partial_bn": True,
    }
    assert model.num_classes == 7 and model.classes is None
    assert model.dropout.p == 0.8
    spec = model.input_spec
    assert (spec.layout, spec.clip_len, spec.num_segments) == ("KCHW", 1, 6)
    assert (spec.crop_size, spec.resize) == (224, 256)
    assert (spec.mean, spec.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert set(tsn.MODELS) == {f"{k}_{b}" for k in ("tsn", "tsm") for b in BACKBONES}
    for name, builder in tsn.MODELS.items():
        assert builder.__name__ == name and getattr(tsn, name) is builder


def test_efficientnet_carries_its_own_normalisation():
    spec = build("tsn_efficientnet_lite0").input_spec
    assert spec.mean == (0.5, 0.5, 0.5) and spec.std == (0.5, 0.5, 0.5)


def test_pretrained_efficientnet_keeps_or_replaces_the_imagenet_classifier():
    kept = tsn.tsn_efficientnet_lite0(num_segments=3)
    assert kept.num_classes == 1000 and kept.classes[285] == "Egyptian cat"
    new = tsn.tsn_efficientnet_lite0(num_classes=4, num_segments=3)
    assert new.num_classes == 4 and new.classes is None
    torch.testing.assert_close(new.backbone.head.conv.weight, kept.backbone.head.conv.weight)
    assert new.fc.weight.std() < 0.01 and not new.fc.bias.any()  # TSN's N(0, 0.001) init


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"consensus": "mean"}, "consensus"),
        ({"num_segments": 0}, "num_segments"),
        ({"dropout": 1.0}, "dropout"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build("tsn_resnet18", **kwargs)


def test_reset_classifier():
    model = build("tsn_resnet18")
    model.reset_classifier(3, classes=["a", "b", "c"])
    assert model.num_classes == 3 and model.classes == ["a", "b", "c"]
    assert model.eval()(clip(b=1, k=2)).shape == (1, 3)
    with pytest.raises(ValueError):
        model.reset_classifier(2, classes=["a"])


# -- partial BN and the fine-tuning surface -------------------------------------------------------
@pytest.mark.parametrize("backbone", SMALL)
def test_partial_bn_freezes_all_but_the_first_batchnorm(backbone):
    model = build(f"tsm_{backbone}", num_classes=3, num_segments=2, partial_bn=True)
    bns = [m for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    first, rest = bns[0], bns[1:]
    assert first is next(m for m in model.stages()[0][1].modules() if isinstance(m, nn.BatchNorm2d))

    def check():
        assert first.training and first.weight.requires_grad and first.bias.requires_grad
        assert not any(bn.training for bn in rest)
        assert not any(bn.weight.requires_grad or bn.bias.requires_grad for bn in rest)

    model.train()
    check()
    before = [bn.running_mean.clone() for bn in bns]
    model(clip(b=2, k=2))
    assert not torch.equal(first.running_mean, before[0])  # the first adapts
    assert all(torch.equal(bn.running_mean, b) for bn, b in zip(rest, before[1:], strict=True))

    model.unfreeze()  # partial BN is a property of the model, not a freeze: it stays
    check()
    model.eval().train()
    check()
    names = {g["name"] for g in model.param_groups(lr=0.01)}
    frozen = {id(p) for bn in rest for p in bn.parameters()}
    assert not any(id(p) in frozen for g in model.param_groups(lr=0.01) for p in g["params"])
    assert names == {"head", "head_no_decay", "backbone", "backbone_no_decay"}


def test_without_partial_bn_every_batchnorm_trains():
    model = build("tsn_resnet18").train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(bn.training and bn.weight.requires_grad for bn in bns)


@pytest.mark.parametrize("backbone", SMALL)
def test_freeze_backbone_and_param_groups(backbone):
    model = build(f"tsn_{backbone}", num_classes=4)
    names = model.stage_names()
    assert names[0] == "stem"
    assert [n for n, _ in model.backbone.named_children()] == [n for n in names if n != "neck"]
    model.freeze_backbone()
    assert not any(p.requires_grad for p in model.backbone_parameters())
    assert all(p.requires_grad for p in model.fc.parameters())
    assert {g["name"] for g in model.param_groups(lr=0.1)} == {"head", "head_no_decay"}
    model.train()
    assert not any(m.training for _, stage in model.stages() for m in stage.modules())
    assert model.fc.training

    model.unfreeze()
    model.freeze_backbone(until=names[2])
    stages = dict(model.stages())
    for name in names[:3]:
        assert not any(p.requires_grad for p in stages[name].parameters())
    for name in names[3:]:
        assert all(p.requires_grad for p in stages[name].parameters())
    groups = model.param_groups(lr=0.1, backbone_lr_mult=0.1)
    lrs = {g["name"]: g["lr"] for g in groups}
    assert lrs["head"] == 0.1 and lrs["backbone"] == pytest.approx(0.01)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sum(p.numel() for g in groups for p in g["params"]) == n_trainable


def test_mobilenet_neck_is_a_stage():
    model = build("tsn_mobilenet_v3_large")
    assert model.stage_names()[-1] == "neck"
    assert model.num_features == 1280 and model.fc.in_features == 1280
    model.freeze_backbone()
    assert not any(p.requires_grad for p in model.neck.parameters())


@pytest.mark.parametrize("arch", [f"tsm_{b}" for b in SMALL] + ["tsn_resnet18"])
def test_gradient_reaches_every_trainable_parameter(arch):
    torch.manual_seed(0)
    model = build(arch, num_classes=3, num_segments=2, dropout=0.0).train()
    nn.init.normal_(model.fc.weight, std=0.1)  # the TSN init (std 0.001) makes tiny gradients
    loss = nn.functional.cross_entropy(model(clip(b=3, k=2, size=64)), torch.tensor([0, 1, 2]))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    zero = [n for n, p in model.named_parameters() if p.grad is not None and not p.grad.any()]
    assert not zero, zero
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# -- weights --------------------------------------------------------------------------------------
def test_full_model_weights_round_trip(tmp_path):
    source = build("tsm_efficientnet_lite0", num_classes=5, num_segments=3).eval()
    with torch.no_grad():
        for p in source.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    path = tmp_path / "model.pth"
    torch.save({"state_dict": source.state_dict()}, path)
    loaded = tsn.tsm_efficientnet_lite0(num_classes=5, num_segments=3, weights=str(path)).eval()
    x = clip(b=1, k=3)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), source(x))
    assert loaded.classes is None
    same = create_model("tsm_efficientnet_lite0", num_segments=3, weights=path).eval()
    assert same.num_classes == 5  # no num_classes: the checkpoint's head
    with torch.no_grad():
        torch.testing.assert_close(same(x), source(x))
    # Another number of classes keeps the checkpoint's backbone under a new head.
    other = tsn.tsm_efficientnet_lite0(num_classes=6, num_segments=3, weights=str(path)).eval()
    assert other.num_classes == 6 and not other.fc.bias.any()
    assert 0 < other.fc.weight.std() < 0.01  # TSN's N(0, 0.001) init
    with torch.no_grad():
        torch.testing.assert_close(other.forward_features(x), source.forward_features(x))
    headless = {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}
    torch.save(headless, tmp_path / "headless.pth")
    with pytest.raises(WeightsError, match=r"headless\.pth has no 'fc.weight'"):
        tsn.tsm_efficientnet_lite0(num_segments=3, weights=str(tmp_path / "headless.pth"))


def test_weights_skip_the_imagenet_download(tmp_path):
    """weights= on a torchvision backbone works offline: no ImageNet checkpoint is fetched."""
    path = tmp_path / "tsn.pth"
    torch.save(build("tsn_resnet18", num_classes=2).state_dict(), path)
    model = tsn.tsn_resnet18(num_classes=2, weights=str(path))  # pretrained=True by default
    assert model.num_classes == 2


def test_imagenet_records_follow_torchvision():
    assert backbones_2d.IMAGENET_WEIGHTS["resnet18"].url.endswith("/resnet18-f37072fd.pth")
    assert backbones_2d.IMAGENET_WEIGHTS["resnet18"].sha256_prefix == "f37072fd"
    assert backbones_2d.IMAGENET_WEIGHTS["resnet50"].sha256_prefix == "0676ba61"
    assert backbones_2d.IMAGENET_WEIGHTS["mobilenet_v3_large"].sha256_prefix == "8738ca79"
    assert backbones_2d.imagenet_weights("efficientnet_lite0") is None
    with pytest.raises(ValueError):
        backbones_2d.imagenet_weights("vgg16")


@pytest.mark.parametrize("arch", ["tsn_resnet18", "tsm_resnet50", "tsn_mobilenet_v3_large"])
def test_offline_torchvision_weights_raise_a_clear_error(arch):
    name = backbones_2d.IMAGENET_WEIGHTS[arch.split("_", 1)[1]].cache_name
    with pytest.raises(WeightsError, match=name) as info:
        tsn.MODELS[arch](pretrained=True)
    assert "offline" in str(info.value)


def _fake_record(tmp_path, net: nn.Module, name: str) -> WeightsRecord:
    path = tmp_path / name
    torch.save(net.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return WeightsRecord(
        url=path.as_uri(), sha256_prefix=digest[:8], num_classes=1000, classes=None
    )


@pytest.mark.parametrize("num_classes", [1000, 10])
def test_torchvision_imagenet_weights_land_in_the_backbone(tmp_path, monkeypatch, num_classes):
    torch.manual_seed(1)
    reference = resnet18()
    record = _fake_record(tmp_path, reference, "resnet18-test.pth")
    monkeypatch.setitem(backbones_2d.IMAGENET_WEIGHTS, "resnet18", record)
    model = tsn.tsm_resnet18(pretrained=True, num_classes=num_classes)
    assert record.cache_path.is_file()  # fetched through the weights cache
    assert torch.equal(model.backbone.stem.conv1.weight, reference.conv1.weight)
    assert torch.equal(model.backbone.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    assert torch.equal(model.backbone.layer1[0].conv1.weight, reference.layer1[0].conv1.weight)
    if num_classes == 1000:
        assert torch.equal(model.fc.weight, reference.fc.weight)
        assert model.classes[0] == "tench" and len(model.classes) == 1000
    else:
        assert model.num_classes == 10 and model.classes is None


def test_mobilenet_imagenet_weights_fill_backbone_and_neck(tmp_path, monkeypatch):
    torch.manual_seed(2)
    reference = mobilenet_v3_large().eval()
    monkeypatch.setitem(
        backbones_2d.IMAGENET_WEIGHTS,
        "mobilenet_v3_large",
        _fake_record(tmp_path, reference, "mb.pth"),
    )
    model = tsn.tsn_mobilenet_v3_large(pretrained=True, num_segments=2).eval()
    x = clip(b=1, k=2, size=64)
    with torch.no_grad():
        expected = reference(x.flatten(0, 1)).mean(0, keepdim=True)  # average of frame scores
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-5)


def test_segment_features_match_the_imagenet_network_frame_by_frame(tmp_path, monkeypatch):
    """TSN's backbone + neck + fc is the 2D ImageNet network applied to each frame."""
    torch.manual_seed(3)
    reference = resnet18().eval()
    monkeypatch.setitem(
        backbones_2d.IMAGENET_WEIGHTS, "resnet18", _fake_record(tmp_path, reference, "r.pth")
    )
    model = tsn.tsn_resnet18(pretrained=True, num_segments=3).eval()
    x = clip(b=2, k=3, size=64)
    with torch.no_grad():
        frames = reference(x.flatten(0, 1)).view(2, 3, -1)
        torch.testing.assert_close(model(x), frames.mean(1), rtol=1e-4, atol=1e-5)
    assert np.isclose(model.dropout.p, 0.5)
