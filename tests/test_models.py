"""create_model / list_models, torchvision's video models, and save_model / load_model."""

from __future__ import annotations

import hashlib

import pytest
import torch
from torchvision.models import video as tv

from actionkit.models import (
    WeightsError,
    create_model,
    list_models,
    load_model,
    save_model,
)
from actionkit.models._registry import _MODELS as MODELS
from actionkit.models.io import read_model_file
from actionkit.models.r2plus1d import R2PLUS1D_18_RECORD
from actionkit.models.torchvision_video import (
    TORCHVISION_RECORDS,
    MViTClassifier,
    S3DClassifier,
)
from actionkit.models.weights import WeightsRecord, cache_dir
from actionkit.resources import kinetics400_classes
from actionkit.spec import InputSpec

TORCHVISION_WEIGHTS = {
    "r3d_18": tv.R3D_18_Weights.KINETICS400_V1,
    "mc3_18": tv.MC3_18_Weights.KINETICS400_V1,
    "r2plus1d_18": tv.R2Plus1D_18_Weights.KINETICS400_V1,
    "s3d": tv.S3D_Weights.KINETICS400_V1,
    "mvit_v2_s": tv.MViT_V2_S_Weights.KINETICS400_V1,
    "swin3d_t": tv.Swin3D_T_Weights.KINETICS400_V1,
}


pytestmark = pytest.mark.usefixtures("private_cache")


# -- factory -------------------------------------------------------------------------------------
def test_list_models_and_patterns():
    names = list_models()
    assert names == sorted(names) == sorted(MODELS)
    for name in ["r2plus1d_34_8_ig65m", "r2plus1d_34_32_kinetics", "r2plus1d_18", "s3d"]:
        assert name in names
    assert list_models("r2plus1d_34_*") == [
        "r2plus1d_34_32_ig65m",
        "r2plus1d_34_32_kinetics",
        "r2plus1d_34_8_ig65m",
        "r2plus1d_34_8_kinetics",
    ]
    assert list_models("*_ig65m") == ["r2plus1d_34_32_ig65m", "r2plus1d_34_8_ig65m"]
    assert list_models("nothing*") == []


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match="Did you mean r2plus1d_34_8_ig65m") as info:
        create_model("r2plus1d_34_8_ig65")
    assert "Available:" in str(info.value)
    with pytest.raises(ValueError, match="Unknown model 'resnet9000'"):
        create_model("resnet9000")


def test_create_model_passes_arguments_through():
    model = create_model("mc3_18", num_classes=5, pretrained=False, dropout=0.25)
    assert model.arch == "mc3_18" and model.num_classes == 5 and model.classes is None
    assert model.arch_kwargs == {"dropout": 0.25}
    named = create_model("mc3_18", pretrained=False, classes=["x", "y"])
    assert named.num_classes == 2 and named.classes == ["x", "y"]
    with pytest.raises(ValueError, match="3 class names given for 2 classes"):
        create_model("mc3_18", pretrained=False, num_classes=2, classes=["a", "b", "c"])


def test_factory_exports_the_weights_api():
    import actionkit.models as models

    for name in ("WeightsRecord", "WeightsError", "download", "create_model", "list_models"):
        assert hasattr(models, name)


# -- torchvision's video models ------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(TORCHVISION_WEIGHTS))
def test_records_equal_torchvision(name):
    tv_weights = TORCHVISION_WEIGHTS[name]
    record = {**TORCHVISION_RECORDS, "r2plus1d_18": R2PLUS1D_18_RECORD}[name]
    assert record.url == tv_weights.url
    assert tv_weights.url.endswith(f"-{record.sha256_prefix}.pth")
    assert record.num_classes == len(tv_weights.meta["categories"]) == 400
    assert record.classes == tuple(tv_weights.meta["categories"]) == kinetics400_classes()
    transforms = tv_weights.transforms()
    spec = record.input_spec
    assert spec.layout == "CTHW"
    assert spec.crop_size == transforms.crop_size[0]
    assert spec.resize == min(transforms.resize_size)
    assert list(spec.mean) == transforms.mean and list(spec.std) == transforms.std
    assert spec.clip_len >= (tv_weights.meta.get("min_temporal_size") or 1)


# (name, tiny input that the architecture accepts)
TINY = {
    "r3d_18": (1, 3, 4, 32, 32),
    "mc3_18": (1, 3, 4, 32, 32),
    "s3d": (1, 3, 8, 64, 64),
    "swin3d_t": (1, 3, 4, 64, 64),
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_torchvision_models_build_and_run(name):
    torch.manual_seed(0)
    model = create_model(name, pretrained=False).eval()
    assert model.arch == name and model.num_classes == 400
    assert (
        sum(p.numel() for p in model.parameters()) == TORCHVISION_WEIGHTS[name].meta["num_params"]
    )
    assert model.input_spec == TORCHVISION_RECORDS[name].input_spec
    with torch.no_grad():
        feats = model.forward_features(torch.randn(TINY[name]))
        assert model.forward_head(feats).shape == (1, 400)
    model.reset_classifier(7)
    assert model.num_classes == 7
    assert model.stage_names()[0] in ("stem", "patch_embed")


@pytest.mark.parametrize("name", ["r3d_18", "mc3_18"])
def test_video_resnets_match_torchvision_outputs(name):
    torch.manual_seed(0)
    reference = getattr(tv, name)().eval()
    model = create_model(name, pretrained=False).eval()
    model.load_state_dict(reference.state_dict())
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


@pytest.mark.slow
def test_s3d_loads_a_torchvision_checkpoint_and_matches_it(tmp_path):
    torch.manual_seed(0)
    reference = tv.s3d().eval()
    path = tmp_path / "s3d.pth"
    torch.save(reference.state_dict(), path)
    model = create_model("s3d", weights=path).eval()  # the head conv becomes a Linear
    assert model.classifier[1].weight.shape == (400, 1024)
    x = torch.randn(1, 3, 16, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-5)
    assert isinstance(model, S3DClassifier)


def test_mvit_wrapper_matches_torchvision_on_a_small_configuration():
    """A 4-block MViT-v2 at 4x64x64, run through torchvision's forward and the wrapper's."""
    from torchvision.models.video.mvit import MSBlockConfig

    torch.manual_seed(0)
    dims = [(32, 32), (32, 64), (64, 64), (64, 128)]
    strides = [[1, 1, 1], [1, 2, 2], [1, 1, 1], [1, 2, 2]]
    blocks = [
        MSBlockConfig(2, cin, cout, [3, 3, 3], [3, 3, 3], stride_q, [1, 2, 2])
        for (cin, cout), stride_q in zip(dims, strides, strict=True)
    ]
    reference = tv.MViT(
        spatial_size=(64, 64),
        temporal_size=4,
        block_setting=blocks,
        residual_pool=True,
        residual_with_cls_embed=False,
        rel_pos_embed=True,
        proj_after_attn=True,
        num_classes=5,
    ).eval()
    model = MViTClassifier(reference)  # the same modules, run through the wrapper's forward
    assert model.expected_size == (4, 64, 64)
    x = torch.randn(2, 3, 4, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))
        with pytest.raises(ValueError, match="mvit needs inputs"):
            model(torch.randn(1, 3, 8, 32, 32))
    assert model.stage_names() == ["stem", "stage1", "stage2", "stage3", "norm"]
    assert [len(m) for _, m in model.stages()[1:-1]] == [1, 2, 1]


@pytest.mark.slow
def test_mvit_runs_at_the_size_of_its_spec():
    model = create_model("mvit_v2_s", pretrained=False).eval()
    spec = model.input_spec
    assert model.expected_size == (spec.clip_len, spec.crop_size, spec.crop_size) == (16, 224, 224)
    assert (
        sum(p.numel() for p in model.parameters())
        == TORCHVISION_WEIGHTS["mvit_v2_s"].meta["num_params"]
    )
    assert model.stage_names() == ["stem", "stage1", "stage2", "stage3", "stage4", "norm"]
    assert [len(m) for _, m in model.stages()[1:-1]] == [1, 2, 11, 2]  # MViTv2-S depths
    with torch.no_grad():
        out = model(torch.randn(1, 3, spec.clip_len, spec.crop_size, spec.crop_size))
    assert out.shape == (1, 400)


def test_torchvision_pretrained_goes_through_download(tmp_path, monkeypatch):
    torch.manual_seed(0)
    state = tv.mc3_18().state_dict()
    path = tmp_path / "mc3_18-test.pth"
    torch.save(state, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    record = TORCHVISION_RECORDS["mc3_18"]
    local = WeightsRecord(path.as_uri(), sha[:8], 400, record.classes, record.input_spec)
    monkeypatch.setitem(TORCHVISION_RECORDS, "mc3_18", local)
    model = create_model("mc3_18", progress=False)
    assert (cache_dir() / path.name).is_file()
    assert model.classes == list(kinetics400_classes())
    assert torch.equal(model.fc.weight, state["fc.weight"])

    wrong = WeightsRecord(path.as_uri(), "12345678", 400, None)
    (cache_dir() / path.name).unlink()
    monkeypatch.setitem(TORCHVISION_RECORDS, "mc3_18", wrong)
    with pytest.raises(WeightsError, match="12345678"):
        create_model("mc3_18", progress=False)


# -- save_model / load_model ---------------------------------------------------------------------
@pytest.fixture
def small_model():
    torch.manual_seed(0)
    model = create_model("mc3_18", pretrained=False, num_classes=3, dropout=0.3)
    model.classes = ["run", "jump", "sit"]
    model.input_spec = model.input_spec.replace(clip_len=8, frame_step=3)
    with torch.no_grad():  # non-default BatchNorm statistics must travel too
        model.stem[1].running_mean.uniform_()
    return model.eval()


def test_round_trip(small_model, tmp_path):
    path = save_model(small_model, tmp_path / "sub" / "model.pt", extra={"epoch": 4, "acc": 0.5})
    loaded, extra = load_model(path, return_extra=True)
    assert extra == {"epoch": 4, "acc": 0.5}
    assert loaded.arch == "mc3_18" and loaded.arch_kwargs == {"dropout": 0.3}
    assert loaded.dropout.p == 0.3
    assert loaded.classes == ["run", "jump", "sit"]
    assert loaded.input_spec == InputSpec(clip_len=8, frame_step=3, crop_size=112, resize=128)
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), small_model(x))
    payload = read_model_file(path)
    assert payload["format"] == "actionkit-model" and payload["version"] == 1
    assert payload["num_classes"] == 3 and set(payload) >= {"state_dict", "input_spec", "extra"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]


def test_failed_save_leaves_the_existing_file_untouched(small_model, tmp_path):
    path = save_model(small_model, tmp_path / "model.pt")
    good = path.read_bytes()

    bad = create_model("mc3_18", pretrained=False, num_classes=3)
    # A module whose state cannot be pickled: torch.save fails halfway through the file.
    bad.__class__ = type("Unpicklable", (type(bad),), {"get_extra_state": lambda self: lambda: 0})
    assert "_extra_state" in bad.state_dict()
    with pytest.raises(Exception, match="pickle"):
        save_model(bad, path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    assert load_model(path).classes == ["run", "jump", "sit"]


def test_files_that_are_not_models_are_refused(small_model, tmp_path):
    state = tmp_path / "state.pth"
    torch.save(small_model.state_dict(), state)
    with pytest.raises(ValueError, match=r"state\.pth is not an actionkit model file"):
        load_model(state)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.txt is not an actionkit model file"):
        load_model(text)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt")
    newer = tmp_path / "newer.pt"
    torch.save({"format": "actionkit-model", "version": 99}, newer)
    with pytest.raises(ValueError, match="newer actionkit"):
        load_model(newer)


def test_model_without_arch_cannot_be_saved(small_model, tmp_path):
    small_model.arch = ""
    with pytest.raises(ValueError, match=r"no \.arch"):
        save_model(small_model, tmp_path / "x.pt")
