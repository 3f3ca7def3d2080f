"""Run slow operations (connect, tare, weigh, analyse a file) off the GUI thread.

A :class:`JobRunner` owns one worker thread. ``submit(name, fn, *args)`` runs ``fn`` there and
emits ``finished(name, result, error)`` on the GUI thread when it ends (Qt queues signals emitted
from another thread to the receiver's thread). Jobs run one at a time, in order, so the console
never tares while it connects. The GUI never blocks on a job.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PyQt5.QtCore import QObject, pyqtSignal


class JobRunner(QObject):
    """One background worker thread with a Qt signal for completion.

    Signals
    -------
    started(str)
        A job called name started.
    finished(str, object, object)
        (name, result, error): ``error`` is the exception raised by the job, or None.
    """

    started = pyqtSignal(str)
    finished = pyqtSignal(str, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forcelab-console-job")
        self._pending: dict[int, str] = {}
        self.busy_with: str | None = None

    @property
    def busy(self) -> bool:
        """True while a job is queued or running."""
        return bool(self._pending)

    def submit(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` on the worker thread; ``finished`` reports the outcome."""
        future = self._pool.submit(self._run, name, fn, args, kwargs)
        self._pending[id(future)] = name
        future.add_done_callback(lambda f: self._pending.pop(id(f), None))
        return future

    def _run(self, name: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        self.busy_with = name
        self.started.emit(name)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # reported to the GUI thread, which shows it
            self.busy_with = None
            self.finished.emit(name, None, exc)
            return None
        self.busy_with = None
        self.finished.emit(name, result, None)
        return result

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting jobs; with ``wait`` block until the running one ends."""
        self._pool.shutdown(wait=wait, cancel_futures=True)
