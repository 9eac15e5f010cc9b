"""A level-triggered work queue: each key at most once in line and once in hand.

Events only say "look at this TDAJob again"; however many arrive, the key is reconciled
once with the latest cached state. A failed reconcile is retried with exponential backoff
per key; a key added while it is being handled is handled again right after. Keys added as
``urgent`` (a TDAJob nothing was done for yet) go before the others: under load, new work
is not stuck behind the status updates of work already running.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable

log = logging.getLogger("tda_operator")


class WorkQueue:
    def __init__(self, handle: Callable[[Hashable], float | None], workers: int = 4,
                 base_delay: float = 0.5, max_delay: float = 300.0) -> None:
        """``handle(key)`` reconciles; it returns seconds until the key wants another look (or None)."""
        self._handle = handle
        self._workers = workers
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._urgent: deque[Hashable] = deque()
        self._ready: deque[Hashable] = deque()
        self._queued: set[Hashable] = set()
        self._active: set[Hashable] = set()
        self._dirty: dict[Hashable, bool] = {}  # key in hand -> whether its next turn is urgent
        self._failures: dict[Hashable, int] = {}
        self._later: list[tuple[float, int, Hashable]] = []
        self._due: dict[Hashable, float] = {}  # one pending timer per key: the earliest
        self._sequence = 0
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False

    def start(self) -> None:
        for n in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"reconcile-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()

    def add(self, key: Hashable, urgent: bool = False) -> None:
        with self._wake:
            self._enqueue(key, urgent)

    def _enqueue(self, key: Hashable, urgent: bool = False) -> None:
        """With the lock held: in line once, or marked to go again when its current turn ends."""
        if key in self._active:
            self._dirty[key] = self._dirty.get(key, False) or urgent
        elif key not in self._queued:
            self._queued.add(key)
            (self._urgent if urgent else self._ready).append(key)
            self._wake.notify()

    def add_after(self, key: Hashable, delay: float) -> None:
        with self._wake:
            due = time.monotonic() + delay
            if key in self._due and self._due[key] <= due:
                return  # an earlier look is planned already
            self._due[key] = due
            self._sequence += 1
            heapq.heappush(self._later, (due, self._sequence, key))
            self._wake.notify()

    def depth(self) -> int:
        with self._wake:
            return len(self._urgent) + len(self._ready) + len(self._later)

    def _next(self) -> Hashable | None:
        with self._wake:
            while not self._stopping:
                now = time.monotonic()
                while self._later and self._later[0][0] <= now:
                    due, _, key = heapq.heappop(self._later)
                    if self._due.get(key) != due:
                        continue  # superseded by an earlier timer
                    del self._due[key]
                    self._enqueue(key)
                if self._urgent or self._ready:
                    key = (self._urgent or self._ready).popleft()
                    self._queued.discard(key)
                    self._active.add(key)
                    return key
                timeout = (self._later[0][0] - now) if self._later else None
                self._wake.wait(timeout)
            return None

    def _work(self) -> None:
        while (key := self._next()) is not None:
            again: float | None = None
            try:
                again = self._handle(key)
                self._failures.pop(key, None)
            except Exception as error:  # noqa: BLE001 - every failure is retried, with backoff
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                again = min(self._base_delay * 2 ** (failures - 1), self._max_delay)
                # The kind of failure and its HTTP status, not its text: API replies quote objects.
                status = getattr(error, "status", None)
                log.warning("reconciling %s failed (%s%s, attempt %d); retrying in %.1fs", key,
                            type(error).__name__, f" {status}" if status else "", failures, again)
            with self._wake:
                self._active.discard(key)
                if key in self._dirty:
                    self._enqueue(key, self._dirty.pop(key))
            if again is not None:
                self.add_after(key, again)
