"""VIA 3 (the VGG Image Annotator, version 3): its project JSON and its two CSV exports.

What VIA 3 writes (``via-3.x.y/src/js``: ``_via_data.js``, ``_via_import_export.js``):

- "Save project": a JSON object with ``project`` (``vid_list``...), ``config``, ``attribute``
  (id -> ``{aname, anchor_id, type, desc, options, default_option_id}``), ``file`` (id ->
  ``{fid, fname, type, loc, src}``), ``view`` (id -> ``{fid_list}``) and ``metadata`` (id ->
  ``{vid, flg, z, xy, av}``). A temporal segment has ``z == [start, end]`` (seconds) and an
  empty ``xy``; ``av`` maps attribute ids to values: an option id for radio, select and image
  attributes (types 3, 4, 5), ``{option id: true}`` for a checkbox (2), the text itself for text
  (1). The label is the value of the first attribute anchored on temporal segments
  (``FILE1_Z2_XY0``), the attribute VIA's timeline groups segments by.
- "Only Temporal Segments as CSV": ``#`` comment lines, ``# CSV_HEADER =
  metadata_id,file_list,temporal_segment_start,temporal_segment_end,metadata``, then rows whose
  cells hold JSON (quotes doubled). VIA keys the metadata cell by the attribute's *name* and
  keeps option *ids* as values, and the file has no attribute table: an id that cannot be
  resolved is kept as the label, with a warning.
- The full CSV: ``# ATTRIBUTE = {...}`` (the attribute table) and ``# CSV_HEADER =
  metadata_id,file_list,flags,temporal_coordinates,spatial_coordinates,metadata``; rows whose
  temporal coordinates are not ``[start, end]`` or that have a spatial region are no temporal
  segments and are skipped.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from actionkit.annotate.annotations import AnnotationError, Annotations

TEMPORAL_ANCHOR = "FILE1_Z2_XY0"
TEXT, CHECKBOX = 1, 2
OPTION_TYPES = (3, 4, 5)  # radio, select, image
CHOICE_TYPES = (*OPTION_TYPES, CHECKBOX)
TEMPORAL_HEADER = "metadata_id,file_list,temporal_segment_start,temporal_segment_end,metadata"
FULL_HEADER = "metadata_id,file_list,flags,temporal_coordinates,spatial_coordinates,metadata"
ATTRIBUTE_NAME = "Activity"
CREATOR = "VGG Image Annotator (http://www.robots.ox.ac.uk/~vgg/software/via)"


@dataclass
class RawSegment:
    """A segment as a file states it: a video name as written, seconds, and where it stood."""

    video: str
    label: str
    start: float
    end: float
    where: str
    author: str = ""


@dataclass
class Parsed:
    """What a file held: its segments, its label list (VIA option lists) and what was skipped."""

    segments: list[RawSegment] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    skipped: int = 0
    unresolved: dict[str, str] = field(default_factory=dict)  # option id -> first place seen


# -- labels ----------------------------------------------------------------------------------------
def js_order(keys: Any) -> list[str]:
    """Object keys in the order JavaScript iterates them: integer keys ascending, then the rest."""
    keys = [str(k) for k in keys]
    ints = sorted((k for k in keys if k.isdigit() and str(int(k)) == k), key=int)
    return ints + [k for k in keys if k not in ints]


class Labeler:
    """Turns a metadata's ``av`` into a label, with the attribute table when the file has one."""

    def __init__(self, attributes: Any, options: Mapping[str, str] | None, parsed: Parsed) -> None:
        self.attributes = attributes if isinstance(attributes, dict) else None
        self.options = dict(options or {})
        self.parsed = parsed
        table = self.attributes or {}
        self.temporal = [a for a in js_order(table) if _anchor(table[a]) == TEMPORAL_ANCHOR]
        if self.temporal:
            first = table[self.temporal[0]]
            if isinstance(first, dict) and first.get("type") in CHOICE_TYPES:
                opts = first.get("options") or {}
                parsed.labels += [str(opts[k]) for k in js_order(opts)]

    def label(self, av: Any, where: str) -> str:
        if not isinstance(av, dict):
            raise AnnotationError(f"{where}: attribute values must be a JSON object, got {av!r}")
        if self.attributes is None:  # no table: the first value, keyed by name or id
            for value in av.values():
                if value not in ("", None, {}):
                    return self._option_or_text(value, None, where)
            return ""
        for aid in self.temporal or js_order(av):
            value = av.get(aid)
            if value not in ("", None, {}):
                return self._option_or_text(value, self.attributes.get(aid), where)
        return ""

    def _option_or_text(self, value: Any, attribute: Any, where: str) -> str:
        if isinstance(value, dict):  # a checkbox: {option id: true}
            value = next((k for k, on in value.items() if on), "")
        value = str(value)
        kind = attribute.get("type") if isinstance(attribute, dict) else None
        if kind == TEXT:
            return value
        options = attribute.get("options") if isinstance(attribute, dict) else None
        if isinstance(options, dict) and value in options:
            return str(options[value])
        if value in self.options:
            return self.options[value]
        if kind in CHOICE_TYPES or (kind is None and value.isdigit()):
            self.parsed.unresolved.setdefault(value, where)
        return value


def _anchor(attribute: Any) -> Any:
    return attribute.get("anchor_id") if isinstance(attribute, dict) else None


def _seconds(a: Any, b: Any, where: str) -> tuple[float, float]:
    try:
        start, end = float(a), float(b)
    except (TypeError, ValueError):
        raise AnnotationError(f"{where}: start {a!r} and end {b!r} must be seconds") from None
    if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
        raise AnnotationError(f"{where}: start {a} and end {b} seconds: need 0 <= start < end")
    return start, end


# -- project JSON ----------------------------------------------------------------------------------
def is_project(data: Any) -> bool:
    return isinstance(data, dict) and {"project", "file", "metadata"} <= data.keys()


def parse_project(data: dict, where: str, options: Mapping[str, str] | None) -> Parsed:
    """The temporal segments of a VIA 3 project (``data``: the parsed JSON)."""
    parsed = Parsed()
    files, views, metadata = data.get("file"), data.get("view") or {}, data.get("metadata")
    if not isinstance(files, dict) or not isinstance(metadata, dict) or not isinstance(views, dict):
        raise AnnotationError(f"{where}: 'file', 'view' and 'metadata' must be JSON objects")
    labeler = Labeler(data.get("attribute") or {}, options, parsed)
    for mid, meta in metadata.items():
        at = f"{where}: metadata {mid!r}"
        if not isinstance(meta, dict):
            raise AnnotationError(f"{at}: expected an object with vid, z, xy and av")
        z, xy = meta.get("z") or [], meta.get("xy") or []
        if not isinstance(z, list) or len(z) != 2 or xy:
            parsed.skipped += 1
            continue
        video = _view_file(meta.get("vid"), views, files, at)
        start, end = _seconds(z[0], z[1], at)
        parsed.segments.append(
            RawSegment(video, labeler.label(meta.get("av", {}), at), start, end, at)
        )
    return parsed


def _view_file(vid: Any, views: dict, files: dict, where: str) -> str:
    view = views.get(str(vid))
    fids = view.get("fid_list") if isinstance(view, dict) else [vid] if str(vid) in files else None
    if not isinstance(fids, list) or len(fids) != 1:
        raise AnnotationError(
            f"{where}: view {vid!r} is not a view of one file "
            "(a temporal segment belongs to one video)"
        )
    file = files.get(str(fids[0]))
    name = file.get("fname") or file.get("src") if isinstance(file, dict) else None
    if not isinstance(name, str) or not name:
        raise AnnotationError(f"{where}: file {fids[0]!r} of view {vid!r} has no name")
    return name


def project_json(annotations: Annotations) -> dict[str, Any]:
    """A VIA 3 project holding ``annotations``: one select attribute, one view per video."""
    labels = annotations.all_labels()
    option = {label: str(i) for i, label in enumerate(labels)}
    files, views, metadata, vid_list = {}, {}, {}, []
    for i, (name, entry) in enumerate(sorted(annotations.videos.items()), 1):
        fid = str(i)
        files[fid] = {"fid": fid, "fname": name, "type": 4, "loc": 1, "src": ""}
        views[fid] = {"fid_list": [fid]}
        vid_list.append(fid)
        for j, seg in enumerate(entry.segments, 1):
            metadata[f"{fid}_{j:06d}"] = {
                "vid": fid, "flg": 0, "z": [seg.start, seg.end], "xy": [],
                "av": {"1": option[seg.label]},
            }  # fmt: skip
    return {
        "project": {
            "pid": "__VIA_PROJECT_ID__", "rev": "__VIA_PROJECT_REV_ID__",
            "rev_timestamp": "__VIA_PROJECT_REV_TIMESTAMP__", "pname": "actionkit annotations",
            "data_format_version": "3.1.1", "creator": CREATOR,
            "created": int(time.time() * 1000), "vid_list": vid_list,
        },
        "config": {
            "file": {"loc_prefix": {"1": "", "2": "", "3": "", "4": ""}},
            "ui": {
                "file_content_align": "center", "file_metadata_editor_visible": True,
                "spatial_metadata_editor_visible": True,
                "temporal_segment_metadata_editor_visible": True,
                "spatial_region_label_attribute_id": "", "gtimeline_visible_row_count": "4",
            },
        },
        "attribute": {"1": _attribute(labels)},
        "file": files,
        "metadata": metadata,
        "view": views,
    }  # fmt: skip


def _attribute(labels: list[str]) -> dict[str, Any]:
    return {
        "aname": ATTRIBUTE_NAME, "anchor_id": TEMPORAL_ANCHOR, "type": 4,
        "desc": "Action label (written by actionkit)",
        "options": {str(i): label for i, label in enumerate(labels)}, "default_option_id": "",
    }  # fmt: skip


# -- CSV exports -----------------------------------------------------------------------------------
def csv_header(text: str) -> str | None:
    """The ``# CSV_HEADER =`` value of a VIA CSV export, or ``None``."""
    for line in text.splitlines():
        key, _, value = line.lstrip("#").partition("=")
        if line.startswith("#") and key.strip() == "CSV_HEADER":
            return value.strip()
    return None


def parse_csv(text: str, where: str, options: Mapping[str, str] | None) -> Parsed:
    """The temporal segments of either VIA 3 CSV export (told apart by ``# CSV_HEADER``)."""
    parsed, header, attributes, labeler = Parsed(), None, None, None
    for number, line in enumerate(text.splitlines(), 1):
        at = f"{where}, line {number}"
        if line.startswith("#"):
            key, _, value = line[1:].partition("=")
            if key.strip() == "CSV_HEADER":
                header = value.strip()
                if header not in (TEMPORAL_HEADER, FULL_HEADER):
                    raise AnnotationError(
                        f"{at}: CSV_HEADER {header!r} is neither VIA 3 export "
                        f"({TEMPORAL_HEADER!r} or {FULL_HEADER!r})"
                    )
            elif key.strip() == "ATTRIBUTE":
                attributes = _json_cell(value, at, "ATTRIBUTE")
            continue
        if not line.strip():
            continue
        if header is None:
            raise AnnotationError(f"{at}: a data row before the '# CSV_HEADER =' line")
        labeler = labeler or Labeler(attributes, options, parsed)
        row = _temporal_row if header == TEMPORAL_HEADER else _full_row
        segment = row(_cells(line, header, at), at, labeler)
        if segment is None:
            parsed.skipped += 1
        else:
            parsed.segments.append(segment)
    return parsed


def _cells(line: str, header: str, where: str) -> list[str]:
    try:
        cells = next(csv.reader([line], strict=True))
    except csv.Error as exc:
        raise AnnotationError(f"{where}: malformed CSV ({exc})") from None
    names = header.split(",")
    if len(cells) != len(names):
        raise AnnotationError(f"{where}: {len(cells)} cells, expected {len(names)} ({header})")
    return cells


def _json_cell(cell: str, where: str, name: str) -> Any:
    try:
        return json.loads(cell)
    except json.JSONDecodeError as exc:
        raise AnnotationError(
            f"{where}: {name} is not valid JSON ({exc.msg}): {cell[:80]!r}"
        ) from None


def _video_of(cell: str, where: str) -> str:
    files = _json_cell(cell, where, "file_list")
    if not (isinstance(files, list) and len(files) == 1 and isinstance(files[0], str)):
        raise AnnotationError(f"{where}: file_list {cell!r} must name exactly one video")
    return files[0]


def _temporal_row(cells: list[str], where: str, labeler: Labeler) -> RawSegment | None:
    if not cells[2].strip() or not cells[3].strip():  # a metadata without [start, end]
        return None
    start, end = _seconds(cells[2], cells[3], where)
    av = _json_cell(cells[4], where, "metadata")
    return RawSegment(_video_of(cells[1], where), labeler.label(av, where), start, end, where)


def _full_row(cells: list[str], where: str, labeler: Labeler) -> RawSegment | None:
    z = _json_cell(cells[3], where, "temporal_coordinates")
    xy = _json_cell(cells[4], where, "spatial_coordinates")
    if not isinstance(z, list) or len(z) != 2 or xy:
        return None
    start, end = _seconds(z[0], z[1], where)
    av = _json_cell(cells[5], where, "metadata")
    return RawSegment(_video_of(cells[1], where), labeler.label(av, where), start, end, where)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))  # as JSON.stringify


def _obj(value: Any) -> str:
    return _quote(_json(value))


def csv_text(annotations: Annotations, full: bool) -> str:
    """A VIA 3 CSV export of ``annotations``, quoted as VIA quotes it.

    The temporal-segments export keys each row's metadata by the attribute's name, as VIA
    does, but holds the label text (VIA writes the option id there, which no reader can
    resolve without the project); the full export holds option ids and its attribute table.
    """
    labels = annotations.all_labels()
    option = {label: str(i) for i, label in enumerate(labels)}
    lines = [f"# Exported using actionkit, in the format of the {CREATOR}"]
    if full:
        lines.append(f"# ATTRIBUTE = {_json({'1': _attribute(labels)})}")
    lines.append(f"# CSV_HEADER = {FULL_HEADER if full else TEMPORAL_HEADER}")
    for i, (name, entry) in enumerate(sorted(annotations.videos.items()), 1):
        for j, seg in enumerate(entry.segments, 1):
            head = [_quote(f"{i}_{j:06d}"), _obj([name])]
            if full:
                rest = ["0", _obj([seg.start, seg.end]), _obj([]), _obj({"1": option[seg.label]})]
            else:
                rest = [repr(seg.start), repr(seg.end), _obj({ATTRIBUTE_NAME: seg.label})]
            lines.append(",".join(head + rest))
    return "\n".join(lines) + "\n"
