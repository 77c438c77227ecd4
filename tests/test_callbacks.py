"""Training callbacks: a real fit of the tiny model, followed from outside the learner."""

from __future__ import annotations

from pathlib import Path

import pytest

from actionkit import Callback, Learner, VideoDataset
from actionkit.train.callbacks import CSVHistory, ProgressBar
from actionkit.train.history import read_history
from tests._tiny import SGD, make_bright_dark, tiny_model


class Recorder(Callback):
    """Writes down every event it gets, with what came with it."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def on_fit_start(self, learner, epochs):
        self.events.append(("fit_start", epochs))

    def on_epoch_start(self, learner, epoch, batches):
        self.events.append(("epoch_start", epoch, batches))

    def on_batch_end(self, learner, batch, loss, lr):
        assert isinstance(loss, float) and loss > 0 and lr > 0
        self.events.append(("batch_end", batch))

    def on_epoch_end(self, learner, row):
        assert learner.history[-1] is row  # already recorded (and checkpointed)
        self.events.append(("epoch_end", row["epoch"], "val_top1" in row))

    def on_fit_end(self, learner):
        self.events.append(("fit_end",))


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return make_bright_dark(tmp_path_factory.mktemp("callbacks"), per_class=4, frames=8)


def _learner(clips: Path, out: Path | None, callbacks=(), **settings) -> Learner:
    model = tiny_model()
    data = VideoDataset.from_folder(clips, spec=model.input_spec, crop="random")
    train, val = data.split(val_fraction=0.25, seed=0)  # 6 to train, 2 to validate
    settings = {**SGD, "batch_size": 2, "workers": 0, "lr": 0.02, "epochs": 2, **settings}
    return Learner(model, train, val, out_dir=out, progress=False, callbacks=callbacks, **settings)


def expected(epochs: range, batches: int, validated: set[int]) -> list[tuple]:
    events = [("fit_start", len(epochs))]
    for epoch in epochs:
        events.append(("epoch_start", epoch, batches))
        events += [("batch_end", b) for b in range(batches)]
        events.append(("epoch_end", epoch, epoch in validated))
    return [*events, ("fit_end",)]


@pytest.mark.slow
def test_a_callback_sees_every_event_in_order_and_resume_goes_on_counting(clips, tmp_path):
    recorder = Recorder()
    learner = _learner(clips, tmp_path / "run", [recorder], val_every=2, epochs=2)
    learner.fit()
    assert recorder.events == expected(range(1, 3), 3, validated={2})

    again = Recorder()  # a new learner resuming a finished run: nothing left to train
    _learner(clips, tmp_path / "run", [again], val_every=2, epochs=2).fit(resume=True)
    assert again.events == [("fit_start", 0), ("fit_end",)]

    more = Recorder()  # a second fit call on the same learner: epochs 3 and 4
    learner.callbacks.append(more)
    learner.fit(epochs=2)
    assert more.events == expected(range(3, 5), 3, validated={4})


def test_the_built_in_callbacks_follow_the_settings(clips, tmp_path):
    quiet = _learner(clips, None)
    assert quiet.callbacks == []  # no progress, no out_dir: nothing on screen or disk
    loud = Learner(
        quiet.model, quiet.train_data, quiet.val_data, out_dir=tmp_path / "r", workers=0
    )  # fmt: skip
    kinds = [type(c) for c in loud.callbacks]
    assert kinds == [ProgressBar, CSVHistory]
    assert loud.callbacks[1].path == tmp_path / "r" / "history.csv"


@pytest.mark.slow
def test_csv_history_is_the_history_after_every_epoch(clips, tmp_path, caplog):
    seen = []

    class ReadBack(Callback):  # runs after the built-in CSVHistory: the file is already there
        def on_epoch_end(self, learner, row):
            seen.append(read_history(tmp_path / "run" / "history.csv"))

    learner = _learner(clips, tmp_path / "run", [ReadBack()], epochs=2)
    with caplog.at_level("INFO", logger="actionkit"):
        learner.fit()
    assert [len(rows) for rows in seen] == [1, 2]
    epochs = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert [m.split(":")[0] for m in epochs] == ["epoch 1", "epoch 2"]  # not "epoch epoch 1"
    assert "train_loss" in epochs[0] and "epoch" not in epochs[0].split(":", 1)[1]
    for rows, row in zip(seen[-1], learner.history, strict=True):
        assert rows["epoch"] == row["epoch"]
        assert rows["train_loss"] == pytest.approx(row["train_loss"])
        assert rows["val_top1"] == pytest.approx(row["val_top1"])


@pytest.mark.slow
def test_early_stopping_still_ends_the_fit_for_callbacks(clips, tmp_path):
    recorder = Recorder()
    learner = _learner(clips, None, [recorder], epochs=6, early_stopping=1, lr=1e-12)
    learner.model.freeze_backbone()  # nothing can improve: it stops after two validations
    learner.fit()
    assert recorder.events[-1] == ("fit_end",)
    ends = [e for e in recorder.events if e[0] == "epoch_end"]
    assert len(ends) == len(learner.history) < 6
