"""Request count and latency by route template and status (never by raw path: names are unbounded)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "tda_api_requests", "HTTP requests served, by method, route template and status.",
    ["method", "route", "status"], registry=REGISTRY,
)
LATENCY = Histogram(
    "tda_api_request_duration_seconds", "Time to the response's first byte, by method, route template and status.",
    ["method", "route", "status"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UNMATCHED = "<unmatched>"


def route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    return str(getattr(route, "path", UNMATCHED))


class MetricsMiddleware:
    """Pure ASGI (no buffering): streamed responses such as SSE pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                labels = (scope["method"], route_template(scope), str(status))
                REQUESTS.labels(*labels).inc()
                LATENCY.labels(*labels).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_and_observe)
        except Exception:
            REQUESTS.labels(scope["method"], route_template(scope), "500").inc()
            raise
