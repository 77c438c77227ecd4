"""Each model family's recipe, and that the default settings learn on real videos."""

from __future__ import annotations

import math

import pytest

from actionkit.models import create_model, list_models
from actionkit.recipe import IG65M_RECIPE, IMAGENET_2D_RECIPE, TRANSFORMER_RECIPE
from actionkit.train.config import TrainConfig
from actionkit.train.workflow import build_model, load_dataset, train_and_evaluate
from tests._real_set import CLASSES, make_real_set


@pytest.mark.parametrize(
    ("pattern", "recipe"),
    [
        ("tsn_*", IMAGENET_2D_RECIPE),
        ("tsm_*", IMAGENET_2D_RECIPE),
        ("r2plus1d_*", IG65M_RECIPE),
        ("mvit_*", TRANSFORMER_RECIPE),
        ("swin3d_*", TRANSFORMER_RECIPE),
    ],
)
def test_every_model_of_a_family_carries_its_recipe(pattern, recipe):
    for name in list_models(pattern):
        model = create_model(name, pretrained=False, num_classes=2)
        assert model.recipe is recipe, name


def test_a_saved_model_keeps_the_settings_it_was_trained_with(tmp_path):
    from actionkit.models import load_model
    from tests._tiny import make_bright_dark, tiny_model

    data = make_bright_dark(tmp_path / "clips", per_class=2, frames=8)
    model = tiny_model()
    result = train_and_evaluate(
        model, data, tmp_path / "run", val_fraction=0.5, eval_clips=1, progress=False,
        config=TrainConfig(epochs=1, workers=0, batch_size=2),
    )  # fmt: skip
    _, extra = load_model(result.model_path, return_extra=True)
    assert extra["recipe"]["name"] == "2d-imagenet-adamw"
    config = TrainConfig.from_dict(extra["config"])
    assert config.resolved and config.optimizer == "adamw" and config.batch_size == 2


@pytest.fixture(scope="module")
def real_set(tmp_path_factory, request):
    videos = request.getfixturevalue("shared_videos")
    return make_real_set(tmp_path_factory.mktemp("real_set"), videos)


@pytest.mark.slow
def test_the_default_recipe_learns_on_real_videos(real_set, tmp_path):
    """36 clips of real video, forward / time-reversed / upside down: the default settings of
    the offline model learn above chance (1/3) in three epochs. (The settings that were the
    default before, SGD 1e-3 with the backbone at 0.1x, stayed at chance: BENCHMARKS.md.)

    The held-out set is 9 videos, so its top-1 moves in steps of 1/9: the run is deterministic
    for given files, but libx264 writes the set's files differently from run to run, and the
    same settings measured 4/9 and 5/9 on them (and 4/9 on a lossless FFV1 copy). The held-out
    loss is the steadier figure (0.81-0.87 there, chance ln 3 = 1.10); top-1 must beat chance."""
    classes = load_dataset(real_set, train=False).classes
    assert classes == list(CLASSES)
    model = build_model("tsm_efficientnet_lite0", len(classes), crop_size=112)
    result = train_and_evaluate(
        model, real_set, tmp_path / "run", val_fraction=0.25, eval_clips=2, progress=False,
        config=TrainConfig(epochs=3, workers=1),
    )  # fmt: skip
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < math.log(3) - 0.15  # chance is ln 3 = 1.10
    assert result.history[-1]["val_loss"] < math.log(3) - 0.15  # held-out videos
    assert result.report.num_videos == 9
    assert result.report.top1 >= 4 / 9  # chance: 3 of 9
