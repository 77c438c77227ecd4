"""``actionkit live``: predictions on a camera, a stream or a file as it plays."""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from pathlib import Path

from actionkit.cli._common import (
    UsageError,
    add_command,
    int_at_least,
    load_model_file,
    positive_float,
    unit_float,
)


def _add_live(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub, common, "live", _run_live,
        help="predict on a camera, a stream or a video file as it plays",
        description=(
            "Run MODEL_FILE on the newest frames of --source: a camera index (0), an RTSP/HTTP "
            "URL or a video file (played at its own frame rate unless --as-fast-as-possible). "
            "Events (a label held at least --min-event seconds) are printed as they end; "
            "--out writes the source with the label drawn on every frame, --events a CSV. At "
            "the end (the file ends, --max-seconds, or Ctrl-C) one line of statistics."
        ),
        examples=[
            "actionkit live runs/demo/model.pt --source 0 --smooth 5",
            "actionkit live runs/a/model.pt --source rtsp://127.0.0.1:8554/cam --labels fall,wave",
            "actionkit live runs/a/model.pt --source clip.mp4 --out annotated.mp4 "
            "--events events.csv",
        ],
    )  # fmt: skip
    p.add_argument("model", metavar="MODEL_FILE", help="a model.pt written by training")
    p.add_argument("--source", default="0", help="camera index, URL or video file (default 0)")
    p.add_argument("--top-k", type=int_at_least(1), default=5, metavar="K")
    p.add_argument("--smooth", type=int_at_least(1), default=5, metavar="N",
                   help="smooth scores over the last N predictions (default 5)")  # fmt: skip
    p.add_argument("--smoothing", choices=("mean", "ema"), default="mean")
    p.add_argument("--threshold", type=unit_float, default=0.0, metavar="P",
                   help="a label needs at least this smoothed score (default 0)")  # fmt: skip
    p.add_argument("--labels", metavar="A,B", help="only these classes make events")
    p.add_argument("--min-event", type=positive_float, default=1.0, metavar="SECONDS",
                   help="shortest event (default 1 s)")  # fmt: skip
    p.add_argument("--out", metavar="VIDEO", help="write the annotated source video here")
    p.add_argument("--events", metavar="CSV", help="write the events here")
    p.add_argument("--max-seconds", type=positive_float, metavar="S", help="stop after S s")
    p.add_argument(
        "--runtime",
        choices=("auto", "torch", "onnx"),
        default="auto",
        help="auto: ONNX Runtime on a CPU where installed (5-6x faster), else PyTorch",
    )
    p.add_argument(
        "--as-fast-as-possible",
        action="store_true",
        help="read a file source as fast as it decodes, not at its frame rate",
    )


def _run_live(args: argparse.Namespace) -> int:
    for option in ("out", "events"):
        target = getattr(args, option)
        if target and not Path(target).resolve().parent.is_dir():
            raise UsageError(
                f"--{option} {target}: the folder {Path(target).parent} does not exist"
            )
    model = load_model_file(args.model)
    labels = [x.strip() for x in args.labels.split(",") if x.strip()] if args.labels else None
    from actionkit.inference.live import LivePredictor

    source = int(args.source) if args.source.isdigit() else args.source
    writer = _AnnotatedWriter(args.out) if args.out else None
    try:
        live = LivePredictor(
            model, source, top_k=args.top_k, smooth=args.smooth, smoothing=args.smoothing,
            threshold=args.threshold, labels=labels, min_event=args.min_event,
            realtime=not args.as_fast_as_possible, runtime=args.runtime,
            on_frame=writer.put if writer is not None else None,
        )  # fmt: skip
    except ValueError as error:
        raise UsageError(str(error)) from None
    live.on_event(lambda event: print(f"event: {event}", flush=True))
    if writer is not None:
        writer.live = live
    interrupted = False
    live.start()
    try:
        deadline = time.monotonic() + args.max_seconds if args.max_seconds else None
        while not live.wait(0.2):
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        live.stop()
        if writer is not None:
            writer.close()
        if args.events:
            _write_events(args.events, live.events)
    print(f"stats: {live.stats}", file=sys.stderr)
    if live.error is not None and not interrupted:
        raise live.error
    return 130 if interrupted else 0


def _write_events(path: str, events) -> None:
    import csv
    import io

    from actionkit.utils.atomic import write_text

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["label", "start", "end", "duration", "score"])
    for e in events:
        writer.writerow(
            [e.label, f"{e.start:.3f}", f"{e.end:.3f}", f"{e.duration:.3f}", f"{e.score:.4f}"]
        )
    write_text(path, buffer.getvalue())


class _AnnotatedWriter:
    """Every source frame, with the newest label drawn, encoded in its own thread."""

    def __init__(self, path: str) -> None:
        self.path, self.live = path, None
        self._frames: queue.Queue = queue.Queue(maxsize=128)
        self._thread = threading.Thread(target=self._write, daemon=True)
        self.error: BaseException | None = None

    def put(self, frame) -> None:
        if self._thread.ident is None:  # the first frame: the source is open, its fps known
            self._thread.start()
        self._frames.put(frame.image)  # blocks when the encoder lags: every frame is written

    def _annotated(self):
        from actionkit.inference.live import resize_frame
        from actionkit.inference.overlay import draw_label

        size = None
        while (image := self._frames.get()) is not None:
            result = self.live.latest if self.live is not None else None
            text = "…" if result is None else f"{result.top[0][0]} {result.top[0][1]:.2f}"
            size = size or image.shape[:2]
            yield draw_label(resize_frame(image, size), text)  # the video keeps its first size

    def _write(self) -> None:
        from actionkit.video import write_video

        try:
            fps = getattr(getattr(self.live, "source", None), "fps", None)
            write_video(self.path, self._annotated(), fps=fps or 25.0)
        except BaseException as error:
            self.error = error

    def close(self) -> None:
        if self._thread.ident is not None:
            self._frames.put(None)
            self._thread.join()
        if self.error is not None:
            raise self.error


COMMANDS = (_add_live,)
