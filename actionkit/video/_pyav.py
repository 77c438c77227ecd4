"""PyAV decoding backend: exact frame access from a packet table, one seek per clip.

The frame table comes from the demuxed packets (reading packets costs no decoding: ~5 ms for
300 frames). How a packet maps to a frame index depends on whether its timestamps can be trusted:

* ``pts`` mode (MP4, MOV, MKV, WebM, MPEG-PS/TS, most AVIs): frame ``i`` is the packet with the
  ``i``-th smallest pts. Decoded frames are identified by their pts, so every read checks the
  table as it goes: each frame must be in it, in order, and no wanted frame may be missing.
* ``order`` mode (packets without unique pts, and AVIs whose first decoded frames do not carry
  the table's pts: AVI stores no presentation times, FFmpeg derives them, and with DivX "packed
  B-frames" the decoded frames' labels come out permuted, as in the MPEG-4 AVI of the test data):
  frame ``i`` is the ``i``-th frame the decoder outputs; a keyframe's index is the number of
  packets before it. Checked where the seek lands and, when a read reaches the end, by the count.

If a read finds that the table does not match what the decoder produces, the reader falls back,
for this file, to ``sequential`` mode: it decodes the whole file once to count the frames and
from then on decodes from the start. Slow, but exact; it is logged as a warning. None of the
test corpus needs it.

Speed: reads seek to the keyframe at or before the first wanted frame and decode forward, with
``skip_frame=NONREF`` for packets that are not wanted: frames no other frame refers to (most
B-frames) are then not decoded at all. 16-frame clips of the 340x256 x264 file: 71 instead of
112 ms of CPU per clip.

A truncated file ends in a cut packet (flagged corrupt): it is dropped from the table, and a
packet FFmpeg rejects while decoding is skipped, as the ``ffmpeg`` tool does.
"""

from __future__ import annotations

import bisect
import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import av
import numpy as np

from actionkit.video._types import VideoInfo, VideoReadError

log = logging.getLogger("actionkit.video")

# Containers whose packet timestamps may not be presentation times (see the module docstring):
# there the first _CHECK_FRAMES decoded frames must carry the table's pts, else order mode.
_SUSPECT_FORMATS = {"avi"}
_CHECK_FRAMES = 8

# Decoder threads: 1. In a DataLoader every worker runs its own reader and the cores are busy,
# so what counts is CPU time per clip, and threads only add hand-off work (and, frame threading,
# a frame of delay per thread after every seek). Measured CPU per 16-frame random clip (2-core
# AMD EPYC VM): 340x256 H.264 76 ms with 1 thread vs 83 (slice, auto count), 88 (frame, 2),
# 103 (frame, auto), 106 (frame+slice, auto); intra-only MJPEG 7.8 ms vs 7.9-10.0.
_THREAD_COUNT = 1

# When the next wanted frame lies past a keyframe, seek to that keyframe if that skips more than
# this many frames; closer than that, decoding through is cheaper than a seek and decoder flush.
_RESEEK_GAP = 4


class _TableMismatch(Exception):
    """The packet table does not describe what the decoder outputs."""


def _reason(exc: BaseException) -> str:
    """A short description of a PyAV/FFmpeg error for VideoReadError."""
    if isinstance(exc, av.FFmpegError):
        text = exc.strerror or str(exc)
        if isinstance(exc, av.error.InvalidDataError):
            return f"not a video file FFmpeg can read ({text})"
        return text
    return f"{type(exc).__name__}: {exc}"


def _open_container(path: str) -> av.container.InputContainer:
    try:
        return av.open(path, metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError, UnicodeError) as exc:
        reason = _reason(exc)
        if isinstance(exc, av.error.InvalidDataError):
            with open(path, "rb") as f:
                if f.read(12)[4:8] == b"ftyp":
                    reason = "MP4/MOV without its index (moov atom): truncated or being written"
        raise VideoReadError(path, reason) from exc


class PyAVReader:
    """The PyAV backend's reader; see :class:`actionkit.video.VideoReader` for the interface."""

    name = "pyav"

    def __init__(self, path: str) -> None:
        self.path = path
        self._container = _open_container(path)
        try:
            self._init_stream()
            self._scan()
            first = self._check_start()
            self.info = self._make_info(first)
        except BaseException:
            self._container.close()
            raise

    # -- opening ------------------------------------------------------------------------------
    def _init_stream(self) -> None:
        streams = self._container.streams
        if not streams.video:
            kinds = sorted({s.type for s in streams if s.type})
            only = f" (it holds only {', '.join(kinds)})" if kinds else ""
            raise VideoReadError(self.path, f"no video stream{only}")
        self._stream = stream = streams.video[0]
        ctx = stream.codec_context
        if ctx is None:
            raise VideoReadError(self.path, "FFmpeg has no decoder for its video codec")
        ctx.thread_type = "SLICE"
        ctx.thread_count = _THREAD_COUNT

    def _scan(self) -> None:
        """Read all packets of the video stream (no decoding) and build the frame table."""
        pts: list[int | None] = []
        dts: list[int | None] = []
        durations: list[int] = []
        keys: list[bool] = []
        corrupt: list[bool] = []
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0 or packet.is_discard:  # end-of-stream flush / edit-list cut
                    continue
                pts.append(packet.pts)
                dts.append(packet.dts)
                durations.append(packet.duration or 0)
                keys.append(packet.is_keyframe)
                corrupt.append(packet.is_corrupt)
        except (av.FFmpegError, OSError) as exc:  # damaged tail: keep what could be read
            log.debug("%s: packet scan stopped early (%s)", self.path, _reason(exc))
        while corrupt and corrupt[-1]:  # a truncated file ends in a cut packet: it won't decode
            for column in (pts, dts, durations, keys, corrupt):
                column.pop()
        claimed = self._stream.frames
        if claimed and len(pts) < claimed and self._container.format.name.startswith("mov"):
            log.warning("%s: truncated? Its index lists %d frames, %d are in the file",
                        self.path, claimed, len(pts))  # fmt: skip
        if not pts:
            raise VideoReadError(self.path, "the video stream holds no frames")
        self._num_frames = len(pts)
        self._packets = (pts, dts, durations, keys)
        self.last_duration = 0
        self._span = 0
        if None not in pts and len(set(pts)) == len(pts):
            self._use_pts_table()
        else:
            self._use_order_table()

    def _use_pts_table(self) -> None:
        """Frame i = the packet with the i-th smallest pts."""
        pts, dts, durations, keys = self._packets
        order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
        self._pts = np.asarray(pts, dtype=np.int64)[order]
        self._index_of = {int(p): i for i, p in enumerate(self._pts)}
        key_packets = sorted((self._index_of[pts[j]], j) for j in range(len(pts)) if keys[j])
        self._keys = [i for i, _ in key_packets]
        # seek by pts first (MKV indexes keyframes by pts), by dts if that lands too late (TS)
        self._seek_ts = [[pts[j]] if dts[j] is None else [pts[j], dts[j]] for _, j in key_packets]
        self._key_of = {pts[j]: k for k, (_, j) in enumerate(key_packets)}
        self.last_duration = durations[int(order[-1])]
        self._span = int(self._pts[-1] - self._pts[0]) + self.last_duration
        self.mode = "pts"

    def _use_order_table(self) -> None:
        """Frame i = the i-th frame the decoder outputs; a keyframe's index = packets before it.

        That index is wrong for an open-GOP keyframe (later packets displayed before it, which
        the decoder drops after a seek), so keyframes followed by a packet with a smaller pts
        are not used as seek points.
        """
        pts, dts, _, keys = self._packets
        later_min = [float("inf")] * (len(pts) + 1)
        for j in range(len(pts) - 1, -1, -1):
            later_min[j] = min(later_min[j + 1], pts[j] if pts[j] is not None else float("inf"))
        self._keys, self._seek_ts, self._key_of = [], [], {}
        for j, is_key in enumerate(keys):
            ts = dts[j] if dts[j] is not None else pts[j]
            closed = j == 0 or pts[j] is None or later_min[j + 1] > pts[j]
            if is_key and closed and ts is not None and ts not in self._key_of:
                self._key_of[ts] = len(self._keys)
                self._keys.append(j)
                self._seek_ts.append([ts])
        self.mode = "order"

    def _check_start(self) -> av.VideoFrame:
        """Decode the first frames: proves the stream decodes and checks the table's start.

        In formats whose timestamps are suspect (AVI) the first frames' pts must match the
        table in order, else the frame order is taken from the decoder (order mode).
        """
        self._rewind()
        count = _CHECK_FRAMES if self._container.format.name in _SUSPECT_FORMATS else 1
        decoded: list[int | None] = []
        first = None
        try:
            for frame in _decode(self._container.demux(self._stream)):
                first = first or frame
                decoded.append(frame.pts)
                if len(decoded) >= min(count, self._num_frames):
                    break
        except (av.FFmpegError, OSError) as exc:
            if first is None:
                raise VideoReadError(self.path, f"it cannot be decoded ({_reason(exc)})") from exc
        if first is None:
            raise VideoReadError(self.path, "no frame of its video stream can be decoded")
        if self.mode == "pts" and decoded != self._pts[: len(decoded)].tolist():
            log.debug("%s: decoded pts %s, packet table %s", self.path, decoded, self._pts[:8])
            self._use_order_table()
            if not self._keys or self._keys[0] != 0:
                self._to_sequential()
        return first

    def _make_info(self, first: av.VideoFrame) -> VideoInfo:
        stream = self._stream
        rate = stream.average_rate or stream.guessed_rate
        duration = float(self._span * stream.time_base) if self._span > 0 else 0.0
        fps = float(rate) if rate else (self._num_frames / duration if duration else 0.0)
        if duration <= 0 and fps > 0:
            duration = self._num_frames / fps
        return VideoInfo(
            path=self.path,
            num_frames=self._num_frames,
            fps=fps,
            duration=duration,
            width=first.width,
            height=first.height,
            codec=stream.codec_context.name,
            backend=self.name,
        )

    @property
    def container_format(self) -> str:
        """FFmpeg's name for the container format (``"avi"``, ``"matroska,webm"``...)."""
        return self._container.format.name

    def frame_table(self) -> tuple[np.ndarray, np.ndarray, float] | None:
        """``(pts of frame i, keyframe indices, time base)`` in pts mode, else ``None``."""
        if self.mode != "pts":
            return None
        return self._pts, np.asarray(self._keys), float(self._stream.time_base)

    # -- reading ------------------------------------------------------------------------------
    def decode(self, indices: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
        h, w = size or (self.info.height, self.info.width)
        out = np.empty((len(indices), h, w, 3), dtype=np.uint8)
        wanted = [int(i) for i in indices]
        try:
            try:
                self._read_sorted(wanted, out, size)
            except _TableMismatch as exc:
                if self.mode == "sequential":
                    raise VideoReadError(self.path, f"decoding failed ({exc})") from None
                log.warning(
                    "%s: the %s-mode frame table does not match the decoder (%s); decoding "
                    "this file from its start from now on",
                    self.path, self.mode, exc,
                )  # fmt: skip
                self._to_sequential()
                if wanted[-1] >= self._num_frames:
                    raise IndexError(wanted[-1]) from None
                self._read_sorted(wanted, out, size)
        except (av.FFmpegError, OSError) as exc:
            raise VideoReadError(self.path, f"decoding failed ({_reason(exc)})") from exc
        finally:
            self._stream.codec_context.skip_frame = "DEFAULT"
        return out

    def _read_sorted(self, wanted: list[int], out: np.ndarray, size) -> None:
        """Fill ``out`` with the frames at sorted, unique ``wanted``: one seek per run of frames."""
        wanted_pts = {int(self._pts[i]) for i in wanted} if self.mode == "pts" else set()
        pos = 0
        while pos < len(wanted):
            key, packets = self._seek(self._key_before(wanted[pos]))
            if self.mode == "pts":
                frames = self._pts_frames(key, packets, wanted_pts)
            elif self.mode == "order":
                frames = self._order_frames(key, packets)
            else:
                frames = enumerate(_decode(packets))
            for i, frame in frames:
                if i < wanted[pos]:
                    continue
                if i > wanted[pos]:
                    raise _TableMismatch(f"frame {wanted[pos]} was never decoded")
                out[pos] = _to_rgb(frame, size)
                pos += 1
                if pos == len(wanted):
                    return
                nxt = self._key_before(wanted[pos])
                if nxt > key and self._keys[nxt] - i > _RESEEK_GAP:
                    break  # seeking to a later keyframe skips enough decoding to pay off
            else:
                raise _TableMismatch(f"the stream ended before frame {wanted[pos]}")

    def _key_before(self, index: int) -> int:
        """Position in ``_keys`` of the last keyframe at or before frame ``index``."""
        return max(bisect.bisect_right(self._keys, index) - 1, 0)

    def _seek(self, key: int) -> tuple[int, Iterator[av.Packet]]:
        """Seek to keyframe ``key`` (a position in ``_keys``), or an earlier one.

        Returns the keyframe landed on and the packets from there. Demuxers seek by different
        timestamps (MKV by pts, MP4 and AVI by dts, MPEG-TS lands after the keyframe when asked
        for its pts), so the first packet is checked and other targets are tried.
        """
        if self.mode != "sequential":
            for k in range(key, max(key - 2, 0), -1):
                for ts in self._seek_ts[k]:
                    self._container.seek(ts, backward=True, stream=self._stream)
                    packets = self._container.demux(self._stream)
                    for packet in packets:
                        if packet.size and not packet.is_discard:
                            break
                    else:
                        continue
                    ident = packet.pts if self.mode == "pts" else _ts(packet)
                    landed = self._key_of.get(ident)
                    if landed is not None and landed <= key:
                        return landed, itertools.chain([packet], packets)
        self._rewind()
        return 0, self._container.demux(self._stream)

    def _rewind(self) -> None:
        if self.mode != "sequential":
            try:
                self._container.seek(0, backward=True, stream=self._stream)
                return
            except av.FFmpegError:
                pass
        # start over: the only way back to the start that works for every file
        self._container.close()
        self._container = _open_container(self.path)
        self._init_stream()

    def _pts_frames(self, key: int, packets, wanted_pts: set[int]) -> Iterator[tuple[int, Any]]:
        """(index, frame) decoded from keyframe ``key`` on, checked against the table."""
        ctx = self._stream.codec_context
        start_pts = self._pts[self._keys[key]]
        last = -1
        for packet in packets:
            # Frames that no other frame refers to (most B-frames) need no decoding unless
            # wanted: skipping them halves the work on x264 files.
            skip = packet.pts is not None and packet.pts not in wanted_pts
            ctx.skip_frame = "NONREF" if skip else "DEFAULT"
            for frame in _decode_packet(packet):
                i = self._index_of.get(frame.pts)
                if i is None:
                    if frame.pts is not None and frame.pts < start_pts:
                        continue  # open-GOP leading frame, belongs before this keyframe
                    raise _TableMismatch(f"decoded a frame with pts {frame.pts}, not in the table")
                if i <= last:
                    raise _TableMismatch(f"frame {i} decoded after frame {last}")
                last = i
                yield i, frame

    def _order_frames(self, key: int, packets) -> Iterator[tuple[int, Any]]:
        """(index, frame) decoded from keyframe ``key`` on, counted in output order."""
        i = self._keys[key] - 1
        for frame in _decode(packets):
            i += 1
            yield i, frame
        if i != self._num_frames - 1:
            raise _TableMismatch(f"decoded {i + 1} frames, the table has {self._num_frames}")

    def _to_sequential(self) -> None:
        """Count the frames by decoding them all; from now on decode from the start."""
        self.mode = "sequential"
        self._keys = [0]
        self._rewind()
        count = sum(1 for _ in _decode(self._container.demux(self._stream)))
        if count == 0:
            raise VideoReadError(self.path, "no frame of its video stream can be decoded")
        if hasattr(self, "info") and count != self.info.num_frames:
            log.warning("%s: %d decodable frames, not %d", self.path, count, self.info.num_frames)
            self.info = replace(self.info, num_frames=count)
        self._num_frames = count

    def close(self) -> None:
        self._container.close()


def _ts(packet: av.Packet) -> int | None:
    return packet.dts if packet.dts is not None else packet.pts


def _decode(packets: Iterable[av.Packet]) -> Iterator[Any]:
    for packet in packets:
        yield from _decode_packet(packet)


def _decode_packet(packet: av.Packet) -> list[Any]:
    """Frames out of one packet; a packet FFmpeg rejects as invalid is skipped, as ffmpeg does."""
    try:
        return packet.decode()
    except av.error.InvalidDataError as exc:
        log.debug("skipping an undecodable packet (pts %s): %s", packet.pts, exc)
        return []


def _to_rgb(frame: av.VideoFrame, size: tuple[int, int] | None) -> np.ndarray:
    # threads=1: PyAV's default (0) starts a swscale thread pool per conversion.
    if size is None:
        return frame.to_ndarray(format="rgb24", threads=1)
    h, w = size
    return frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="BILINEAR", threads=1)
