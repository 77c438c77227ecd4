"""Label your own videos: the annotation file, VIA 3 / CSV import and export, clips from
segments, and the local annotation server with its page.

* :mod:`~actionkit.annotate.annotations`: ``annotations.json`` (:class:`Annotations`,
  :func:`load_annotations`, :func:`save_annotations`);
* :mod:`~actionkit.annotate.formats`: :func:`read_annotations` of any supported file (ours, VIA 3
  project JSON and CSV exports, a plain ``video,start,end,label`` CSV), :func:`write_annotations`;
* :mod:`~actionkit.annotate.clips`: :func:`cut_clips`, segments to a folder-per-class dataset with
  split files grouped by source video;
* :mod:`~actionkit.annotate.server`: :class:`AnnotationServer`, the page behind
  ``actionkit annotate`` (with :mod:`~actionkit.annotate.proxy` and
  :mod:`~actionkit.annotate.suggest`).

Names load on first use, so importing this package is cheap.
"""

from typing import TYPE_CHECKING

from actionkit.utils.lazy import lazy_exports

_EXPORTS = {
    "ANNOTATIONS_FILE": "actionkit.annotate.annotations",
    "AnnotationError": "actionkit.annotate.annotations",
    "Annotations": "actionkit.annotate.annotations",
    "Segment": "actionkit.annotate.annotations",
    "StaleRevisionError": "actionkit.annotate.annotations",
    "VideoAnnotation": "actionkit.annotate.annotations",
    "load_annotations": "actionkit.annotate.annotations",
    "save_annotations": "actionkit.annotate.annotations",
    "read_annotations": "actionkit.annotate.formats",
    "write_annotations": "actionkit.annotate.formats",
    "cut_clips": "actionkit.annotate.clips",
    "AnnotationServer": "actionkit.annotate.server",
}

__all__ = [
    "ANNOTATIONS_FILE",
    "AnnotationError",
    "AnnotationServer",
    "Annotations",
    "Segment",
    "StaleRevisionError",
    "VideoAnnotation",
    "cut_clips",
    "load_annotations",
    "read_annotations",
    "save_annotations",
    "write_annotations",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from actionkit.annotate.annotations import (
        ANNOTATIONS_FILE,
        AnnotationError,
        Annotations,
        Segment,
        StaleRevisionError,
        VideoAnnotation,
        load_annotations,
        save_annotations,
    )
    from actionkit.annotate.clips import cut_clips
    from actionkit.annotate.formats import read_annotations, write_annotations
    from actionkit.annotate.server import AnnotationServer
