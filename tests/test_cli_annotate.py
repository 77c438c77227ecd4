"""`actionkit annotate --import / --export`: a VIA 3 or CSV file joins the folder's
annotations.json before the page opens, and the folder's labels leave as any of the formats."""

from __future__ import annotations

import json
import signal

import pytest

from actionkit.annotate.annotations import load_annotations
from actionkit.annotate.formats import read_annotations
from actionkit.cli import main
from tests._browser import free_port
from tests._indexed import write_indexed_video
from tests.test_annotate_server import start_command


def folder_with_a_segment(tmp_path):
    videos = tmp_path / "videos"
    write_indexed_video(videos / "kitchen, take 1.mp4", 50, 25.0)
    write_indexed_video(videos / "hall.mp4", 40, 25.0)
    table = tmp_path / "labels.csv"
    table.write_text('video,start,end,label\n"kitchen, take 1.mp4",0.4,1.2,wave\n')
    return videos, table


def test_import_adds_the_segments_once_then_serves(tmp_path):
    videos, table = folder_with_a_segment(tmp_path)
    for expected in ("imported 1 new segments", "imported 0 new segments"):
        process, lines = start_command(
            videos, "--import", table, "--no-browser", "--port", free_port()
        )
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
        assert any(expected in line for line in lines), lines
    annotations = load_annotations(videos / "annotations.json")
    (segment,) = annotations.videos["kitchen, take 1.mp4"].segments
    assert (segment.label, segment.start_frame, segment.end_frame) == ("wave", 10, 29)
    assert segment.source == "imported" and annotations.labels == ["wave"]


def test_export_writes_each_format_that_reads_back(tmp_path, capsys):
    videos, table = folder_with_a_segment(tmp_path)
    ours = read_annotations(table, videos=videos)
    (videos / "annotations.json").write_text(json.dumps(ours.to_dict()))
    for fmt, name in (("via3-json", "p.json"), ("via3-csv", "t.csv"), ("csv", "plain.csv")):
        assert (
            main(["annotate", str(videos), "--export", str(tmp_path / name), "--format", fmt]) == 0
        )
        assert f"wrote 1 segments to {tmp_path / name} ({fmt})" in capsys.readouterr().out
        back = read_annotations(tmp_path / name, videos=videos)
        (segment,) = back.videos["kitchen, take 1.mp4"].segments
        assert (segment.label, segment.start_frame, segment.end_frame) == ("wave", 10, 29)


def test_export_without_annotations_or_to_a_folder_is_refused(tmp_path, capsys):
    videos, _ = folder_with_a_segment(tmp_path)
    assert main(["annotate", str(videos), "--export", str(tmp_path / "x.json")]) == 2
    assert "nothing to export" in capsys.readouterr().err
    (videos / "annotations.json").write_text("{}")
    assert main(["annotate", str(videos), "--export", str(tmp_path)]) == 2
    assert "give a file in an existing folder" in capsys.readouterr().err
    assert main(["annotate", str(videos), "--import", str(tmp_path / "none.csv")]) == 2
    assert "none.csv does not exist" in capsys.readouterr().err


def test_min_score_decides_which_windows_propose(tmp_path, capsys):
    from actionkit.annotate.server import AnnotationServer
    from tests.test_annotate_proxy import constant_model

    write_indexed_video(tmp_path / "videos" / "a.mp4", 30, 25.0)
    model = constant_model(tmp_path, ["walk", "background"], 0)  # "walk" at about 0.998
    found = {}
    for min_score in (0.5, 1.0):
        server = AnnotationServer(
            tmp_path / "videos", suggest_model=model, suggest_min_score=min_score
        )
        with server:
            assert server.suggestions.wait(120)
            found[min_score] = server.suggestions.status("a.mp4")["segments"]
    assert [s["label"] for s in found[0.5]] == ["walk"] and found[1.0] == []
    with pytest.raises(SystemExit) as bad:  # a bad command line: argparse's usage, status 2
        main(["annotate", str(tmp_path / "videos"), "--min-score", "1.5"])
    assert bad.value.code == 2
    assert "1.5 must be between 0 and 1" in capsys.readouterr().err
