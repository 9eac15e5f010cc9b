"""The reconcile work queue: dedup, re-queue of keys that changed while handled, backoff, rechecks.

No test asserts a tight wall-clock bound: waits poll with generous timeouts, delays are
checked as requested (``add_after`` is recorded) and, where time is measured, only as a
lower bound (a timer never fires early).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import pytest
from tda_operator.workqueue import WorkQueue

pytestmark = pytest.mark.unit
TIMEOUT = 20.0


def wait_until(check: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.002)


class RecordingQueue(WorkQueue):
    """Records every delayed re-queue it is asked for (by the workers or the test)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delays: list[tuple[Hashable, float]] = []

    def add_after(self, key: Hashable, delay: float) -> None:
        self.delays.append((key, delay))
        super().add_after(key, delay)


class Handler:
    """Records calls (key, monotonic time); ``behave(key, n)`` decides each call's result."""

    def __init__(self, behave: Callable[[Hashable, int], float | None] | None = None) -> None:
        self.calls: list[tuple[Hashable, float]] = []
        self._lock = threading.Lock()
        self._behave = behave

    def __call__(self, key: Hashable) -> float | None:
        with self._lock:
            self.calls.append((key, time.monotonic()))
            n = sum(1 for k, _ in self.calls if k == key)
        return self._behave(key, n) if self._behave else None

    def keys(self) -> list[Hashable]:
        with self._lock:
            return [k for k, _ in self.calls]

    def count(self, key: Hashable) -> int:
        return self.keys().count(key)

    def times(self, key: Hashable) -> list[float]:
        with self._lock:
            return [t for k, t in self.calls if k == key]


@pytest.fixture
def queues() -> Iterator[list[WorkQueue]]:
    made: list[WorkQueue] = []
    yield made
    for queue in made:
        queue.stop()


def make(queues: list[WorkQueue], handler: Callable[[Hashable], float | None], cls: type[WorkQueue] = WorkQueue,
         **kwargs: Any) -> Any:
    queue = cls(handler, **kwargs)
    queues.append(queue)
    return queue


def holding_a(queues: list[WorkQueue]) -> tuple[WorkQueue, Handler, threading.Event]:
    """A started one-worker queue whose first look at "a" is in hand until ``release`` is set."""
    entered, release = threading.Event(), threading.Event()

    def behave(key, n):
        if key == "a" and n == 1:
            entered.set()
            assert release.wait(TIMEOUT)
        return None

    handler = Handler(behave)
    queue = make(queues, handler, workers=1)
    queue.start()
    queue.add("a")
    assert entered.wait(TIMEOUT)
    return queue, handler, release


def test_a_key_added_many_times_while_queued_is_handled_once(queues):
    handler = Handler()
    queue = make(queues, handler, workers=1)
    for _ in range(50):
        queue.add("a")
    queue.add("b")
    for _ in range(10):
        queue.add("a")
    assert queue.depth() == 2
    queue.start()
    wait_until(lambda: handler.count("b") == 1, "b to be handled")
    # one worker takes keys in order: "a" before "b", once
    assert handler.keys() == ["a", "b"]
    wait_until(lambda: queue.depth() == 0, "an empty queue")
    time.sleep(0.05)
    assert handler.keys() == ["a", "b"]


def test_urgent_keys_go_before_the_others_in_their_order(queues):
    handler = Handler()
    queue = make(queues, handler, workers=1)
    for key in ("a", "b"):
        queue.add(key)
    queue.add("new-1", urgent=True)
    queue.add("c")
    queue.add("new-2", urgent=True)
    queue.add("a", urgent=True)  # already in line: keeps its place
    assert queue.depth() == 5
    queue.start()
    wait_until(lambda: len(handler.keys()) == 5, "every key to be handled")
    assert handler.keys() == ["new-1", "new-2", "a", "b", "c"]


def test_a_key_made_urgent_while_handled_keeps_its_urgency(queues):
    """A Job that finishes while its TDAJob is being reconciled: the next look goes first."""
    queue, handler, release = holding_a(queues)
    queue.add("b")
    queue.add("a", urgent=True)
    queue.add("a")  # a later ordinary event does not take the urgency back
    release.set()
    wait_until(lambda: len(handler.keys()) == 3, "a, a again and b")
    assert handler.keys() == ["a", "a", "b"]


def test_a_key_added_while_handled_is_handled_again_after(queues):
    queue, handler, release = holding_a(queues)
    for _ in range(20):
        queue.add("a")
    assert handler.count("a") == 1
    release.set()
    wait_until(lambda: handler.count("a") == 2, "the second look at a")
    queue.add("z")  # behind any further "a" with one worker
    wait_until(lambda: handler.count("z") == 1, "z to be handled")
    assert handler.keys() == ["a", "a", "z"]


def test_a_key_is_never_handled_by_two_workers_at_once(queues):
    lock = threading.Lock()
    in_hand: dict[Hashable, int] = {}
    most: dict[Hashable, int] = {}
    both = threading.Barrier(2, timeout=TIMEOUT)
    met: list[Hashable] = []

    def handle(key):
        with lock:
            in_hand[key] = in_hand.get(key, 0) + 1
            most[key] = max(most.get(key, 0), in_hand[key])
        try:
            if key in ("b", "c") and key not in met:
                both.wait()  # passes only when two workers hold b and c at the same time
                met.append(key)
            time.sleep(0.001)
        finally:
            with lock:
                in_hand[key] -= 1

    handler = Handler(lambda key, n: handle(key))
    queue = make(queues, handler, workers=4)
    queue.start()
    queue.add("b")
    queue.add("c")
    for _ in range(200):
        queue.add("a")
        time.sleep(0.0002)
    wait_until(lambda: sorted(met) == ["b", "c"], "b and c to meet")
    wait_until(lambda: queue.depth() == 0 and not queue._active, "the queue to drain")  # noqa: SLF001
    assert most == {"a": 1, "b": 1, "c": 1}
    assert 1 <= handler.count("a") <= 200


def test_failures_are_retried_with_growing_delays(queues):
    def behave(key, n):
        if n <= 5:
            raise RuntimeError("the API server said no")
        return None

    handler = Handler(behave)
    queue = make(queues, handler, RecordingQueue, workers=2, base_delay=0.01, max_delay=10.0)
    queue.start()
    queue.add("a")
    wait_until(lambda: handler.count("a") == 6, "the sixth attempt")
    wait_until(lambda: queue.depth() == 0, "no retry pending")
    assert queue.delays == [("a", 0.01), ("a", 0.02), ("a", 0.04), ("a", 0.08), ("a", 0.16)]
    # no attempt came before its delay was over
    times = handler.times("a")
    for (_, delay), before, after in zip(queue.delays, times, times[1:], strict=False):
        assert after - before >= delay * 0.99
    time.sleep(0.05)
    assert handler.count("a") == 6  # success ends the retries


def test_backoff_is_capped_and_restarts_after_a_success(queues):
    outcomes = {1: "fail", 2: "fail", 3: "fail", 4: "fail", 5: "ok", 6: "fail", 7: "ok"}

    def behave(key, n):
        if outcomes.get(n) == "fail":
            raise ValueError("boom")
        if n == 5:
            return 0.01  # look again soon: the failure count starts over
        return None

    handler = Handler(behave)
    queue = make(queues, handler, RecordingQueue, workers=1, base_delay=0.01, max_delay=0.03)
    queue.start()
    queue.add("k")
    wait_until(lambda: handler.count("k") == 7, "the seventh attempt")
    wait_until(lambda: queue.depth() == 0, "no retry pending")
    assert [d for _, d in queue.delays] == [0.01, 0.02, 0.03, 0.03, 0.01, 0.01]


def test_one_failing_key_does_not_hold_up_the_others(queues):
    def behave(key, n):
        if key == "bad":
            raise RuntimeError("always")
        return None

    handler = Handler(behave)
    queue = make(queues, handler, workers=1, base_delay=0.01, max_delay=0.05)
    queue.start()
    queue.add("bad")
    wait_until(lambda: handler.count("bad") >= 3, "bad to be retried")
    for key in ("x", "y"):
        queue.add(key)
    wait_until(lambda: handler.count("x") == 1 and handler.count("y") == 1, "the healthy keys")


def test_the_handler_s_answer_schedules_the_next_look(queues):
    handler = Handler(lambda key, n: 0.05 if n == 1 else None)
    queue = make(queues, handler, RecordingQueue, workers=1)
    queue.start()
    queue.add("a")
    wait_until(lambda: handler.count("a") == 2, "the recheck")
    first, second = handler.times("a")
    assert second - first >= 0.05 * 0.99
    assert queue.delays == [("a", 0.05)]
    wait_until(lambda: queue.depth() == 0, "nothing pending")
    time.sleep(0.1)
    assert handler.count("a") == 2  # None: no further look


def test_add_after_adds_a_key_later(queues):
    handler = Handler()
    queue = make(queues, handler, workers=1)
    asked = time.monotonic()
    queue.add_after("later", 0.2)
    assert queue.depth() == 1
    queue.start()
    wait_until(lambda: handler.count("later") == 1, "the delayed key")
    assert handler.times("later")[0] - asked >= 0.2 * 0.99
    wait_until(lambda: queue.depth() == 0, "nothing pending")


def test_a_delayed_key_already_queued_is_not_handled_twice(queues):
    handler = Handler()
    queue = make(queues, handler, workers=1)
    queue.add("a")
    queue.add_after("a", 0.0)
    queue.add_after("a", 0.0)
    queue.add("z")
    time.sleep(0.01)  # the timers are due before any worker looks
    queue.start()
    wait_until(lambda: handler.count("z") == 1, "z")
    wait_until(lambda: queue.depth() == 0, "nothing pending")
    assert handler.keys() == ["a", "z"]


def test_stop_ends_the_workers(queues):
    entered, release = threading.Event(), threading.Event()

    def behave(key, n):
        if key == "slow":
            entered.set()
            assert release.wait(TIMEOUT)
        return None

    handler = Handler(behave)
    queue = make(queues, handler, workers=3)
    queue.start()
    threads = list(queue._threads)  # noqa: SLF001
    assert len(threads) == 3 and all(t.is_alive() for t in threads)
    queue.add("slow")
    assert entered.wait(TIMEOUT)
    queue.stop()
    release.set()  # the key in hand is finished, then its worker ends too
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    queue.add("after")
    queue.add_after("after", 0.0)
    time.sleep(0.05)
    assert handler.keys() == ["slow"]


def test_a_key_waiting_for_a_recheck_waits_once(queues):
    handler = Handler(lambda key, n: 60.0)  # e.g. "no pod yet: ask again in a while"
    queue = make(queues, handler, workers=1)
    queue.start()
    for n in (1, 2, 3):  # three events, each handled before the next arrives
        queue.add("a")
        wait_until(lambda n=n: handler.count("a") == n and queue.depth() >= 1 and not queue._active,  # noqa: SLF001
                   f"look {n}")
    time.sleep(0.05)
    assert queue.depth() == 1
