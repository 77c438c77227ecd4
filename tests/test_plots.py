"""Figures: confusion matrix, training history, misclassified videos (real files, Agg backend)."""

import csv
import io
import logging
import warnings

import matplotlib
import numpy as np
import pytest

from actionkit.data import VideoDataset
from actionkit.datasets.sample import make_sample_dataset
from actionkit.evaluation.metrics import compute_report
from actionkit.spec import InputSpec
from actionkit.ui.plots import (
    HISTORY_FIELDS,
    clip_frames,
    plot_confusion_matrix,
    plot_history,
    plot_misclassified,
    save_figure,
    show_batch,
)
from tests._fonts import CJK_NAMES, drawn_font_has_every_glyph, needs_cjk_font

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def agg():
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def cell_texts(ax) -> dict[tuple[int, int], str]:
    """Text drawn in each cell, keyed by (row, column)."""
    return {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts
    }


def drawn_texts(fig, part: str) -> list:
    """The non-empty Text objects of ``fig`` (titles included) whose text contains ``part``."""
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if part in t.get_text()]


# -- confusion matrix --------------------------------------------------------------------------
CONFUSION = np.array(
    [
        [5, 1, 0, 0, 0],
        [2, 2, 0, 0, 0],
        [0, 0, 0, 0, 0],  # a class without test videos
        [0, 3, 0, 1, 0],
        [0, 0, 0, 0, 7],
    ]
)
NAMES = ["brush_hair", "cartwheel", "catch", "chew", "clap"]


def test_confusion_normalized_cells_and_labels():
    fig = plot_confusion_matrix(CONFUSION, NAMES)
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # the matrix and its colour bar
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    assert [t.get_text() for t in ax.get_yticklabels()] == NAMES
    shown = np.asarray(ax.images[0].get_array())
    totals = CONFUSION.sum(axis=1)
    for row in range(5):
        expected = CONFUSION[row] / totals[row] if totals[row] else np.zeros(5)
        np.testing.assert_allclose(shown[row], expected)
    texts = cell_texts(ax)
    assert len(texts) == np.count_nonzero(CONFUSION)
    assert texts[(0, 0)] == f"{100 * 5 / 6:.0f}" and texts[(3, 1)] == "75"
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"


def test_confusion_counts_into_given_axes():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert plot_confusion_matrix(CONFUSION, NAMES, normalize=False, ax=ax) is fig
    np.testing.assert_array_equal(ax.images[0].get_array(), CONFUSION)
    assert cell_texts(ax)[(4, 4)] == "7" and cell_texts(ax)[(3, 1)] == "3"


def test_confusion_for_51_classes_grows_and_drops_cell_text(tmp_path):
    rng = np.random.default_rng(0)
    confusion = rng.integers(0, 4, size=(51, 51)) + np.diag(np.full(51, 20))
    names = [f"class_{i:02d}" for i in range(51)]
    fig = plot_confusion_matrix(confusion, names)
    ax = fig.axes[0]
    assert len(ax.get_xticklabels()) == 51 and len(ax.get_yticklabels()) == 51
    assert len(ax.texts) == 0
    small = plot_confusion_matrix(CONFUSION, NAMES)
    assert fig.get_figwidth() > 2 * small.get_figwidth()
    path = save_figure(fig, tmp_path / "confusion.png")
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000


def test_confusion_shape_must_match_classes():
    with pytest.raises(ValueError, match=r"expected \(4, 4\) for 4 classes"):
        plot_confusion_matrix(CONFUSION, NAMES[:4])


@needs_cjk_font
def test_confusion_labels_in_any_script_are_drawn_with_their_glyphs():
    fig = plot_confusion_matrix(np.diag(np.arange(1, 7)), CJK_NAMES)
    ax = fig.axes[0]
    labels = [*ax.get_xticklabels(), *ax.get_yticklabels()]
    assert [t.get_text() for t in labels] == CJK_NAMES * 2
    assert all(drawn_font_has_every_glyph(t) for t in labels)
    with warnings.catch_warnings():  # matplotlib warns of each glyph it draws as a box
        warnings.filterwarnings("error", message="Glyph .* missing")
        fig.savefig(io.BytesIO(), format="png")


@pytest.mark.filterwarnings("ignore:Glyph .* missing")
def test_confusion_warns_of_class_names_no_font_can_draw(caplog):
    with caplog.at_level(logging.WARNING, logger="actionkit.utils.fonts"):
        plot_confusion_matrix(np.eye(2, dtype=int), ["jump", "\U0010fffd"])
    assert "U+10FFFD" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="actionkit.utils.fonts"):
        plot_confusion_matrix(CONFUSION, NAMES)
    assert caplog.text == ""


# -- training history --------------------------------------------------------------------------
def history_rows(validation: bool = True, lr: bool = True) -> list[dict]:
    rows = []
    for epoch in range(1, 6):
        row = {"epoch": epoch, "train_loss": 2.0 / epoch, "train_acc": 0.15 * epoch}
        if lr:
            row["lr"] = 1e-3 * (6 - epoch) / 5
        if validation and epoch % 2 == 0:  # validation every other epoch
            row |= {"val_loss": 2.5 / epoch, "val_top1": 0.12 * epoch}
        elif validation:
            row |= {"val_loss": None, "val_top1": None}
        rows.append(row)
    return rows


def write_history_csv(path, rows) -> None:
    """As the learner writes it, with more columns than the plot uses (one not a number)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=(*HISTORY_FIELDS, "note"))
        writer.writeheader()
        for row in rows:
            cells = {k: "" if row.get(k) is None else repr(row[k]) for k in HISTORY_FIELDS}
            writer.writerow(cells | {"seconds": "1.5", "note": "warm-up"})


def plotted(fig) -> list[tuple[str, list[tuple[str, list, list]]]]:
    return [
        (
            ax.get_title(),
            [
                (line.get_label(), list(line.get_xdata()), list(line.get_ydata()))
                for line in ax.lines
            ],
        )
        for ax in fig.axes
    ]


def test_history_panels_follow_the_values():
    rows = history_rows()
    fig = plot_history(rows)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "top-1 accuracy", "learning rate"]
    (_, loss), (_, accuracy), (_, lr) = plotted(fig)
    assert loss[0] == ("train", [1, 2, 3, 4, 5], [r["train_loss"] for r in rows])
    assert loss[1] == ("validation", [2, 4], [2.5 / 2, 2.5 / 4])
    assert accuracy[1] == ("validation", [2, 4], [0.12 * 2, 0.12 * 4])
    assert lr[0][2] == [r["lr"] for r in rows]


def test_history_from_csv_equals_history_from_list(tmp_path):
    rows = history_rows()
    write_history_csv(tmp_path / "history.csv", rows)
    from_csv = plot_history(tmp_path / "history.csv")
    from_list = plot_history(rows)
    assert plotted(from_csv) == plotted(from_list)
    assert plotted(plot_history(str(tmp_path / "history.csv"))) == plotted(from_list)


def test_history_without_validation_or_lr():
    fig = plot_history(history_rows(validation=False, lr=False))
    assert [ax.get_title() for ax in fig.axes] == ["loss", "top-1 accuracy"]
    assert [len(ax.lines) for ax in fig.axes] == [1, 1]
    with pytest.raises(ValueError, match="empty"):
        plot_history([])


def test_history_saved_as_png(tmp_path):
    import matplotlib.pyplot as plt

    target = tmp_path / "curves.png"
    fig = plot_history(history_rows(), target)
    data = target.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    image = plt.imread(target)
    assert image.shape[:2] == (round(fig.get_figheight() * 100), round(fig.get_figwidth() * 100))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]  # no temporary file left


@pytest.mark.parametrize("epochs", [1, 2, 3, 4])
def test_history_epoch_ticks_are_whole_numbers(epochs):
    rows = [{"epoch": e, "train_loss": 1 / e, "train_acc": 0.1 * e, "lr": 1e-3} for e in
            range(1, epochs + 1)]  # fmt: skip
    fig = plot_history(rows)
    fig.canvas.draw()
    for ax in fig.axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert len(ticks) >= min(epochs, 2), ticks
        assert all(float(t).is_integer() for t in ticks), ticks


def test_history_csv_needs_a_header(tmp_path):
    (tmp_path / "bad.csv").write_text("1,2.0,0.1\n")
    with pytest.raises(ValueError, match="expected a header"):
        plot_history(tmp_path / "bad.csv")


# -- misclassified videos ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = make_sample_dataset(tmp_path_factory.mktemp("sample"), videos_per_class=2, num_frames=16)
    spec = InputSpec(clip_len=4, crop_size=32, resize=40)
    return VideoDataset.from_folder(root, spec=spec, train=False, num_clips=2)


@pytest.fixture(scope="module")
def report(dataset):
    """Videos 0, 3, 6 and 9 are predicted as the next class, with rising confidence."""
    labels = np.array([s.label for s in dataset.samples])
    count, num_classes = len(labels), len(dataset.classes)
    preds = np.where(np.arange(count) % 3 == 0, (labels + 1) % num_classes, labels)
    top = 0.5 + 0.04 * np.arange(count)
    scores = np.repeat(((1 - top) / (num_classes - 1))[:, None], num_classes, axis=1)
    scores[np.arange(count), preds] = top
    paths = [str(s.path) for s in dataset.samples]
    return compute_report(scores, labels, dataset.classes, paths=paths)


def test_misclassified_rows_titles_and_frames(dataset, report):
    fig = report.plot_misclassified(dataset, n=3, frames=2)
    assert len(fig.axes) == 3 * 2
    names = dataset.classes
    for row, index in enumerate((9, 6, 3)):  # most confident mistake first
        label = dataset.samples[index].label
        score = 0.5 + 0.04 * index
        title = fig.axes[2 * row].get_title(loc="left")
        assert title == f"{names[label]} → {names[(label + 1) % 6]} ({score:.2f})"
        clip = clip_frames(dataset[index]["video"][0], dataset.spec)  # first of the 2 clips
        for col, t in enumerate((0, 3)):
            shown = np.asarray(fig.axes[2 * row + col].images[0].get_array())
            np.testing.assert_allclose(shown, clip[t])


def test_misclassified_from_predictions_list(dataset, report):
    fig = plot_misclassified(report.predictions, dataset, n=8, frames=1)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert len(titles) == 4  # only four videos are wrong
    assert titles == [
        f"{dataset.classes[p['label']]} → {dataset.classes[p['pred']]} ({p['score']:.2f})"
        for p in report.misclassified()
    ]


def test_misclassified_needs_matching_paths(dataset, report):
    moved = [dict(p, path="/elsewhere/" + str(i)) for i, p in enumerate(report.predictions)]
    with pytest.raises(ValueError, match="is not in the dataset"):
        plot_misclassified(moved, dataset)
    nameless = [dict(p, path=None) for p in report.predictions]
    with pytest.raises(ValueError, match="pass paths= to compute_report"):
        plot_misclassified(nameless, dataset)


@needs_cjk_font
def test_misclassified_and_batch_titles_in_any_script_have_their_glyphs(dataset, report):
    renamed = compute_report(
        np.eye(6)[[p["pred"] for p in report.predictions]],
        np.array([p["label"] for p in report.predictions]),
        CJK_NAMES,
        paths=[p["path"] for p in report.predictions],
    )
    fig = renamed.plot_misclassified(dataset, n=4, frames=1)
    titles = drawn_texts(fig, "→")
    assert [t.get_text() for t in titles] == [
        f"{CJK_NAMES[p['label']]} → {CJK_NAMES[p['pred']]} ({p['score']:.2f})"
        for p in renamed.misclassified()
    ]
    assert any("打太极拳" in t.get_text() for t in titles)
    assert all(drawn_font_has_every_glyph(t) for t in titles)
    batch = show_batch([dataset[0], dataset[2]], CJK_NAMES, dataset.spec, frames=2)
    titles = drawn_texts(batch, " · t=")
    names = [CJK_NAMES[dataset.samples[i].label] for i in (0, 0, 2, 2)]
    assert [t.get_text().split(" · ")[0] for t in titles] == names
    assert "跳绳" in names and all(drawn_font_has_every_glyph(t) for t in titles)


def test_nothing_misclassified(dataset):
    labels = np.array([s.label for s in dataset.samples])
    scores = np.eye(len(dataset.classes))[labels]
    fig = compute_report(scores, labels, dataset.classes).plot_misclassified(dataset)
    assert len(fig.axes) == 1
    assert [t.get_text() for t in fig.axes[0].texts] == ["no misclassified videos"]
