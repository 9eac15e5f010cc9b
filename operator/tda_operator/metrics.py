"""Prometheus metrics of the operator, served with a liveness probe on one port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

REGISTRY = CollectorRegistry()

RECONCILIATIONS = Counter(
    "tda_operator_reconciliations",
    "Reconciliations by resource kind and result (ok, error, infeasible, invalid).",
    ["kind", "result"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "tda_operator_reconcile_duration_seconds",
    "Time spent in one reconciliation.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
TDAJOBS_BY_PHASE = Gauge("tda_operator_tdajobs", "TDAJobs by phase.", ["phase"], registry=REGISTRY)
DATASETS_PROCESSED = Counter(
    "tda_operator_datasets_processed",
    "Datasets of finished TDAJobs, by result (succeeded, failed).",
    ["result"],
    registry=REGISTRY,
)
EVENTS_DROPPED = Counter(
    "tda_operator_events_dropped", "Events not posted because too many were waiting.", registry=REGISTRY
)
COMPUTE_SECONDS = Counter(
    "tda_operator_compute_seconds", "Worker compute time of finished TDAJobs.", registry=REGISTRY
)


class PhaseBook:
    """Last known phase per TDAJob, so the gauge is a count rather than a running sum."""

    def __init__(self) -> None:
        self._phases: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = dict.fromkeys(("Pending", "Running", "Succeeded", "Failed", "Suspended"), 0)
        self._lock = threading.Lock()
        for phase in self._counts:
            TDAJOBS_BY_PHASE.labels(phase=phase).set(0)

    def set(self, namespace: str, name: str, phase: str | None) -> None:
        """Called on every reconcile: only the two phases concerned are recounted."""
        with self._lock:
            old = self._phases.pop((namespace, name), None)
            if phase is not None:
                self._phases[(namespace, name)] = phase
            if old == phase:
                return
            for changed, step in ((old, -1), (phase, 1)):
                if changed is not None:
                    self._counts[changed] = self._counts.get(changed, 0) + step
                    TDAJOBS_BY_PHASE.labels(phase=changed).set(self._counts[changed])


PHASES = PhaseBook()


@contextmanager
def reconciliation(kind: str) -> Iterator[dict[str, str]]:
    """Time a reconciliation and count it by result (the body may set ``outcome['result']``)."""
    outcome = {"result": "ok"}
    started = time.perf_counter()
    try:
        yield outcome
    except Exception:
        outcome["result"] = "error"
        raise
    finally:
        RECONCILE_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)
        RECONCILIATIONS.labels(kind=kind, result=outcome["result"]).inc()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        if self.path.startswith("/metrics"):
            body, ctype, code = generate_latest(REGISTRY), CONTENT_TYPE_LATEST, 200
        elif self.path.startswith("/healthz"):
            body, ctype, code = b"ok\n", "text/plain", 200
        else:
            body, ctype, code = b"not found\n", "text/plain", 404
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # scrapes are not news
        pass


def serve(port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve ``/metrics`` and ``/healthz`` from a daemon thread; returns the server."""
    server = ThreadingHTTPServer((host, port), _Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
