"""Learner: real fine-tuning of a real (tiny-input) model on generated videos."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from actionkit.data import VideoDataset
from actionkit.models import load_model
from actionkit.train.checkpoint import load_checkpoint
from actionkit.train.config import TrainConfig
from actionkit.train.learner import HISTORY_FIELDS, Learner
from tests._tiny import SGD, make_bright_dark, tiny_model, weights_digest

TESTS = Path(__file__).parent


@pytest.fixture(scope="module")
def bright_dark(tmp_path_factory) -> Path:
    return make_bright_dark(tmp_path_factory.mktemp("bright_dark"), per_class=8)


def _split(root: Path, model) -> tuple[VideoDataset, VideoDataset]:
    dataset = VideoDataset.from_folder(root, spec=model.input_spec, crop="random")
    return dataset.split(val_fraction=0.25, seed=0)


def _learner(root, tmp_path, model=None, **settings) -> Learner:
    model = model or tiny_model()
    train, val = _split(root, model)
    settings = {**SGD, "batch_size": 4, "workers": 0, "lr": 0.02, **settings}
    return Learner(model, train, val, out_dir=tmp_path / "run", progress=False, **settings)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"optimizer": "adam"}, "optimizer='adam' is not one of sgd, adamw"),
        ({"schedule": "step"}, "schedule='step'"),
        ({"epochs": 0}, "epochs=0 must be at least 1"),
        ({"lr": -1.0}, "lr=-1.0 must be positive"),
        ({"warmup": 1.5}, "warmup=1.5"),
        ({"mixed_precision": "fp8"}, "mixed_precision='fp8'"),
        ({"momentum": 1.0}, "momentum=1.0 must be in [0, 1)"),
        ({"backbone_lr_mult": -0.1}, "backbone_lr_mult=-0.1 must be >= 0"),
        ({"weight_decay": -1e-4}, "weight_decay=-0.0001 must be >= 0"),
        ({"clip_grad_norm": 0.0}, "clip_grad_norm=0.0 must be positive or None"),
        ({"early_stopping": 0}, "early_stopping=0 must be at least 1 or None"),
    ],
)
def test_bad_settings_name_the_value(change, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        TrainConfig(**change)
    with pytest.raises(ValueError, match="unknown training settings"):
        TrainConfig().replace(epoch=3)


def test_fp16_on_a_cpu_is_refused(bright_dark, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: fp16 is allowed")
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        _learner(bright_dark, tmp_path, mixed_precision="fp16")


def test_model_and_data_must_agree_on_the_classes(bright_dark):
    model = tiny_model(num_classes=5)
    train, val = _split(bright_dark, model)
    with pytest.raises(ValueError, match="5 outputs but the data has 2 classes"):
        Learner(model, train, val)


@pytest.mark.slow
def test_fit_learns_writes_history_checkpoint_and_models(bright_dark, tmp_path):
    # Partial BN keeps the ImageNet BatchNorm statistics: train and eval modes see the same net.
    learner = _learner(bright_dark, tmp_path, tiny_model(partial_bn=True), epochs=4)
    history = learner.fit()
    run = tmp_path / "run"
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert history[-1]["val_top1"] == 1.0  # bright vs dark: a trained model gets them all
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    with open(run / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == HISTORY_FIELDS and len(rows) == 4
    assert float(rows[3]["val_top1"]) == history[3]["val_top1"]
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["fit_epoch"] == 4 and len(state["history"]) == 4
    # The saved model is self-describing and gives the learner's outputs.
    model, extra = load_model(run / "model.pt", return_extra=True)
    assert model.classes == ["bright", "dark"] and extra["history"] == history
    x = torch.rand(2, *learner.val_data[0]["video"].shape)
    learner.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), learner.model(x))
    best = torch.load(run / "best_model.pt", weights_only=True)
    assert learner.best_epoch == 1 + max(range(4), key=lambda i: (history[i]["val_top1"], -i))
    assert best["extra"]["history"][-1]["epoch"] == learner.best_epoch
    # Evaluation of the final model agrees with the last validation.
    report = learner.evaluate(num_clips=1)
    assert report.top1 == history[-1]["val_top1"] and report.num_videos == 4
    learner.load_best()
    assert weights_digest(learner.model.state_dict()) == weights_digest(best["state_dict"])


def _backbone_and_head(model) -> tuple[dict, dict]:
    state = {k: v.clone() for k, v in model.state_dict().items()}
    head = {k for k in state if k.startswith("fc.")}
    return {k: v for k, v in state.items() if k not in head}, {k: state[k] for k in head}


def test_freeze_epochs_train_only_the_head_first(bright_dark, tmp_path):
    learner = _learner(bright_dark, tmp_path, epochs=1, freeze_epochs=1)
    backbone0, head0 = _backbone_and_head(learner.model)
    learner.fit()
    backbone1, head1 = _backbone_and_head(learner.model)
    assert head0.keys() and all(not torch.equal(head0[k], head1[k]) for k in head0)
    # Weights and BatchNorm statistics of the backbone stay exactly as they were.
    assert all(torch.equal(backbone0[k], backbone1[k]) for k in backbone0)
    assert all(p.requires_grad for p in learner.model.parameters())  # unfrozen afterwards

    learner = _learner(bright_dark, tmp_path / "b", epochs=2, freeze_epochs=1)
    learner.fit()
    backbone2, _ = _backbone_and_head(learner.model)
    changed = [k for k in backbone0 if not torch.equal(backbone0[k], backbone2[k])]
    assert len(changed) > len(backbone0) // 2


def test_gradient_accumulation_equals_a_bigger_batch(bright_dark, tmp_path):
    """With the backbone frozen (no BatchNorm batch statistics) and no dropout (its masks depend
    on the batch layout), 2 batches of 2 accumulated make the same step as 1 batch of 4."""
    digests = []
    for name, batch, accumulate in (("a", 4, 1), ("b", 2, 2), ("c", 2, 1)):
        torch.manual_seed(0)  # the same new head each time
        model = tiny_model(dropout=0.0)
        model.freeze_backbone()
        learner = _learner(
            bright_dark, tmp_path / name, model, epochs=1, batch_size=batch,
            accumulate=accumulate, momentum=0.0, val_every=5,
        )  # fmt: skip
        learner.fit()
        digests.append(model.fc.weight.detach().clone())
    torch.testing.assert_close(digests[0], digests[1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(digests[0], digests[2], atol=1e-4)


def test_early_stopping_stops_after_patience(bright_dark, tmp_path):
    # A frozen backbone (BatchNorm statistics included) and lr 1e-12 leave validation unchanged:
    # epoch 1 sets the best, 2 and 3 fail to beat it, then training stops.
    settings = {"epochs": 10, "lr": 1e-12, "freeze_epochs": 10, "early_stopping": 2}
    learner = _learner(bright_dark, tmp_path, **settings)
    history = learner.fit()
    assert [row["val_top1"] for row in history] == [history[0]["val_top1"]] * 3
    assert len(history) == 3
    assert learner.best_epoch == 1


def test_resume_needs_the_same_run(bright_dark, tmp_path):
    learner = _learner(bright_dark, tmp_path, epochs=1)
    assert learner.fit(resume=True)  # no checkpoint yet: a fresh run
    with pytest.raises(ValueError, match="resume continues the saved run at its lr"):
        _learner(bright_dark, tmp_path, epochs=1).fit(lr=0.5, resume=True)
    # The finished run resumes to nothing more to do: history stays, weights stay.
    stale = tmp_path / "run" / ".checkpoint.pt.x1y2z3.tmp"  # as a kill during a save leaves
    stale.write_bytes(b"half a checkpoint")
    again = _learner(bright_dark, tmp_path, epochs=1)
    assert len(again.fit(resume=True)) == 1
    assert not stale.exists()
    assert weights_digest(again.model.state_dict()) == weights_digest(learner.model.state_dict())


def test_a_corrupt_training_video_is_skipped_and_counted(bright_dark, tmp_path):
    model = tiny_model()
    train, val = _split(bright_dark, model)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    train.samples.append(type(train.samples[0])(broken, 0))
    learner = Learner(model, train, val, progress=False, batch_size=4, workers=0, epochs=2)
    history = learner.fit()
    assert len(history) == 2
    assert train.skipped_count >= 1


def _job(*args, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    return subprocess.Popen(
        [sys.executable, *map(str, args)], env=env, cwd=TESTS.parent,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs,
    )  # fmt: skip


def _finish(proc: subprocess.Popen, timeout: float = 240) -> None:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_loses_nothing(bright_dark, tmp_path):
    script = TESTS / "_train_job.py"
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    _finish(_job(script, bright_dark, whole, 4))

    proc = _job(script, bright_dark, killed, 4)
    checkpoint = killed / "checkpoint.pt"
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[0]
    first = load_checkpoint(checkpoint)
    time.sleep(0.4 * first["history"][0]["seconds"])  # inside a later epoch
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    state = load_checkpoint(checkpoint)  # the checkpoint on disk is whole
    done = state["fit_epoch"]
    assert 1 <= done < 4, "the kill came after the run had finished"
    assert [row["epoch"] for row in state["history"]] == list(range(1, done + 1))

    _finish(_job(script, bright_dark, killed, 4, "--resume"))
    # A kill during a save leaves only a temporary file, which the resumed run removes.
    assert not [p for p in killed.iterdir() if p.name.endswith(".tmp")]
    resumed, reference = load_checkpoint(checkpoint), load_checkpoint(whole / "checkpoint.pt")
    assert [row["epoch"] for row in resumed["history"]] == [1, 2, 3, 4]
    # Same data order, augmentation and optimizer state: the resumed run ends bit-identical.
    assert weights_digest(resumed["model"]) == weights_digest(reference["model"])
    for mine, theirs in zip(resumed["history"], reference["history"], strict=True):
        assert mine["train_loss"] == theirs["train_loss"]
        assert mine["val_top1"] == theirs["val_top1"]
    assert load_model(killed / "model.pt").classes == ["bright", "dark"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["torchrun", "notebook_launcher"])
def test_ddp_two_cpu_processes_agree_and_count_every_video_once(tmp_path, launcher):
    train = make_bright_dark(tmp_path / "train", per_class=4, frames=12, seed=1)
    val = make_bright_dark(tmp_path / "val", per_class=4, frames=12, seed=2)
    (val / "dark" / "dark_03.mp4").unlink()  # 7 videos: not a multiple of 2 processes × batch 2
    out = tmp_path / "out"
    out.mkdir()
    job, port = TESTS / "_ddp_job.py", _free_port()
    if launcher == "torchrun":
        proc = _job(
            "-m", "torch.distributed.run", "--nproc_per_node", 2, "--master_addr", "127.0.0.1",
            "--master_port", port, job, train, val, out,
        )  # fmt: skip
    else:  # what a notebook cell runs: the training function, forked twice
        proc = _job(job, "--notebook-launcher", port, train, val, out)
    _finish(proc, timeout=300)
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["digest"] == ranks[1]["digest"]  # DDP kept the replicas identical
    expected = sorted(str(p) for p in val.rglob("*.mp4"))
    for r in ranks:
        assert r["num_videos"] == 7 and sorted(r["paths"]) == expected
        assert r["history_rows"] == 2
    # The same model evaluated in one process gives the same per-video predictions.
    model = load_model(out / "model.pt")
    single = VideoDataset.from_folder(val, spec=model.input_spec, train=False)
    learner = Learner(model, single, single, progress=False, workers=0)
    report = learner.evaluate(num_clips=2, batch_size=2)
    by_path = {p["path"]: p["pred"] for p in report.predictions}
    assert by_path == dict(zip(ranks[0]["paths"], ranks[0]["preds"], strict=True))
