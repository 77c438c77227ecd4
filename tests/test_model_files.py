"""Files given as models or weights that are not what they should be (issue 9): a hand-placed
weights file with the wrong hash, a video or an image given as a model file, a training
checkpoint given as a model, and a checkpoint of another architecture. Real files throughout."""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from actionkit import cli
from actionkit.models import WeightsError, create_model, load_model, save_model
from actionkit.models.weights import cache_dir, download
from actionkit.utils.filetypes import describe_file
from actionkit.video import write_video
from tests._tiny import make_bright_dark, tiny_model

PAYLOAD = bytes(range(256)) * 64
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
UNSAFE_ADVICE = "weights_only"  # torch's advice to load with weights_only=False

pytestmark = pytest.mark.usefixtures("private_cache")  # every test: its own, empty cache


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- 1. a weights file with the wrong hash is moved aside, and named -----------------------------
def test_hand_placed_file_with_the_wrong_hash_is_named_and_moved_aside(no_network):
    url = "https://example.invalid/models/w-1234abcd.pth"  # no network: never fetched
    target = cache_dir() / "w-1234abcd.pth"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"<!DOCTYPE html><html>Sign in to continue</html>")
    wrong = _sha(target)
    with pytest.raises(WeightsError) as info:
        download(url, sha256_prefix="1234abcd", progress=False)
    message = str(info.value)
    aside = target.with_name(f"w-1234abcd.pth.bad-{wrong[:8]}")
    assert f"The file that was at {target} (47 bytes) does not match" in message
    assert "expected a hash starting with 1234abcd" in message and wrong in message
    assert "it looks like an HTML page" in message
    assert f"it was moved to {aside}" in message
    assert f"put it at\n    {target}" in message  # still says where the right one goes
    assert not target.exists()
    assert aside.read_bytes().startswith(b"<!DOCTYPE html>")  # kept, not deleted


def test_a_bad_copy_is_moved_aside_and_the_good_one_fetched_never_overwriting(tmp_path):
    src = tmp_path / "w.pth"
    src.write_bytes(PAYLOAD)
    target = cache_dir() / "w.pth"
    target.parent.mkdir(parents=True)
    bad = b"damaged"
    first_aside = target.with_name(f"w.pth.bad-{hashlib.sha256(bad).hexdigest()[:8]}")
    first_aside.write_bytes(b"an earlier bad copy, not to be overwritten")
    target.write_bytes(bad)
    assert download(src.as_uri(), sha256_prefix=PAYLOAD_SHA[:8], progress=False) == target
    assert target.read_bytes() == PAYLOAD
    assert first_aside.read_bytes() == b"an earlier bad copy, not to be overwritten"
    second = first_aside.with_name(first_aside.name + "-2")
    assert second.read_bytes() == bad


def test_a_downloaded_file_with_the_wrong_hash_is_kept_aside(tmp_path):
    src = tmp_path / "src" / "w.pth"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    with pytest.raises(WeightsError) as info:
        download(src.as_uri(), sha256_prefix="deadbeef", progress=False)
    message = str(info.value)
    aside = cache_dir() / f"w.pth.partial.bad-{PAYLOAD_SHA[:8]}"
    assert f"{len(PAYLOAD):,} bytes" in message and PAYLOAD_SHA in message and "deadbeef" in message
    assert f"It was kept as {aside}" in message
    assert aside.read_bytes() == PAYLOAD
    assert not (cache_dir() / "w.pth").exists()


def test_a_local_file_with_the_wrong_hash_says_its_size_and_stays(tmp_path):
    path = tmp_path / "mine.pth"
    path.write_bytes(PAYLOAD)
    with pytest.raises(WeightsError, match=rf"mine\.pth \({len(PAYLOAD):,} bytes\)"):
        download(path, sha256_prefix="00000000")
    assert path.read_bytes() == PAYLOAD  # the user's own file is left where it is


# -- 2. a video, an image, ... given as a model file ---------------------------------------------
def _video(path: Path) -> Path:
    rng = np.random.default_rng(0)
    return write_video(path, rng.integers(0, 255, (4, 24, 32, 3), dtype=np.uint8), fps=4)


def _image(path: Path) -> Path:
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(path)
    return path


def _zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("clips/a.txt", "x")
    return path


def _text(path: Path) -> Path:
    path.write_text("epochs: 10\n")
    return path


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


KINDS = [
    ("clip.mp4", _video, "an MP4 video"),
    ("clip.mkv", _video, "a Matroska (MKV) video"),
    ("clip.avi", _video, "an AVI video"),
    ("frame.jpg", _image, "a JPEG image"),
    ("frame.png", _image, "a PNG image"),
    ("data.zip", _zip, "a ZIP archive that is not a PyTorch checkpoint"),
    ("config.yaml", _text, "a text file (it starts 'epochs: 10')"),
    ("model.pt", _empty, "an empty file"),
]


@pytest.mark.parametrize(("name", "make", "kind"), KINDS, ids=[k[0] for k in KINDS])
def test_a_file_that_is_no_checkpoint_is_named_as_what_it_is(tmp_path, name, make, kind):
    path = make(tmp_path / name)
    assert describe_file(path) == kind or describe_file(path).startswith(kind)
    with pytest.raises(ValueError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(f"{path} is not an actionkit model file: it looks like {kind}")
    assert "model.pt that training" in message  # says what a model file is
    assert UNSAFE_ADVICE not in message
    with pytest.raises(WeightsError) as info:
        create_model("tsn_efficientnet_lite0", weights=path)
    assert f"{path} is not a weights file: it looks like {kind}" in str(info.value)
    assert UNSAFE_ADVICE not in str(info.value)


def test_predict_with_a_video_as_the_model_says_so_in_one_line(tmp_path, capsys):
    video = _video(tmp_path / "clip.mp4")
    assert cli.main(["predict", str(video), str(video)]) != 0
    err = capsys.readouterr().err
    assert f"{video} is not an actionkit model file: it looks like an MP4 video" in err
    assert UNSAFE_ADVICE not in err and len(err.splitlines()) == 1


def test_real_shared_clips_are_named_as_videos(shared_videos):
    for clip in sorted(shared_videos.glob("*.mp4"))[:2] + sorted(shared_videos.glob("*.avi"))[:1]:
        with pytest.raises(ValueError, match=re.escape(f"{clip} is not an actionkit model file")):
            load_model(clip)
        assert describe_file(clip) in ("an MP4 video", "an AVI video")


def test_a_checkpoint_holding_python_objects_is_refused_without_unsafe_advice(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "actionkit-model", "hook": _Evil()}, path)
    with pytest.raises(ValueError) as info:
        load_model(path)
    message = str(info.value)
    assert "it holds a Python object (tests.test_model_files._Evil)" in message
    assert "weights_only=False" not in message


class _Evil:
    pass


# -- 3. a training checkpoint given as a model ----------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A real one-epoch training run: checkpoint.pt, best_model.pt and model.pt."""
    from actionkit.data import VideoDataset
    from actionkit.train.learner import Learner

    root = tmp_path_factory.mktemp("run")
    model = tiny_model()
    data = make_bright_dark(root / "data", per_class=2, frames=8)
    train, val = VideoDataset.from_folder(data, spec=model.input_spec).split(0.5, seed=0)
    learner = Learner(
        model, train, val, out_dir=root / "run", progress=False, batch_size=2, workers=0, epochs=1
    )
    learner.fit()
    return root / "run"


def test_a_training_checkpoint_points_to_the_model_file_beside_it(run, tmp_path):
    checkpoint = run / "checkpoint.pt"
    with pytest.raises(ValueError) as info:
        load_model(checkpoint)
    message = str(info.value)
    assert f"{checkpoint} is a training checkpoint of tsm_efficientnet_lite0" in message
    assert f"load {run / 'model.pt'} or {run / 'best_model.pt'} instead" in message
    assert load_model(run / "model.pt").arch == "tsm_efficientnet_lite0"  # which does load

    alone = tmp_path / "crashed"
    alone.mkdir()
    (alone / "checkpoint.pt").write_bytes(checkpoint.read_bytes())
    with pytest.raises(ValueError, match=re.escape(f"--out {alone} --resume")):
        load_model(alone / "checkpoint.pt")


# -- 4. a checkpoint of another architecture -----------------------------------------------------
def test_a_state_dict_of_another_architecture_is_named(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "mc3.pth"
    torch.save(create_model("mc3_18", pretrained=False).state_dict(), path)
    with pytest.raises(WeightsError) as info:
        create_model("r3d_18", weights=path)
    message = str(info.value)
    assert message.startswith(f"{path} is for mc3_18, not r3d_18 (its keys and shapes say so)")
    assert len(message) < 600  # a few keys, not the whole list
    with pytest.raises(WeightsError, match=re.escape(f"{path} is for mc3_18, not tsm_resnet18")):
        create_model("tsm_resnet18", weights=path, pretrained=False)
    with pytest.raises(ValueError, match=re.escape("a plain state_dict of a mc3_18 model")):
        load_model(path)


def test_a_model_file_of_another_architecture_is_named(tmp_path):
    saved = save_model(tiny_model(pretrained=False), tmp_path / "model.pt")
    with pytest.raises(WeightsError) as info:
        create_model("mc3_18", weights=saved)
    message = str(info.value)
    assert message.startswith(
        f"{saved} is for tsm_efficientnet_lite0, not mc3_18 (the file says so)"
    )
    assert len(message) < 600
    # a model.pt whose recorded name was changed: its weights tell what it is
    payload = torch.load(saved, weights_only=True)
    payload["arch"] = "tsm_mobilenet_v3_large"
    torch.save(payload, tmp_path / "renamed.pt")
    with pytest.raises(WeightsError) as info:
        load_model(tmp_path / "renamed.pt")
    assert "is for tsm_efficientnet_lite0 / tsn_efficientnet_lite0, not tsm_mobilenet_v3_large" in (
        str(info.value)
    )
