"""A process pool that survives its workers: one crash fails one job, Ctrl-C stops at once.

:func:`run_jobs` runs ``work(job)`` for every job over worker processes and hands each outcome
to a callback as it arrives. It is for work where a single input can kill its process (an
FFmpeg crash on a malformed file ends the process, not just the call):

* each worker notes the job it is running in a shared array, so when a worker dies the jobs it
  held are known: they are retried alone, the job that kills its process again is reported as
  :class:`JobFailed`, and the run goes on with a fresh pool;
* Ctrl-C: a worker's SIGINT aborts the job it is on (its ``finally`` blocks run, so temporary
  files are removed) and makes it skip the jobs already queued to it, so the run stops at once.
  The main process raises a shared stop flag and forwards the signal to its busy workers, for
  when it alone was interrupted (``kill -INT``, a notebook's stop button), then re-raises.

Workers are spawned, never forked (the caller may hold threads), so ``work`` and the jobs must
be picklable: a module-level function and plain data.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["JobFailed", "run_jobs"]

J = TypeVar("J")
R = TypeVar("R")


@dataclass(frozen=True)
class JobFailed:
    """A job that did not produce a result; ``reason`` says why, in words."""

    reason: str


def run_jobs(
    work: Callable[[J], R],
    jobs: Sequence[J],
    on_done: Callable[[J, R | JobFailed], None],
    *,
    workers: int,
    crash_reason: str = "the worker process crashed on this job",
) -> None:
    """``on_done(job, work(job))`` for every job, over ``workers`` processes, in finishing order.

    ``work`` should catch the errors it expects and return them as results; anything it raises
    anyway becomes a :class:`JobFailed` naming the exception. With ``workers <= 1`` the jobs run
    one after the other in this process (no crash protection: nothing to spawn).

    Args:
        work: A module-level function of one job.
        jobs: Picklable job descriptions.
        on_done: Called in this process with each job and its result or :class:`JobFailed`.
        workers: Processes to run at once.
        crash_reason: The :class:`JobFailed` reason of a job that killed its process twice.

    Raises:
        KeyboardInterrupt: After the workers stopped, when the run was interrupted.
    """
    if not jobs:
        return
    if workers <= 1:
        for job in jobs:
            on_done(job, _call(work, job))
        return
    pending = dict(enumerate(jobs))
    while pending:
        suspects = _run_pool(work, pending, workers, on_done)
        if suspects is None:
            return
        if not suspects:  # the pool broke outside any job: do not loop forever
            for job in pending.values():
                on_done(job, JobFailed("the worker processes failed to start"))
            return
        for index in suspects:
            job = pending.pop(index)
            if _run_pool(work, {index: job}, 1, on_done) is not None:
                on_done(job, JobFailed(crash_reason))


def _call(work: Callable[[J], R], job: J) -> R | JobFailed:
    try:
        return work(job)
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else ""
        return JobFailed(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


# -- in the workers -------------------------------------------------------------------------------
_slots: Any = None
_slot = -1
_stop: Any = None
_running = False
_interrupted = False


def _init_worker(slots, pids, counter, stop) -> None:
    global _slots, _slot, _stop
    with counter.get_lock():
        _slot = counter.value
        counter.value += 1
    _slots, _stop = slots, stop
    if _slot < len(pids):
        pids[_slot] = os.getpid()
    signal.signal(signal.SIGINT, _on_interrupt)


def _on_interrupt(signum, frame) -> None:
    global _interrupted
    first = not _interrupted
    _interrupted = True
    if first and _running:
        raise KeyboardInterrupt


def _work_noted(work: Callable[[J], R], index: int, job: J) -> R | JobFailed:
    global _running
    if _interrupted or (_stop is not None and _stop.value):
        return JobFailed("interrupted")
    noted = _slots is not None and 0 <= _slot < len(_slots)
    if noted:
        _slots[_slot] = index + 1
    _running = True
    try:
        return _call(work, job)
    finally:
        _running = False
        if noted:
            _slots[_slot] = 0


# -- in the main process --------------------------------------------------------------------------
@contextlib.contextmanager
def _sigint_ignored_by_new_processes() -> Iterator[None]:
    """Workers start (they are spawned on submit) with SIGINT ignored until their initializer
    installs :func:`_on_interrupt`: a Ctrl-C while they import would print their tracebacks."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupt_workers(pids) -> None:
    """SIGINT to this pool's live workers (children of this process: no pid reuse possible)."""
    ours = set(pids)
    for child in multiprocessing.active_children():
        if child.pid in ours:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGINT)


def _run_pool(
    work: Callable[[J], R],
    pending: dict[int, J],
    workers: int,
    on_done: Callable[[J, R | JobFailed], None],
) -> list[int] | None:
    """Run ``pending`` (removing finished ones); None, or the jobs running when the pool broke."""
    context = multiprocessing.get_context("spawn")
    slots = context.Array("q", workers, lock=False)
    pids = context.Array("q", workers, lock=False)
    counter = context.Value("i", 0)
    stop = context.Value("b", 0, lock=False)
    executor = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(slots, pids, counter, stop),
    )
    broken = False
    try:
        with _sigint_ignored_by_new_processes():
            futures = {executor.submit(_work_noted, work, i, job): i for i, job in pending.items()}
        for future in as_completed(futures):
            index = futures[future]
            try:
                result = future.result()
            except BrokenProcessPool:
                broken = True
                continue
            except Exception as exc:  # e.g. a result that could not be sent back
                result = JobFailed(f"{type(exc).__name__}: {exc}")
            on_done(pending.pop(index), result)
    except BaseException:  # Ctrl-C: stop the workers' current jobs, wait for them to clean up
        stop.value = 1
        _interrupt_workers(pids[:])
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)
    if not broken:
        return None
    return sorted({v - 1 for v in slots if v and (v - 1) in pending})
