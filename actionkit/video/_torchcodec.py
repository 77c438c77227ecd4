"""TorchCodec decoding backend, checked frame by frame against the PyAV frame table.

TorchCodec needs FFmpeg's shared libraries from the system. Without them ``import torchcodec``
still works and only creating a decoder fails, so :func:`is_available` decodes a tiny in-memory
clip once per process and caches the answer.

TorchCodec 0.17 (with the system's FFmpeg 5.1) was measured against sequential decoding on the
test corpus: exact, to the bit, on MP4/MOV and Matroska/WebM, but on AVI files with B-frames it
fails on the last frame and returns wrong frames for unsorted index sets, on MPEG-TS every frame
is 12 frames off, and on MPEG-PS the last frame fails. So this backend:

* opens the file with the PyAV reader first (its packet scan gives the frame table, the checks
  and the :class:`VideoInfo`; a scan costs a few milliseconds, decoding a clip ~100),
* uses TorchCodec (exact seek mode: its own packet scan) only for the containers where it is
  exact, and only if it counts the same frames as the PyAV table,
* checks the pts of every frame TorchCodec returns against the table,
* and decodes with PyAV where TorchCodec is not trusted, fails or returns the wrong frame.

Speed, measured here (2-core VM, CPU time per 16-frame random clip, whole open+read+close):
TorchCodec 110 ms vs PyAV 67 ms on 340x256 H.264 (PyAV skips decoding unwanted non-reference
frames), 9.1 vs 6.9 ms on intra-only MJPEG, and with short_side=128 on a 1360x1024 H.264 file
351 vs 183 ms (TorchCodec 0.17's Resize transform costs ~4 ms a frame, swscale in PyAV ~1).

(``custom_frame_mappings`` would save TorchCodec's scan, but in 0.17 the decoder's metadata then
ignores the mappings: ``len(decoder)`` is the header's estimate, 79 instead of 60 frames for a
variable-frame-rate MKV.)
"""

from __future__ import annotations

import io
import logging
from dataclasses import replace

import numpy as np

from actionkit.video._pyav import PyAVReader
from actionkit.video._types import VideoInfo

log = logging.getLogger("actionkit.video")

# FFmpeg format names where TorchCodec's frames were verified exact (see the module docstring).
_TRUSTED_FORMATS = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"}

# One decoding thread per reader: in a DataLoader every worker has its own reader. Measured CPU
# per 16-frame random clip (2-core VM, whole reader: PyAV table + TorchCodec decode):
# num_ffmpeg_threads=1 118 ms vs 130 ms with 0 (FFmpeg's choice) on the 340x256 H.264 file,
# 10.3 vs 12.8 ms on intra-only MJPEG. (See _video_pyav for PyAV's figures.)
_THREADS = 1

_unavailable: str | None = None  # why TorchCodec does not work here ("" once it was found to work)


def is_available() -> bool:
    """Whether TorchCodec can decode here (checked once per process)."""
    global _unavailable
    if _unavailable is None:
        _unavailable = _check()
        if _unavailable:
            log.debug("TorchCodec is not used: %s; decoding with PyAV", _unavailable)
    return not _unavailable


def unavailable_reason() -> str:
    """Why :func:`is_available` is false ("" when it is true)."""
    is_available()
    return _unavailable or ""


def _check() -> str:
    try:
        from torchcodec.decoders import VideoDecoder

        decoder = VideoDecoder(_tiny_clip(), seek_mode="exact", device="cpu")
        decoder.get_frames_at([0, 1])
        del decoder
    except Exception as exc:  # OSError/RuntimeError without FFmpeg libs, ImportError...
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
    return ""


def _tiny_clip() -> bytes:
    """A 2-frame 16x16 MPEG-4 clip in Matroska, made in memory with PyAV."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for value in (0, 128):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), value, np.uint8), "rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


class TorchCodecReader:
    """The TorchCodec backend's reader; see :class:`actionkit.video.VideoReader`."""

    name = "torchcodec"

    def __init__(self, path: str) -> None:
        self.path = path
        self._pyav = PyAVReader(path)  # raises VideoReadError for bad files
        table = self._pyav.frame_table()
        fmt = self._pyav.container_format
        self._decoders: dict[tuple[int, int] | None, object] = {}
        self._table = table
        if table is None or fmt not in _TRUSTED_FORMATS:
            why = "its timestamps are not trusted" if table is None else f"format {fmt!r}"
            self._fall_back(f"TorchCodec is not exact for {why}")
            return
        # TorchCodec decoders are created at the first read, one per output size (its resizing
        # is a decoder option): a DataLoader item reads once, usually with short_side set.
        self._info = replace(self._pyav.info, backend=self.name)

    @property
    def info(self) -> VideoInfo:
        return self._pyav.info if self._table is None else self._info

    def _fall_back(self, why: str) -> None:
        log.debug("%s: decoding with PyAV: %s", self.path, why)
        self._table = None
        self._decoders.clear()

    def _decoder(self, size: tuple[int, int] | None):
        decoder = self._decoders.get(size)
        if decoder is None:
            from torchcodec.decoders import VideoDecoder
            from torchcodec.transforms import Resize

            decoder = VideoDecoder(
                self.path,
                dimension_order="NHWC",
                num_ffmpeg_threads=_THREADS,
                device="cpu",
                seek_mode="exact",
                transforms=[Resize(size)] if size else None,
            )
            if len(decoder) != len(self._table[0]):
                raise RuntimeError(f"it counts {len(decoder)} frames, PyAV {len(self._table[0])}")
            self._decoders[size] = decoder
        return decoder

    def decode(self, indices: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
        if self._table is None:
            return self._pyav.decode(indices, size)
        pts, _, time_base = self._table
        h, w = size or (self.info.height, self.info.width)
        out = np.empty((len(indices), h, w, 3), dtype=np.uint8)
        try:
            decoder = self._decoder(size)
            # Frame by frame rather than get_frames_at(): TorchCodec decodes sorted indices the
            # same way (one seek per GOP), but its batch copies go through torch's intra-op
            # threads: 300 frames took 0.52 s with 1 torch thread and 2.9 s with 2 on this
            # machine, against 0.28 s for this loop either way.
            for j, index in enumerate(indices.tolist()):
                frame = decoder.get_frame_at(index)
                if abs(frame.pts_seconds - pts[index] * time_base) > 0.5 * time_base:
                    raise RuntimeError(
                        f"asked for frame {index} at {pts[index] * time_base:.4f}s, "
                        f"got the frame at {frame.pts_seconds:.4f}s"
                    )
                out[j] = frame.data.numpy()
            return out
        except Exception as exc:
            self._fall_back(f"TorchCodec failed to decode it ({exc})")
            return self._pyav.decode(indices, size)

    def close(self) -> None:
        self._decoders.clear()
        self._pyav.close()
