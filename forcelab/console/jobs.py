"""Run slow operations (connect, tare, weigh, analyse a file) off the GUI thread.

A :class:`JobRunner` owns one worker thread. ``submit(name, fn, *args)`` runs ``fn`` there and
emits ``finished(name, result, error)`` on the GUI thread when it ends (Qt queues signals emitted
from another thread to the receiver's thread). Jobs run one at a time, in order, so the console
never tares while it connects. The GUI never blocks on a job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
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
        self._lock = threading.Lock()
        self._pending = 0
        self.busy_with: str | None = None

    @property
    def busy(self) -> bool:
        """True while a job is queued or running (False again before ``finished`` is handled)."""
        with self._lock:
            return self._pending > 0

    def submit(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` on the worker thread; ``finished`` reports the outcome."""
        with self._lock:
            self._pending += 1
        try:
            return self._pool.submit(self._run, name, fn, args, kwargs)
        except RuntimeError:  # shut down: the window is closing
            with self._lock:
                self._pending -= 1
            raise

    def _run(self, name: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        self.busy_with = name
        self.started.emit(name)
        result, error = None, None
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # reported to the GUI thread, which shows it
            error = exc
        self.busy_with = None
        with self._lock:
            self._pending -= 1
        self.finished.emit(name, result, error)
        return result

    def drain(self, timeout_s: float | None = None) -> bool:
        """Wait until the jobs submitted so far have run; False if ``timeout_s`` passed first."""
        try:
            self._pool.submit(lambda: None).result(timeout=timeout_s)
        except RuntimeError:  # already shut down: nothing can be pending
            return True
        except FutureTimeoutError:
            return False
        return True

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting jobs; with ``wait`` block until the running one ends."""
        self._pool.shutdown(wait=wait, cancel_futures=True)
