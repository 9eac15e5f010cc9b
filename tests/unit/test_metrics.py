"""The TDAJobs-by-phase gauge counts each TDAJob once, in its latest phase."""

from __future__ import annotations

import pytest
from tda_operator import metrics

pytestmark = pytest.mark.unit


def gauge(phase: str) -> float:
    return metrics.TDAJOBS_BY_PHASE.labels(phase=phase)._value.get()


def test_phase_counts_follow_each_tdajob():
    book = metrics.PhaseBook()
    book.set("a", "one", "Pending")
    book.set("a", "two", "Pending")
    book.set("a", "one", "Running")
    book.set("a", "one", "Running")  # a repeat changes nothing
    assert (gauge("Pending"), gauge("Running")) == (1, 1)
    book.set("a", "two", "Succeeded")
    book.set("a", "one", None)  # deleted
    assert (gauge("Pending"), gauge("Running"), gauge("Succeeded")) == (0, 0, 1)
