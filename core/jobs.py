"""Long operations (indexing, map fitting) in a background thread, with progress and cancel.

The app starts a job and polls it; the person can move between pages or cancel meanwhile, and the
job's result or error (a user-facing message) stays available when it ends.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from core.errors import FewshotError

RUNNING, DONE, FAILED, CANCELLED = "running", "done", "failed", "cancelled"


class Job:
    """Runs ``work(progress, should_cancel)`` in a daemon thread.

    ``work`` calls ``progress(snapshot)`` as it goes and checks ``should_cancel()`` between steps.
    """

    def __init__(self, name: str, work: Callable[[Callable[[Any], None], Callable[[], bool]], Any]) -> None:
        self.name = name
        self._work = work
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self.status = RUNNING
        self.progress: Any = None
        self.result: Any = None
        self.error: str | None = None
        self.started = time.time()
        self.finished: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"job-{name}", daemon=True)

    def start(self) -> Job:
        self._thread.start()
        return self

    def _set_progress(self, snapshot: Any) -> None:
        with self._lock:
            self.progress = snapshot

    def _run(self) -> None:
        try:
            result = self._work(self._set_progress, self._cancel.is_set)
            status = CANCELLED if self._cancel.is_set() else DONE
            with self._lock:
                self.result, self.status = result, status
        except FewshotError as exc:
            with self._lock:
                self.error, self.status = str(exc), FAILED
        except Exception as exc:  # shown to the person; the traceback goes to the server log
            from core.os_errors import explain_storage

            storage = explain_storage(exc, f"{self.name}")
            if storage is None:
                traceback.print_exc()
            with self._lock:
                self.error = str(storage) if storage else f"unexpected error: {type(exc).__name__}: {exc}"
                self.status = FAILED
        finally:
            self.finished = time.time()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()
