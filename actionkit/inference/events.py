"""Events in a stream of labels: a label held at least a minimum time, with start and end."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Event", "EventTracker"]


@dataclass(frozen=True)
class Event:
    """A label held from ``start`` to ``end`` (seconds of the source), its mean score."""

    label: str
    start: float
    end: float
    score: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def __str__(self) -> str:
        return f"{self.label} {self.start:.2f}–{self.end:.2f} s (score {self.score:.2f})"


class EventTracker:
    """Turns one label per prediction into events: a run of the same label lasting at least
    ``min_seconds`` is one event, reported when the label changes or the stream ends.

    Args:
        min_seconds: The shortest run that counts as an event.
    """

    def __init__(self, min_seconds: float = 1.0) -> None:
        if not min_seconds >= 0:
            raise ValueError(f"min_seconds={min_seconds!r} must be >= 0")
        self.min_seconds = min_seconds
        self._label: str | None = None
        self._start = self._end = 0.0
        self._scores: list[float] = []

    def update(self, label: str | None, score: float, time: float) -> Event | None:
        """The prediction at ``time`` says ``label`` (``None``: no label); returns the event
        that this ends, if any."""
        if label == self._label:
            if label is not None:
                self._end = time
                self._scores.append(score)
            return None
        event = self.close(time)
        self._label, self._start, self._end = label, time, time
        self._scores = [score] if label is not None else []
        return event

    def close(self, time: float) -> Event | None:
        """End the current run at ``time`` (the stream ended); returns it if it is an event."""
        if self._label is None or not self._scores:
            return None
        end = max(self._end, time) if time >= self._start else self._end
        label, start, scores = self._label, self._start, self._scores
        self._label, self._scores = None, []
        if end - start < self.min_seconds:
            return None
        return Event(label, start, end, sum(scores) / len(scores))
