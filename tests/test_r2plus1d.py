"""R(2+1)D-34 (IG-65M layout) and R(2+1)D-18: architecture, checkpoint layout, weight loading."""

from __future__ import annotations

import hashlib
import socket

import pytest
import torch
from torch import nn
from torchvision.models.video import R2Plus1D_18_Weights
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, R2Plus1dStem, VideoResNet

from actionkit.models.r2plus1d import (
    IG65M_RECORDS,
    R2PLUS1D_18_RECORD,
    r2plus1d_18,
    r2plus1d_34_8_ig65m,
    r2plus1d_34_8_kinetics,
    r2plus1d_34_32_ig65m,
)
from actionkit.models.video_resnet import VideoResNetClassifier, midplanes
from actionkit.models.weights import WeightsError, WeightsRecord, cache_dir, load_into
from actionkit.resources import kinetics400_classes
from actionkit.spec import KINETICS_MEAN, KINETICS_STD

pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture(scope="module")
def model34():
    """One R(2+1)D-34 with the 8-frame IG-65M head (487 classes), random weights."""
    return r2plus1d_34_8_ig65m(pretrained=False)


@pytest.fixture(scope="module")
def kinetics_ckpt(tmp_path_factory):
    """A random R(2+1)D-34 Kinetics state_dict saved like the published files, and its sha256."""
    torch.manual_seed(0)
    state = r2plus1d_34_8_kinetics(pretrained=False).state_dict()
    path = tmp_path_factory.mktemp("ckpt") / "r2plus1d_34_clip8_ft_kinetics_from_ig65m-test.pth"
    torch.save(state, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest(), state


# -- the published checkpoint layout, written down from the architecture facts -------------------
# (layer, blocks, planes, mid-planes of the first block's first conv, mid-planes everywhere else)
LAYERS = [
    (1, 3, 64, 144, 144),
    (2, 4, 128, 230, 288),
    (3, 6, 256, 460, 576),
    (4, 3, 512, 921, 1152),
]


def _bn(prefix, n):
    return {
        f"{prefix}.weight": (n,),
        f"{prefix}.bias": (n,),
        f"{prefix}.running_mean": (n,),
        f"{prefix}.running_var": (n,),
        f"{prefix}.num_batches_tracked": (),
    }


def expected_ig65m_layout(num_classes: int) -> dict[str, tuple[int, ...]]:
    keys = {"stem.0.weight": (45, 3, 1, 7, 7), **_bn("stem.1", 45)}
    keys |= {"stem.3.weight": (64, 45, 3, 1, 1), **_bn("stem.4", 64)}
    inplanes = 64
    for layer, blocks, planes, first_mid, mid in LAYERS:
        for b in range(blocks):
            p = f"layer{layer}.{b}"
            cin = inplanes if b == 0 else planes
            mid1 = first_mid if b == 0 else mid
            keys |= {f"{p}.conv1.0.0.weight": (mid1, cin, 1, 3, 3), **_bn(f"{p}.conv1.0.1", mid1)}
            keys |= {
                f"{p}.conv1.0.3.weight": (planes, mid1, 3, 1, 1),
                **_bn(f"{p}.conv1.1", planes),
            }
            keys |= {f"{p}.conv2.0.0.weight": (mid, planes, 1, 3, 3), **_bn(f"{p}.conv2.0.1", mid)}
            keys |= {f"{p}.conv2.0.3.weight": (planes, mid, 3, 1, 1), **_bn(f"{p}.conv2.1", planes)}
            if b == 0 and layer > 1:
                keys |= {f"{p}.downsample.0.weight": (planes, cin, 1, 1, 1)}
                keys |= _bn(f"{p}.downsample.1", planes)
        inplanes = planes
    keys |= {"fc.weight": (num_classes, 512), "fc.bias": (num_classes,)}
    return keys


def _layout(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _params_m(model: nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


# -- architecture --------------------------------------------------------------------------------
def test_midplanes_follow_the_caffe2_rule():
    assert [midplanes(64, 64), midplanes(64, 128), midplanes(128, 128)] == [144, 230, 288]
    assert [midplanes(128, 256), midplanes(256, 256)] == [460, 576]
    assert [midplanes(256, 512), midplanes(512, 512)] == [921, 1152]


def test_state_dict_is_exactly_the_published_layout(model34):
    assert _layout(model34) == expected_ig65m_layout(487)
    assert IG65M_RECORDS["r2plus1d_34_8_ig65m"].num_classes == 487
    assert IG65M_RECORDS["r2plus1d_34_32_ig65m"].num_classes == 359


def test_parameter_counts(model34):
    assert _params_m(model34) == pytest.approx(63.74, abs=0.01)
    model359 = r2plus1d_34_32_ig65m(pretrained=False)
    assert model359.num_classes == 359
    assert _layout(model359) == expected_ig65m_layout(359)
    assert _params_m(model359) == pytest.approx(63.68, abs=0.01)


def test_batchnorm_is_caffe2_eps_with_pytorch_momentum(model34):
    norms = [m for m in model34.modules() if isinstance(m, nn.BatchNorm3d)]
    assert norms and all(m.eps == 1e-3 and m.momentum == 0.1 for m in norms)


def test_input_spec_and_classes():
    for name, record in IG65M_RECORDS.items():
        spec = record.input_spec
        assert spec.layout == "CTHW" and spec.crop_size == 112 and spec.resize == 128
        assert spec.clip_len == (8 if "_8_" in name else 32)
        assert (spec.mean, spec.std) == (KINETICS_MEAN, KINETICS_STD)
        assert record.classes == (kinetics400_classes() if "kinetics" in name else None)
        assert record.url.endswith(f"-{record.sha256_prefix}.pth")
        assert record.url.startswith(
            "https://github.com/moabitcoin/ig65m-pytorch/releases/download/v1.0.0/"
        )


def test_torchvision_layout_does_not_load(model34):
    """torchvision's own R(2+1)D-34 reuses conv1's mid-planes; its state_dict must not fit."""
    plain = VideoResNet(BasicBlock, [Conv2Plus1D] * 4, [3, 4, 6, 3], R2Plus1dStem, num_classes=487)
    with pytest.raises(WeightsError, match=r"layer2\.0\.conv2\.0\.0\.weight"):
        load_into(model34, plain.state_dict(), source="plain.pth")


def test_stages_and_freezing(model34):
    assert model34.stage_names() == ["stem", "layer1", "layer2", "layer3", "layer4"]
    model34.freeze_backbone(until="layer3")
    try:
        assert not any(p.requires_grad for p in model34.layer3.parameters())
        assert all(p.requires_grad for p in model34.layer4.parameters())
        model34.train()
        assert not model34.layer1.training and model34.layer4.training
    finally:
        model34.unfreeze()
        model34.eval()


@pytest.mark.slow
def test_gradient_reaches_every_parameter(model34):
    model34.train()
    model34.zero_grad(set_to_none=True)
    out = model34(torch.randn(2, 3, 8, 32, 32))
    assert out.shape == (2, 487)
    out.logsumexp(dim=1).sum().backward()
    missing = [n for n, p in model34.named_parameters() if p.grad is None or not p.grad.any()]
    assert missing == []
    model34.zero_grad(set_to_none=True)
    model34.eval()


def test_head_reset_and_forward_shapes(model34):
    head = model34.fc
    try:
        model34.reset_classifier(5, classes=list("abcde"))
        assert model34.num_classes == 5 and model34.classes == list("abcde")
        assert model34.fc.weight.std().item() == pytest.approx(0.01, rel=0.2)
        assert not model34.fc.bias.any()
        with torch.no_grad():
            feats = model34.forward_features(torch.randn(1, 3, 8, 32, 32))
            assert feats.shape == (1, 512)
            assert model34.forward_head(feats, pre_logits=True).shape == (1, 512)
            assert model34.forward_head(feats).shape == (1, 5)
        with pytest.raises(ValueError, match="2 class names"):
            model34.reset_classifier(3, classes=["a", "b"])
        with pytest.raises(ValueError, match=r"\(B, C, T, H, W\)"):
            model34(torch.randn(3, 8, 32, 32))
    finally:
        model34.fc, model34.classes = head, None


# -- loading weights through the real download path ----------------------------------------------
def _record_for(path, sha, classes):
    return WeightsRecord(
        url=path.as_uri(),
        sha256_prefix=sha[:8],
        num_classes=400,
        classes=classes,
        input_spec=IG65M_RECORDS["r2plus1d_34_8_kinetics"].input_spec,
    )


@pytest.mark.slow
def test_pretrained_loads_from_a_file_url_with_hash_check(kinetics_ckpt, monkeypatch):
    path, sha, state = kinetics_ckpt
    record = _record_for(path, sha, kinetics400_classes())
    monkeypatch.setitem(IG65M_RECORDS, "r2plus1d_34_8_kinetics", record)

    model = r2plus1d_34_8_kinetics(progress=False)  # pretrained=True: download, check, load
    assert (cache_dir() / path.name).is_file()
    assert model.classes == list(kinetics400_classes()) and model.num_classes == 400
    assert model.arch == "r2plus1d_34_8_kinetics" and model.input_spec.clip_len == 8
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key

    # a different number of classes: the backbone is kept, the head is new
    tuned = r2plus1d_34_8_kinetics(num_classes=3, classes=["a", "b", "c"], progress=False)
    assert tuned.num_classes == 3 and tuned.classes == ["a", "b", "c"]
    assert torch.equal(tuned.layer4[2].conv2[0][3].weight, state["layer4.2.conv2.0.3.weight"])
    assert tuned.fc.weight.shape == (3, 512)


@pytest.mark.slow
def test_weights_argument_takes_a_path_or_a_record(kinetics_ckpt):
    path, sha, state = kinetics_ckpt
    model = r2plus1d_34_8_ig65m(weights=path, num_classes=10)  # another model's checkpoint
    assert model.num_classes == 10 and model.classes is None
    assert torch.equal(model.stem[0].weight, state["stem.0.weight"])
    same = r2plus1d_34_8_ig65m(weights=_record_for(path, sha, None), progress=False)
    assert same.num_classes == 400 and same.classes is None


@pytest.mark.slow
def test_hash_mismatch_and_truncated_checkpoint(kinetics_ckpt, tmp_path, monkeypatch):
    path, sha, _ = kinetics_ckpt
    bad = WeightsRecord(url=path.as_uri(), sha256_prefix="0badbeef", num_classes=400, classes=None)
    monkeypatch.setitem(IG65M_RECORDS, "r2plus1d_34_8_kinetics", bad)
    with pytest.raises(WeightsError) as info:
        r2plus1d_34_8_kinetics(progress=False)
    assert (
        path.as_uri() in str(info.value)
        and "0badbeef" in str(info.value)
        and sha in str(info.value)
    )
    assert not (cache_dir() / path.name).exists()

    truncated = tmp_path / "truncated.pth"
    with open(path, "rb") as src:
        truncated.write_bytes(src.read(10_000_000))
    with pytest.raises(WeightsError, match=r"truncated\.pth"):
        r2plus1d_34_8_ig65m(weights=truncated)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_pretrained_says_where_to_put_the_file(monkeypatch):
    record = IG65M_RECORDS["r2plus1d_34_32_ig65m"]
    offline = WeightsRecord(
        url=f"http://127.0.0.1:{_closed_port()}/{record.cache_name}",
        sha256_prefix=record.sha256_prefix,
        num_classes=record.num_classes,
        classes=None,
    )
    monkeypatch.setitem(IG65M_RECORDS, "r2plus1d_34_32_ig65m", offline)
    with pytest.raises(WeightsError, match="offline") as info:
        r2plus1d_34_32_ig65m(progress=False)
    assert str(cache_dir() / "r2plus1d_34_clip32_ig65m_from_scratch-449a7af9.pth") in str(
        info.value
    )


# -- R(2+1)D-18 ----------------------------------------------------------------------------------
def test_r2plus1d_18_matches_torchvision():
    tv_weights = R2Plus1D_18_Weights.KINETICS400_V1
    assert R2PLUS1D_18_RECORD.url == tv_weights.url
    assert tv_weights.url.endswith(f"-{R2PLUS1D_18_RECORD.sha256_prefix}.pth")
    assert R2PLUS1D_18_RECORD.classes == tuple(tv_weights.meta["categories"])
    spec = R2PLUS1D_18_RECORD.input_spec
    assert spec.crop_size == tv_weights.transforms().crop_size[0]
    assert spec.resize == min(tv_weights.transforms().resize_size)
    assert list(spec.mean) == tv_weights.transforms().mean

    torch.manual_seed(0)
    model = r2plus1d_18(pretrained=False, dropout=0.3)
    assert isinstance(model, VideoResNetClassifier)
    assert sum(p.numel() for p in model.parameters()) == tv_weights.meta["num_params"]
    assert model.arch_kwargs == {"dropout": 0.3} and model.dropout.p == 0.3
    from torchvision.models.video import r2plus1d_18 as tv_r2plus1d_18

    reference = tv_r2plus1d_18().eval()
    model.load_state_dict(reference.state_dict())
    model.eval()
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))
