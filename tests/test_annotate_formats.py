"""Import and export of segments: our annotations.json, VIA 3 projects and CSV exports as VIA 3
writes them, and a plain CSV; frames from the real videos (variable frame rate included)."""

from __future__ import annotations

import json
import logging

import pytest

from actionkit.annotate.annotations import (
    AnnotationError,
    Annotations,
    Segment,
    VideoAnnotation,
    frames_to_seconds,
    load_annotations,
    save_annotations,
)
from actionkit.annotate.formats import (
    FORMATS,
    detect_format,
    read_annotations,
    write_annotations,
)
from tests._indexed import write_indexed_video

COMMA = "kitchen, take 1.mp4"
QUOTE = 'say "hi" now.mp4'
ACCENT = "café/Überraschung ñ 日本.mp4"
VFR_TIMES = [0.0, 0.04, 0.08, 0.3, 0.34, 0.38, 0.8, 0.84, 0.88, 0.92]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A folder of tiny 25 fps videos with odd names, one in a subfolder, one VFR."""
    root = tmp_path_factory.mktemp("videos")
    for name in (COMMA, QUOTE, ACCENT, "sub/plain.mp4"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_indexed_video(root / name, 50, fps=25.0)
    write_indexed_video(root / "vfr.mp4", len(VFR_TIMES), timestamps=VFR_TIMES)
    return root


def frames(ann: Annotations) -> dict[str, list[tuple[str, int, int]]]:
    return {
        name: [(s.label, s.start_frame, s.end_frame) for s in entry.segments]
        for name, entry in ann.videos.items()
    }


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- VIA 3 project JSON ----------------------------------------------------------------------------
def via_project(attribute: dict, files: dict, metadata: dict) -> str:
    """A project as VIA 3's "Save project" writes it (JSON.stringify: no spaces)."""
    views = {fid: {"fid_list": [fid]} for fid in files}
    project = {
        "project": {
            "pid": "__VIA_PROJECT_ID__", "rev": "__VIA_PROJECT_REV_ID__",
            "rev_timestamp": "__VIA_PROJECT_REV_TIMESTAMP__", "pname": "Unnamed VIA Project",
            "creator": "VGG Image Annotator (http://www.robots.ox.ac.uk/~vgg/software/via)",
            "created": 1733598000000, "vid_list": list(files),
        },
        "config": {"file": {"loc_prefix": {"1": "", "2": "", "3": "", "4": ""}},
                   "ui": {"file_content_align": "center", "spatial_region_label_attribute_id": ""}},
        "attribute": attribute,
        "file": {fid: {"fid": fid, "fname": name, "type": 4, "loc": 1, "src": ""}
                 for fid, name in files.items()},
        "metadata": metadata,
        "view": views,
    }  # fmt: skip
    return json.dumps(project, ensure_ascii=False, separators=(",", ":"))


SELECT = {
    "1": {"aname": "Activity", "anchor_id": "FILE1_Z2_XY0", "type": 4, "desc": "",
          "options": {"0": "walk", "1": "wave", "2": "sit down"}, "default_option_id": ""},
    "2": {"aname": "Object", "anchor_id": "FILE1_Z1_XY1", "type": 3, "desc": "",
          "options": {"0": "cup"}, "default_option_id": "0"},
}  # fmt: skip


def test_a_via3_project_gives_frames_labels_and_skips_regions(tmp_path, videos):
    metadata = {
        "1_kVb3xCnS": {"vid": "1", "flg": 0, "z": [0.2, 0.6], "xy": [], "av": {"1": "1"}},
        "2_Zt0q8Lmf": {"vid": "2", "flg": 0, "z": [1.0, 1.52], "xy": [], "av": {"1": "2"}},
        "1_a8Fx2Qw1": {"vid": "1", "flg": 0, "z": [0.917], "xy": [2, 10, 20, 50, 80],
                       "av": {"2": "0"}},
        "1_Yh7Klow6": {"vid": 1, "flg": 0, "z": [1.04, 1.48], "xy": [], "av": {"1": "1"}},
    }  # fmt: skip
    path = write(tmp_path, "via_project_7Dec2026_19h0m.json",
                 via_project(SELECT, {"1": COMMA, "2": ACCENT}, metadata))  # fmt: skip
    assert detect_format(path) == "via3-json"
    ann = read_annotations(path, videos)
    assert frames(ann) == {
        COMMA: [("wave", 5, 14), ("wave", 26, 36)],
        ACCENT: [("sit down", 25, 37)],
    }
    assert ann.labels == ["walk", "wave", "sit down"]  # the option list, in option order
    seg = ann.videos[COMMA].segments[0]
    assert (seg.start, seg.end, seg.source, seg.author) == (0.2, 0.6, "imported", "import")
    assert seg.created.endswith("Z") and ann.videos[COMMA].num_frames == 50


def test_a_text_attribute_gives_its_text_and_absolute_paths_match_by_name(tmp_path, videos):
    text = {"1": {"aname": "Activity", "anchor_id": "FILE1_Z2_XY0", "type": 1, "desc": "",
                  "options": {}, "default_option_id": ""}}  # fmt: skip
    metadata = {
        "1_10000000": {"vid": 1, "flg": 0, "z": [0, 0.4], "xy": [], "av": {"1": "Prendi A"}}
    }
    files = {"1": "/home/ana/OneDrive/Tesi/plain.mp4"}  # another machine's path
    ann = read_annotations(write(tmp_path, "p.json", via_project(text, files, metadata)), videos)
    assert frames(ann) == {"sub/plain.mp4": [("Prendi A", 0, 9)]}


# -- VIA 3 CSV exports -----------------------------------------------------------------------------
TEMPORAL_CSV = (
    "# Exported using VGG Image Annotator (http://www.robots.ox.ac.uk/~vgg/software/via)\n"
    "# CSV_HEADER = metadata_id,file_list,temporal_segment_start,temporal_segment_end,metadata\n"
    '"1_abc","[""kitchen, take 1.mp4""]",0.2,0.6,"{""Activity"":""wave""}"\n'
    '"2_xyz","[""say \\""hi\\"" now.mp4""]",1.124,1.52,"{""Activity"":""walk""}"\n'
    '"3_q9","[""café/Überraschung ñ 日本.mp4""]",0,0.08,"{""Activity"":""wave""}"\n'
    '"1_reg","[""kitchen, take 1.mp4""]",0.917,,"{""Object"":""0""}"'  # a region: no end
)


def test_the_temporal_segments_csv_as_via_writes_it(tmp_path, videos):
    path = write(tmp_path, "export.csv", TEMPORAL_CSV)
    assert detect_format(path) == "via3-csv"
    ann = read_annotations(path, videos)
    assert frames(ann) == {
        COMMA: [("wave", 5, 14)], QUOTE: [("walk", 28, 37)], ACCENT: [("wave", 0, 1)]
    }  # fmt: skip
    assert ann.labels == ["wave", "walk"]  # first appearance
    given = read_annotations(path, videos, labels=["sit down", "walk"])
    assert given.labels == ["sit down", "walk", "wave"] and frames(given) == frames(ann)


def test_option_ids_without_a_table_are_kept_with_a_warning_or_mapped(tmp_path, videos, caplog):
    text = (
        "# CSV_HEADER = metadata_id,file_list,temporal_segment_start,temporal_segment_end,"
        "metadata\n"
        '"1_abc","[""kitchen, take 1.mp4""]",0.2,0.6,"{""1"":""1""}"\n'
    )
    path = write(tmp_path, "ids.csv", text)
    with caplog.at_level(logging.WARNING, logger="actionkit.annotate.formats"):
        ann = read_annotations(path, videos)
    assert frames(ann) == {COMMA: [("1", 5, 14)]}
    assert "option ids" in caplog.text and "'1'" in caplog.text and "line 2" in caplog.text
    mapped = read_annotations(path, videos, labels={"0": "walk", "1": "wave"})
    assert frames(mapped) == {COMMA: [("wave", 5, 14)]} and mapped.labels == ["walk", "wave"]


def test_the_full_csv_resolves_options_from_its_attribute_table(tmp_path, videos, caplog):
    attribute = json.dumps(SELECT, separators=(",", ":"))
    text = (
        "# Exported using VGG Image Annotator (http://www.robots.ox.ac.uk/~vgg/software/via)\n"
        "# Notes:\n"
        "# - spatial_coordinates of [2,10,20,50,80] denotes a rectangle (shape_id=2) of size "
        "50x80 placed at (10,20)\n"
        '# SHAPE_ID = {"POINT":1,"RECT":2,"CIRCLE":3,"ELLIPSE":4,"LINE":5,"POLYLINE":6,'
        '"POLYGON":7}\n'
        '# FLAG_ID = {"RESERVED_FOR_FUTURE":1}\n'
        f"# ATTRIBUTE = {attribute}\n"
        "# CSV_HEADER = metadata_id,file_list,flags,temporal_coordinates,spatial_coordinates,"
        "metadata\n"
        '"1_abc","[""kitchen, take 1.mp4""]",0,"[1.124,1.52]","[]","{""1"":""0""}"\n'
        '"1_frm","[""kitchen, take 1.mp4""]",0,"[0.917]","[]","{""1"":""1""}"\n'
        '"1_reg","[""kitchen, take 1.mp4""]",0,"[0.5,0.9]","[2,10,20,50,80]","{""2"":""0""}"\n'
    )
    path = write(tmp_path, "full.txt", text)
    assert detect_format(path) == "via3-full-csv"
    with caplog.at_level(logging.INFO, logger="actionkit.annotate.formats"):
        ann = read_annotations(path, videos)
    assert "skipped 2 entries that are no temporal segments" in caplog.text  # a frame, a region
    assert frames(ann) == {COMMA: [("walk", 28, 37)]}
    assert ann.labels == ["walk", "wave", "sit down"]


# -- plain CSV -------------------------------------------------------------------------------------
def test_a_plain_csv_with_extra_columns_and_quoted_names(tmp_path, videos):
    text = (
        "\ufeffvideo,start,end,label,notes,author\n"  # Excel's BOM
        '"kitchen, take 1.mp4",0.2,0.6,wave,"first, quick",ana\n'
        '"say ""hi"" now.mp4",1.0,1.2,"sit down",,\n'
        "\n"
        "café/Überraschung ñ 日本.mp4,0.0,2.0,walk,whole,bo\n"
    )
    ann = read_annotations(write(tmp_path, "segments.csv", text), videos)
    assert frames(ann) == {
        COMMA: [("wave", 5, 14)], QUOTE: [("sit down", 25, 29)], ACCENT: [("walk", 0, 49)]
    }  # fmt: skip
    authors = {name: [s.author for s in v.segments] for name, v in ann.videos.items()}
    assert authors == {COMMA: ["ana"], QUOTE: ["import"], ACCENT: ["bo"]}


# -- round trips -----------------------------------------------------------------------------------
def made_here(videos) -> Annotations:
    def seg(label, first, last, fps=25.0, times=None):
        return Segment(label, first, last, *frames_to_seconds(first, last, fps, times), "ana")

    return Annotations(
        ["walk", "wave", "sit, down"],
        {
            COMMA: VideoAnnotation(25.0, 50, [seg("wave", 0, 0), seg("sit, down", 7, 33)]),
            QUOTE: VideoAnnotation(25.0, 50, [seg("walk", 12, 49), seg("wave", 13, 14)]),
            ACCENT: VideoAnnotation(25.0, 50, [seg('a "quoted" label', 3, 4)]),
            "vfr.mp4": VideoAnnotation(
                10.4, 10, [seg("walk", 3, 5, 10.4, VFR_TIMES), seg("wave", 9, 9, 10.4, VFR_TIMES)]
            ),
        },
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_then_read_gives_the_same_frames_and_labels(tmp_path, videos, fmt):
    ann = made_here(videos)
    path = write_annotations(ann, tmp_path / f"out.{fmt}", fmt)
    assert detect_format(path) == fmt
    back = read_annotations(path, videos)
    assert frames(back) == frames(ann)
    if fmt in ("actionkit", "via3-json", "via3-full-csv"):  # files with a label table
        assert back.labels == ann.all_labels()
    else:  # order of first appearance (videos sorted by name)
        assert back.labels == ['a "quoted" label', "wave", "sit, down", "walk"]


def test_the_via3_project_written_is_one_via3_opens(tmp_path, videos):
    data = json.loads(write_annotations(made_here(videos), tmp_path / "p.json").read_text("utf-8"))
    assert {"project", "config", "attribute", "file", "metadata", "view"} <= data.keys()
    (aid, attribute), = data["attribute"].items()  # fmt: skip
    assert attribute["aname"] == "Activity" and attribute["anchor_id"] == "FILE1_Z2_XY0"
    assert attribute["type"] == 4 and list(attribute["options"].values())[:2] == ["walk", "wave"]
    assert data["project"]["vid_list"] == list(data["view"]) == list(data["file"])
    assert sorted(f["fname"] for f in data["file"].values()) == sorted(made_here(videos).videos)
    for meta in data["metadata"].values():
        assert meta["xy"] == [] and len(meta["z"]) == 2 and meta["z"][0] < meta["z"][1]
        assert meta["vid"] in data["view"] and meta["av"][aid] in attribute["options"]


def test_our_file_is_read_as_it_is_and_placed_in_a_folder(tmp_path, videos):
    ours = made_here(videos)
    path = tmp_path / "annotations.json"
    save_annotations(path, ours, expected_revision=0)
    assert detect_format(path) == "actionkit"
    read, loaded = read_annotations(path), load_annotations(path)
    assert read.videos == loaded.videos and read.revision == loaded.revision == 1
    assert read.labels == loaded.all_labels()  # the set, then labels only segments use
    entry = ours.videos.pop(COMMA)
    ours.videos["elsewhere/kitchen, take 1.mp4"] = VideoAnnotation(None, None, entry.segments)
    write_annotations(ours, path, "actionkit")
    placed = read_annotations(path, videos)
    assert placed.videos[COMMA].fps == 25.0 and placed.videos[COMMA].num_frames == 50
    assert frames(placed)[COMMA] == frames(made_here(videos))[COMMA]


# -- finding videos --------------------------------------------------------------------------------
def test_a_unique_file_name_matches_a_video_in_a_subfolder(tmp_path, videos):
    text = "video,start,end,label\nplain.mp4,0.2,0.6,wave\nC:\\clips\\plain.mp4,0.0,0.2,walk\n"
    ann = read_annotations(write(tmp_path, "a.csv", text), videos)
    assert frames(ann) == {"sub/plain.mp4": [("walk", 0, 4), ("wave", 5, 14)]}


def test_a_missing_video_is_named_with_the_folder(tmp_path, videos):
    path = write(tmp_path, "a.csv", 'video,start,end,label\n"kitchen, take 2.mp4",0,1,wave\n')
    with pytest.raises(
        AnnotationError, match=r"line 2: video 'kitchen, take 2.mp4' not found"
    ) as e:
        read_annotations(path, videos)
    assert str(videos) in str(e.value)


def test_a_missing_video_can_be_skipped_with_a_warning(tmp_path, videos, caplog):
    table = tmp_path / "t.csv"
    table.write_text(
        "video,start,end,label\nplain.mp4,0,1,wave\nnope.mp4,0,1,wave\nnope.mp4,1,2,x\n"
    )
    with caplog.at_level(logging.WARNING, logger="actionkit"):
        ann = read_annotations(table, videos=videos, on_missing="skip")
    assert list(ann.videos) == ["sub/plain.mp4"] and ann.num_segments() == 1
    assert "'nope.mp4' not found" in caplog.text and "its 2 segment(s) are skipped" in caplog.text
    with pytest.raises(ValueError, match=r"on_missing='ignore'.*'error' or 'skip'"):
        read_annotations(table, videos=videos, on_missing="ignore")


def test_an_ambiguous_file_name_is_refused(tmp_path):
    for folder in ("a", "b"):
        write_indexed_video(tmp_path / "v" / folder / "x.mp4", 5)
    path = write(tmp_path, "a.csv", "video,start,end,label\nx.mp4,0,0.1,wave\n")
    with pytest.raises(AnnotationError, match=r"matches 2 videos there \(a/x.mp4, b/x.mp4\)"):
        read_annotations(path, tmp_path / "v")


def test_seconds_without_videos_ask_for_them(tmp_path):
    path = write(tmp_path, "export.csv", TEMPORAL_CSV)
    with pytest.raises(AnnotationError, match=r"seconds only.*videos="):
        read_annotations(path)


def test_a_variable_frame_rate_video_maps_seconds_by_its_frame_times(tmp_path, videos):
    path = write(tmp_path, "a.csv", "video,start,end,label\nvfr.mp4,0.3,0.8,walk\n")
    ann = read_annotations(path, videos)
    # frames 3, 4, 5 start at 0.30, 0.34, 0.38; frame 6 at 0.80 (a constant 10.4 fps: 3..7)
    assert frames(ann) == {"vfr.mp4": [("walk", 3, 5)]}
    seg = ann.videos["vfr.mp4"].segments[0]
    assert (seg.start, seg.end) == (0.3, 0.8) and ann.videos["vfr.mp4"].num_frames == 10


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('"kitchen, take 1.mp4",0.6,0.2,wave', r"line 3: start 0.6 and end 0.2 seconds"),
        ('"kitchen, take 1.mp4",-1,0.2,wave', r"line 3: start -1 and end 0.2 seconds"),
        ('"kitchen, take 1.mp4",soon,0.2,wave', r"line 3: start 'soon' .* must be seconds"),
        ('"kitchen, take 1.mp4,0.2,0.6,wave', r"line 3: malformed CSV"),
        ('"kitchen, take 1.mp4",0.2,wave', r"line 3: 3 cells, expected 4"),
        ('"kitchen, take 1.mp4",0.2,0.6,"two\nlines"', r"line 3: label 'two\\nlines'"),
        ('"kitchen, take 1.mp4",9,10,wave', r"line 3: the segment starts at 9.0 s, after the end"),
    ],
)
def test_a_bad_plain_row_is_named_by_file_and_line(tmp_path, videos, row, message):
    path = write(tmp_path, "bad.csv", f'video,start,end,label\n"{COMMA}",0,0.2,ok\n{row}\n')
    with pytest.raises(AnnotationError, match=message) as e:
        read_annotations(path, videos)
    assert str(path) in str(e.value)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('"1_a","[""kitchen, take 1.mp4""]",0.6,0.2,"{}"', r"line 3: start 0.6 and end 0.2"),
        (
            '"1_a","[""kitchen, take 1.mp4""]",0.2,0.6,"{oops}"',
            r"line 3: metadata is not valid JSON",
        ),
        ('"1_a","kitchen.mp4",0.2,0.6,"{}"', r"line 3: file_list is not valid JSON"),
        ('"1_a","[""a.mp4"",""b.mp4""]",0.2,0.6,"{}"', r"line 3: file_list .* exactly one video"),
        ('"1_a","[""kitchen, take 1.mp4""]",0.2,0.6', r"line 3: 4 cells, expected 5"),
        ('"1_a","[""kitchen, take 1.mp4""]"x,0.2,0.6,"{}"', r"line 3: malformed CSV"),
    ],
)
def test_a_bad_via_row_is_named_by_file_and_line(tmp_path, videos, row, message):
    header = "metadata_id,file_list,temporal_segment_start,temporal_segment_end,metadata"
    path = write(tmp_path, "bad.csv", f"# a comment\n# CSV_HEADER = {header}\n{row}\n")
    with pytest.raises(AnnotationError, match=message):
        read_annotations(path, videos)


def test_a_bad_via_project_segment_is_named_by_its_metadata_id(tmp_path, videos):
    metadata = {"1_bad": {"vid": "1", "flg": 0, "z": [0.5, 0.5], "xy": [], "av": {"1": "1"}}}
    path = write(tmp_path, "p.json", via_project(SELECT, {"1": COMMA}, metadata))
    with pytest.raises(AnnotationError, match=r"p.json: metadata '1_bad': start 0.5 and end 0.5"):
        read_annotations(path, videos)


@pytest.mark.parametrize(
    "text",
    [
        "frame,label\n1,wave\n",
        '{"_via_img_metadata": {}}',
        "just some words",
        "# CSV_HEADER = a,b,c\n1,2,3\n",
    ],
)
def test_an_unknown_format_lists_the_formats_understood(tmp_path, text):
    with pytest.raises(
        AnnotationError, match=r"understood: the labeling tool's annotations\.json, a VIA 3"
    ):
        read_annotations(write(tmp_path, "x.csv", text))


def test_invalid_json_is_named_with_its_line(tmp_path):
    with pytest.raises(AnnotationError, match=r"x.json: invalid JSON at line 2, column 1"):
        read_annotations(write(tmp_path, "x.json", '{"project": {},\n}'))


def test_an_unknown_format_to_write_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match=r"format='via2': choose one of actionkit, via3-json"):
        write_annotations(Annotations(), tmp_path / "x", "via2")


def test_the_generated_ground_truth_csv_gives_its_frames_back(tmp_path):
    from actionkit.datasets.untrimmed import GROUND_TRUTH_FILE, make_untrimmed_videos

    truth = make_untrimmed_videos(tmp_path, num_videos=2, actions_per_video=3, fps=12.5)
    ann = read_annotations(tmp_path / GROUND_TRUTH_FILE, tmp_path)
    expected: dict[str, list[tuple[str, int, int]]] = {}
    for t in truth:
        expected.setdefault(t.video, []).append((t.label, t.start_frame, t.end_frame))
    assert frames(ann) == expected
