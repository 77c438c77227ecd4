"""``actionkit annotate``: label the videos of a folder in the browser."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from actionkit.cli._common import UsageError, add_command, int_at_least, need_path, unit_float

DEFAULT_PORT = 8765
# actionkit.annotate.formats.FORMATS, without importing it for --help
EXPORT_FORMATS = ("via3-json", "via3-csv", "via3-full-csv", "csv", "actionkit")
_PORTS_TRIED = 50  # without --port: the first free one of DEFAULT_PORT.. DEFAULT_PORT + 49


def _add_annotate(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub, common, "annotate", _run_annotate,
        help="label the videos of a folder in the browser",
        description=(
            "Serve a labeling page for the videos in VIDEO_DIR (and its subfolders) on "
            "127.0.0.1, print its address with a random token and open it in the browser. "
            "Segments are saved after every change to VIDEO_DIR/annotations.json; "
            "`actionkit clips` turns them into a training set. Videos a browser cannot play "
            "(AVI, MPEG-4 Part 2, MJPEG, HEVC...) are shown as cached H.264 copies with the "
            "same frames. On a remote machine, forward the port: ssh -L PORT:127.0.0.1:PORT "
            "HOST, then open the printed address on your computer. Ctrl-C stops the server."
        ),
        examples=[
            "actionkit annotate videos/ --labels walk,wave,fall",
            "actionkit annotate videos/ --labels-file labels.txt --no-browser --port 9000",
            "actionkit annotate videos/ --suggest runs/a/model.pt",
            "actionkit annotate videos/ --import via_project.json",
            "actionkit annotate videos/ --export labels.csv --format csv",
        ],
    )  # fmt: skip
    p.add_argument("video_dir", metavar="VIDEO_DIR", help="the folder of videos to label")
    labels = p.add_mutually_exclusive_group()
    labels.add_argument(
        "--labels", metavar="A,B,C", help="labels to offer, comma-separated (added to the file's)"
    )
    labels.add_argument(
        "--labels-file", metavar="FILE", help="labels to offer, one a line ('#' starts a comment)"
    )
    p.add_argument(
        "--port", type=int_at_least(1, 65535), metavar="P",
        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}, or the next free one)",
    )  # fmt: skip
    p.add_argument("--no-browser", action="store_true", help="print the address only")
    p.add_argument(
        "--suggest", metavar="MODEL_FILE",
        help="a trained model whose segments are proposed, to accept, adjust or reject",
    )  # fmt: skip
    p.add_argument(
        "--min-score", type=unit_float, default=0.5, metavar="P",
        help="with --suggest: the smallest score of the model's windows that proposes a "
        "segment (default 0.5; lower shows more, less certain proposals)",
    )  # fmt: skip
    p.add_argument(
        "--proxy-dir", metavar="DIR",
        help="where H.264 copies of unplayable videos are cached "
        "(default $ACTIONKIT_CACHE/proxies or ~/.cache/actionkit/proxies)",
    )  # fmt: skip
    p.add_argument("--user", metavar="NAME", help="author name of new segments (default: login)")
    p.add_argument(
        "--import", dest="import_file", metavar="FILE",
        help="first add the segments of FILE (a VIA 3 project or CSV export, a CSV "
        "video,start,end,label, another annotations.json) to VIDEO_DIR/annotations.json",
    )  # fmt: skip
    p.add_argument(
        "--export", metavar="FILE",
        help="write VIDEO_DIR/annotations.json to FILE in --format and exit (no server)",
    )  # fmt: skip
    p.add_argument(
        "--format", choices=EXPORT_FORMATS, default="via3-json",
        help="--export's format: a VIA 3 project (default), VIA 3's temporal-segments CSV or "
        "full CSV, a CSV video,start,end,label, or our own JSON",
    )  # fmt: skip


def _labels(args: argparse.Namespace) -> list[str]:
    if args.labels is not None:
        return [x.strip() for x in args.labels.split(",") if x.strip()]
    if args.labels_file is None:
        return []
    try:
        text = Path(args.labels_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"--labels-file {args.labels_file}: cannot read it ({reason})") from None
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def _run_annotate(args: argparse.Namespace) -> int:
    folder = Path(args.video_dir)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"VIDEO_DIR {folder} {what}")
    labels = _labels(args)
    if args.suggest is not None:
        need_path(args.suggest, "--suggest MODEL_FILE")
    if args.import_file is not None:
        need_path(args.import_file, "--import FILE")
    if args.export is not None:
        return _export(folder, Path(args.export), args.format)

    from actionkit.annotate.annotations import AnnotationError
    from actionkit.annotate.server import AnnotationServer

    try:
        server = AnnotationServer(
            folder, labels=labels, suggest_model=args.suggest, proxy_dir=args.proxy_dir,
            user=args.user, suggest_min_score=args.min_score,
        )  # fmt: skip
    except AnnotationError as exc:
        if str(exc).startswith("labels: "):  # a bad label given here, not a bad file
            option = "--labels" if args.labels is not None else "--labels-file"
            raise UsageError(f"{option}: {str(exc).removeprefix('labels: ')}") from None
        raise
    if args.import_file is not None:
        _import(server.annotations_path, Path(args.import_file), folder)
    _start(server, args.port)
    if not server.videos:
        print(f"no videos in {server.video_dir} yet (reload the page when there are)", flush=True)
    else:
        print(f"annotating {len(server.videos)} videos in {server.video_dir}", flush=True)
    print(
        f"on a remote machine, run `ssh -L {server.port}:127.0.0.1:{server.port} HOST` on your "
        "computer and open the address there; Ctrl-C stops the server",
        flush=True,
    )
    print(f"open {server.url}", flush=True)
    if not args.no_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    _report(server.annotations_path)
    return 0


def _report(path: Path) -> None:
    """Where the annotations are, and how many."""
    from actionkit.annotate.annotations import load_annotations

    if not path.exists():
        print(f"no annotations saved ({path} was not written)", flush=True)
        return
    annotations = load_annotations(path)
    videos = sum(bool(v.segments) for v in annotations.videos.values())
    print(
        f"annotations are in {path}: {annotations.num_segments()} segments in {videos} videos",
        flush=True,
    )


def _import(path: Path, source: Path, folder: Path) -> None:
    """Add the segments of ``source`` to the folder's annotation file (a video missing from the
    folder is skipped with a warning)."""
    from actionkit.annotate.annotations import load_annotations, save_annotations
    from actionkit.annotate.formats import read_annotations

    imported = read_annotations(source, videos=folder, on_missing="skip")
    annotations = load_annotations(path)
    labels_before = list(annotations.labels)
    added = annotations.merge(imported)
    if added or annotations.labels != labels_before:
        save_annotations(path, annotations, expected_revision=annotations.revision)
    print(
        f"imported {added} new segments from {source} "
        f"({imported.num_segments() - added} were there already)",
        flush=True,
    )


def _export(folder: Path, out: Path, fmt: str) -> int:
    """Write the folder's annotations to ``out`` in ``fmt``."""
    from actionkit.annotate.annotations import ANNOTATIONS_FILE, load_annotations
    from actionkit.annotate.formats import write_annotations

    path = folder / ANNOTATIONS_FILE
    if not path.is_file():
        raise UsageError(f"{path} does not exist: nothing to export (label some videos first)")
    if out.is_dir() or not out.parent.is_dir():
        raise UsageError(f"--export {out}: give a file in an existing folder")
    annotations = load_annotations(path)
    write_annotations(annotations, out, fmt)
    print(f"wrote {annotations.num_segments()} segments to {out} ({fmt})", flush=True)
    return 0


def _start(server, port: int | None) -> None:
    """Start ``server`` on ``port``, or on the first free port from :data:`DEFAULT_PORT`."""
    from actionkit.annotate.server import port_in_use

    ports = [port] if port is not None else range(DEFAULT_PORT, DEFAULT_PORT + _PORTS_TRIED)
    for candidate in ports:
        server.port = candidate
        try:
            server.start()
        except OSError as exc:
            if not port_in_use(exc):
                raise
            continue
        if port is None and candidate != DEFAULT_PORT:
            print(f"port {DEFAULT_PORT} is taken: using {candidate}", flush=True)
        return
    if port is not None:
        raise UsageError(
            f"--port {port} is in use (another server?): choose another port, or leave "
            f"--port out to take the first free one from {DEFAULT_PORT}"
        )
    raise UsageError(f"ports {DEFAULT_PORT} to {ports[-1]} are all in use: choose one with --port")


COMMANDS = (_add_annotate,)
