"""Video files: read frames by index, exactly; write; transcode.

* :func:`open_video` / :class:`VideoReader` (:mod:`~actionkit.video.reader`): metadata and the
  frames at given indices, frame-exact, over PyAV (default) or TorchCodec;
* :func:`write_video` (:mod:`~actionkit.video.encode`): encode frames, atomically;
* :func:`transcode_video` (:mod:`~actionkit.video.transcode`): one file to a small, fast-seeking
  copy with the same frames;
* :func:`open_source` / :class:`FrameSource` / :class:`PushSource`
  (:mod:`~actionkit.video.stream`): live frames from a camera, a stream, a file played in real
  time, or pushed from another thread, as :class:`Frame`; :class:`SourceError`;
* :func:`is_video_file`, :class:`VideoInfo`, :class:`VideoReadError`
  (:mod:`~actionkit.video._types`).
"""

from actionkit.video._types import VIDEO_EXTENSIONS, VideoInfo, VideoReadError, is_video_file
from actionkit.video.encode import write_video
from actionkit.video.reader import VideoReader, available_backends, open_video, probe, read_frames
from actionkit.video.stream import Frame, FrameSource, PushSource, SourceError, open_source
from actionkit.video.transcode import TranscodeError, transcode_video

__all__ = [
    "VIDEO_EXTENSIONS",
    "Frame",
    "FrameSource",
    "PushSource",
    "SourceError",
    "TranscodeError",
    "VideoInfo",
    "VideoReadError",
    "VideoReader",
    "available_backends",
    "is_video_file",
    "open_source",
    "open_video",
    "probe",
    "read_frames",
    "transcode_video",
    "write_video",
]
