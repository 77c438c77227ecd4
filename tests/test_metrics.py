"""compute_report and EvalReport on score arrays whose right answers follow from their making."""

import json
import re
import unicodedata
from collections import Counter

import numpy as np
import pytest

from actionkit.evaluation.metrics import EvalReport, compute_report, topk_accuracy

CLASSES = ["jump", "run", "walk", "wave", "clap", "sit", "kick"]


def ranked_scores(orders: np.ndarray) -> np.ndarray:
    """Softmax-like rows in which class ``orders[i, r]`` has the r-th highest score."""
    n, c = orders.shape
    levels = np.linspace(1.0, 0.1, c)
    levels /= levels.sum()
    scores = np.empty((n, c))
    scores[np.arange(n)[:, None], orders] = levels
    return scores


def scores_for(preds, num_classes: int, top: float = 0.8) -> np.ndarray:
    """Rows predicting ``preds[i]`` with score ``top`` (a float or one per row)."""
    top = np.broadcast_to(np.asarray(top, dtype=float), (len(preds),))
    scores = np.repeat(((1 - top) / (num_classes - 1))[:, None], num_classes, axis=1)
    scores[np.arange(len(preds)), preds] = top
    return scores


@pytest.fixture(scope="module")
def ranked():
    """40 videos with imbalanced labels and a random class ranking per video."""
    rng = np.random.default_rng(7)
    labels = rng.choice(7, size=40, p=[0.4, 0.2, 0.1, 0.1, 0.1, 0.1, 0.0])
    orders = np.array([rng.permutation(7) for _ in labels])
    # make about half of the top-1 predictions right
    for i in range(0, 40, 2):
        where = int(np.flatnonzero(orders[i] == labels[i])[0])
        orders[i, [0, where]] = orders[i, [where, 0]]
    return labels, orders


def test_accuracies_and_confusion_follow_the_construction(ranked):
    labels, orders = ranked
    report = compute_report(ranked_scores(orders), labels, CLASSES)
    preds = orders[:, 0]
    assert report.num_videos == 40
    assert report.top1 == pytest.approx(np.mean(preds == labels))
    in_top5 = [label in order[:5] for label, order in zip(labels, orders, strict=True)]
    assert report.top5 == pytest.approx(np.mean(in_top5))
    assert report.top5 >= report.top1
    pairs = Counter(zip(labels.tolist(), preds.tolist(), strict=True))
    for t in range(7):
        for p in range(7):
            assert report.confusion[t, p] == pairs[(t, p)]
    assert report.confusion.sum() == 40
    recalls = [np.mean(preds[labels == c] == c) for c in range(7) if (labels == c).any()]
    assert report.mean_class_accuracy == pytest.approx(np.mean(recalls))
    assert [p["pred"] for p in report.predictions] == preds.tolist()


def test_per_class_precision_recall_f1_support(ranked):
    labels, orders = ranked
    report = compute_report(ranked_scores(orders), labels, CLASSES)
    preds = orders[:, 0]
    for c, row in enumerate(report.per_class):
        hits = int(np.sum((preds == c) & (labels == c)))
        precision = hits / max(1, np.sum(preds == c))
        recall = hits / max(1, np.sum(labels == c))
        f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
        assert row["class"] == CLASSES[c]
        assert row["support"] == np.sum(labels == c)
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx(
            (precision, recall, f1)
        )
    assert report.per_class[6]["support"] == 0  # "kick" has no test video


def test_mean_class_accuracy_differs_from_top1_when_imbalanced():
    # jump: 8 videos all right; run: 2 videos both wrong; walk: 2 videos, one right; wave: none
    labels = np.array([0] * 8 + [1, 1] + [2, 2])
    preds = np.array([0] * 8 + [2, 0] + [2, 1])
    report = compute_report(scores_for(preds, 4), labels, CLASSES[:4])
    assert report.top1 == pytest.approx(9 / 12)
    assert report.mean_class_accuracy == pytest.approx((1 + 0 + 0.5) / 3)
    assert report.top5 == 1.0  # k = min(5, 4): every class is in the top 4
    assert (
        report.confusion[1, 2] == 1 and report.confusion[1, 0] == 1 and report.confusion[2, 1] == 1
    )


def test_unreadable_rows_are_listed_not_scored():
    labels = np.array([0, -1, 1, 1, -1, 2])
    preds = np.array([0, 0, 1, 0, 0, 2])
    scores = scores_for(preds, 3)
    scores[[1, 4]] = np.nan  # whatever a failed video got must not matter
    paths = [f"/videos/v{i}.mp4" for i in range(6)]
    report = compute_report(scores, labels, CLASSES[:3], paths=paths, seconds=3.0)
    assert report.unreadable == ["/videos/v1.mp4", "/videos/v4.mp4"]
    assert report.num_videos == 4
    assert report.top1 == pytest.approx(3 / 4)
    assert report.confusion.sum() == 4
    assert [p["path"] for p in report.predictions] == [paths[i] for i in (0, 2, 3, 5)]
    assert [p["index"] for p in report.predictions] == [0, 2, 3, 5]
    assert report.seconds_per_video == pytest.approx(3.0 / 6)

    without_paths = compute_report(scores, labels, CLASSES[:3])
    assert without_paths.unreadable == ["1", "4"]
    assert without_paths.seconds_per_video is None
    assert without_paths.predictions[0]["path"] is None


def test_clip_top1_counts_every_clip():
    labels = np.array([0, 1, 2])
    clip_preds = np.array([[0, 0, 1], [1, 2, 2], [2, 2, 2]])  # 2 + 1 + 3 = 6 of 9 clips right
    clips = np.stack([scores_for(row, 3) for row in clip_preds])
    report = compute_report(clips.mean(axis=1), labels, CLASSES[:3], clip_scores=clips)
    assert report.clip_top1 == pytest.approx(6 / 9)
    assert compute_report(clips.mean(axis=1), labels, CLASSES[:3]).clip_top1 is None


def test_topk_accuracy_ties_and_large_k():
    scores = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
    labels = np.array([1, 0, 2])
    assert topk_accuracy(scores, labels, 1) == 0.0  # a tie goes to the lower class, as argmax
    assert topk_accuracy(scores, labels, 2) == pytest.approx(2 / 3)
    assert topk_accuracy(scores, labels, 10) == 1.0
    with pytest.raises(ValueError, match="k=0"):
        topk_accuracy(scores, labels, 0)


def test_most_confused_and_misclassified():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    preds = np.array([1, 1, 0, 0, 1, 0, 0, 0, 1])
    scores = scores_for(preds, 3, top=np.linspace(0.5, 0.9, 9))
    report = compute_report(scores, labels, ["a", "b", "c"])
    assert report.most_confused() == [("c", "a", 3), ("a", "b", 2), ("b", "a", 1), ("c", "b", 1)]
    assert report.most_confused(k=2) == [("c", "a", 3), ("a", "b", 2)]
    assert report.most_confused(min_count=2) == [("c", "a", 3), ("a", "b", 2)]
    wrong = report.misclassified()
    assert len(wrong) == int(np.sum(preds != labels)) == 7
    assert all(not p["correct"] and p["pred"] != p["label"] for p in wrong)
    assert [p["score"] for p in wrong] == sorted((p["score"] for p in wrong), reverse=True)
    assert wrong[0]["score"] == pytest.approx(scores[8, 1])


def test_json_round_trip(tmp_path, ranked):
    labels, orders = ranked
    labels = labels.copy()
    labels[3] = -1
    clips = np.stack([ranked_scores(orders)] * 2, axis=1)
    report = compute_report(
        ranked_scores(orders),
        labels,
        CLASSES,
        clip_scores=clips,
        paths=[f"clips/ünï {i}.mp4" for i in range(40)],
        seconds=12.5,
        settings={"model": "tsn", "num_clips": 2, "three_crop": False, "crop": (112, 112)},
    )
    path = report.save(tmp_path / "out" / "report.json")
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.json"]  # no temp file left
    assert json.loads(path.read_text(encoding="utf-8"))["top1"] == report.top1
    loaded = EvalReport.load(path)
    assert loaded == report
    assert isinstance(loaded.confusion, np.ndarray) and loaded.confusion.dtype.kind == "i"
    assert np.array_equal(loaded.confusion, report.confusion)
    assert loaded.settings["crop"] == [112, 112]  # as JSON gives it back, in both
    assert report.settings["crop"] == [112, 112]
    assert (loaded.top1, loaded.clip_top1, loaded.unreadable) == (
        report.top1,
        report.clip_top1,
        report.unreadable,
    )
    assert loaded.predictions == report.predictions and loaded.per_class == report.per_class
    other = compute_report(ranked_scores(orders), ranked[0], CLASSES)
    assert other != report
    other.save(path)  # replaces the file
    assert EvalReport.load(path) == other


def test_newer_format_is_refused(ranked):
    data = compute_report(ranked_scores(ranked[1]), ranked[0], CLASSES).to_dict()
    data["format_version"] = 99
    with pytest.raises(ValueError, match="format_version=99"):
        EvalReport.from_dict(data)


def test_table_names_every_class_and_the_numbers():
    labels = np.array([0] * 8 + [1, 1] + [2, 2])
    preds = np.array([0] * 8 + [2, 0] + [2, 1])
    classes = ["brush_hair", "cartwheel", "<b>&wave"]
    report = compute_report(scores_for(preds, 3), labels, classes, seconds=6.0)
    text = report.table()
    assert str(report) == text
    assert f"{100 * 9 / 12:.2f} %" in text
    assert f"{100 * 0.5:.2f} %" in text  # mean class accuracy (1 + 0 + 0.5) / 3
    assert "0.500" in text  # seconds per video
    lines = text.splitlines()
    for name, support in zip(classes, (8, 2, 2), strict=True):
        row = next(line for line in lines if line.startswith(name + " "))
        assert row.split()[-1] == str(support)
    assert "cartwheel → <b>&wave: 1" in text
    rows = [line for line in lines if line.startswith(("class ", *(c + " " for c in classes)))]
    assert len(rows) == 4 and len({len(line) for line in rows}) == 1  # header + aligned rows
    page = report._repr_html_()
    assert "&lt;b&gt;&amp;wave" in page and "<b>&wave" not in page


def columns(text: str) -> int:
    """Terminal columns of ``text``: CJK (wide and fullwidth) characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_table_columns_line_up_in_terminal_columns_with_wide_class_names():
    classes = ["跳绳", "jump", "打太极拳", "wave_hands_slowly", "ｓｉｔ", "拍手x"]
    labels = np.arange(12) % 6
    report = compute_report(scores_for(labels, 6), labels, classes)
    lines = report.table().splitlines()
    header = next(line for line in lines if line.startswith("class "))
    rows = [next(line for line in lines if line.startswith(name + " ")) for name in classes]
    assert len({columns(line) for line in [header, *rows]}) == 1
    precision_end = columns(header[: header.index("precision") + len("precision")])
    for row in rows:  # the precision cell ends under the end of its header
        assert columns(row[: re.search(r"\d+\.\d%", row).end()]) == precision_end


@pytest.mark.filterwarnings("ignore:A single label was found")
@pytest.mark.parametrize("num_classes", [1, 3, 5])
def test_text_views_leave_out_a_topk_that_cannot_miss(num_classes):
    labels = np.arange(2 * num_classes) % num_classes
    report = compute_report(np.eye(num_classes)[labels], labels, CLASSES[:num_classes])
    assert report.top5 == 1.0 and report.topk_label is None
    headline = report.table().split("\n\n")[0].splitlines()
    assert [line.split()[0] for line in headline].count("top-1") == 1
    assert not [line for line in headline if re.match(r"top-[2-9]", line)]
    page = report._repr_html_()
    assert page.count("<th>top-1</th>") == 1 and re.search(r"top-[2-9]", page) is None
    assert re.findall(r"top\d=", repr(report)) == ["top1="]


def test_text_views_show_top5_with_more_than_five_classes(ranked):
    report = compute_report(ranked_scores(ranked[1]), ranked[0], CLASSES)
    assert report.topk_label == "top-5" and report.top5 < 1.0
    assert f"top-5                {100 * report.top5:.2f} %" in report.table().splitlines()
    assert "<th>top-5</th>" in report._repr_html_() and "top5=" in repr(report)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(classes=CLASSES[:2]), "3 class columns; expected 2"),
        (dict(labels=np.array([0, 1, 3, 0])), "label 3 is out of range; expected 0..2"),
        (dict(labels=np.array([0, -2, 1, 0])), "label -2 is out of range"),
        (dict(labels=np.array([0, 1, 2])), r"shape \(4,\)"),
        (dict(labels=np.array([0.0, 1.0, 2.0, 0.0])), "must be integers"),
        (dict(labels=np.array([-1, -1, -1, -1])), "no video to score"),
        (dict(video_scores=np.ones(4)), r"must be \(N, C\)"),
        (dict(clip_scores=np.ones((4, 2, 5))), r"\(4, K, 3\)"),
        (dict(paths=["a.mp4"]), "paths has 1 entries; expected 4"),
        (dict(seconds=-1.0), "seconds=-1.0"),
        (dict(settings={"spec": object()}), "settings must hold plain JSON"),
        (dict(video_scores=np.full((4, 3), np.nan)), "NaN"),
    ],
)
def test_bad_inputs_are_refused(change, message):
    args = dict(
        video_scores=np.full((4, 3), 1 / 3), labels=np.array([0, 1, 2, 0]), classes=CLASSES[:3]
    )
    args.update(change)
    with pytest.raises(ValueError, match=message):
        compute_report(args.pop("video_scores"), args.pop("labels"), args.pop("classes"), **args)
