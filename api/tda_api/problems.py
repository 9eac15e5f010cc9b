"""Errors as RFC 9457 problem details (``application/problem+json``).

Nothing a caller sent is echoed: details name fields and rules, never values. The API
server's own refusals keep its message (schema and CEL rules name the field), with any
``Invalid value: ...`` quotation of the submitted value taken out.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://tda.io/problems/"
log = logging.getLogger("tda_api")

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    410: "Gone",
    413: "Request entity too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}
TYPES = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    422: "invalid",
    502: "upstream",
    503: "unavailable",
}

# The API server quotes a refused value as `Invalid value: "<value>": ` (or an unquoted number/object).
_INVALID_VALUE = re.compile(r'Invalid value:\s*(?:"(?:[^"\\]|\\.)*"|[^:]*):\s*')
# ... and names the object as `<Kind>.<group> "<name>" is invalid: `.
_OBJECT_PREFIX = re.compile(r'^[A-Za-z]+(?:\.[a-z0-9.-]+)? "(?:[^"\\]|\\.)*" is (?:invalid|forbidden):\s*')
MAX_DETAIL = 2048
#: Seconds a client should wait before retrying a 503 (the API server or a broker is away).
RETRY_AFTER_SECONDS = "1"


class Problem(Exception):
    """An error answered to the caller as problem+json."""

    def __init__(self, status: int, detail: str, *, field: str | None = None, errors: list[dict[str, Any]] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        self.errors = errors
        # Every 503 says when to come back, whichever part was unavailable.
        if status == 503 and "Retry-After" not in (headers or {}):
            headers = {**(headers or {}), "Retry-After": RETRY_AFTER_SECONDS}
        self.headers = headers

    def body(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": TYPE_BASE + TYPES.get(self.status, str(self.status)),
            "title": TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
        }
        if self.field:
            doc["field"] = self.field
        if self.errors:
            doc["errors"] = self.errors
        return doc


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(problem.body(), status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers)


def scrub(message: str) -> str:
    """An API server message without the submitted value or object name it may quote."""
    text = _OBJECT_PREFIX.sub("", message)
    text = _INVALID_VALUE.sub("", text)
    return text[:MAX_DETAIL]


def from_kube_status(status_code: int, body: bytes) -> Problem:
    """A refusal of the API server (its ``Status`` object) as a Problem with the same meaning."""
    try:
        status = json.loads(body)
    except ValueError:
        status = {}
    if not isinstance(status, dict):
        status = {}
    details = status.get("details") or {}
    causes = [c for c in details.get("causes") or [] if isinstance(c, dict)]
    code = status_code if status_code in TITLES else (502 if status_code >= 500 else 400)
    if code == 422 and causes:
        return _invalid(causes)
    if code == 403:
        return Problem(403, "Kubernetes RBAC does not allow this request for the caller")
    if code == 404:
        return Problem(404, f"no such {_kind_of(details)}")
    if code == 409:
        reason = status.get("reason")
        if reason == "AlreadyExists":
            return Problem(409, f"a {_kind_of(details)} of that name already exists in this namespace")
        return Problem(409, "the object was changed concurrently; read it again and retry")
    if code in (429, 503, 504):
        return Problem(503, "the Kubernetes API server is busy; try again")
    if code >= 500:
        return Problem(502, "the Kubernetes API server could not complete the request")
    message = status.get("message")
    return Problem(code, scrub(message) if isinstance(message, str) else TITLES[code])


def _kind_of(details: dict[str, Any]) -> str:
    kind = details.get("kind")
    names = {"tdajobs": "TDAJob", "tdastreams": "TDAStream", "configmaps": "ConfigMap", "secrets": "Secret"}
    return names.get(kind, "object") if isinstance(kind, str) else "object"


def _invalid(causes: Sequence[dict[str, Any]]) -> Problem:
    errors = []
    for cause in causes:
        entry = {"field": str(cause.get("field") or ""), "message": scrub(str(cause.get("message") or ""))}
        errors.append(entry)
    first = errors[0]
    detail = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
    return Problem(422, detail[:MAX_DETAIL], field=first["field"] or None, errors=errors)


_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _location(loc: Sequence[Any]) -> str:
    """A pydantic location as a dotted path; parts that are not schema names (map keys) become '*'."""
    parts = [str(p) if isinstance(p, int) or _SCHEMA_NAME.match(str(p)) else "*" for p in loc]
    return ".".join(parts)


def from_validation_error(error: RequestValidationError) -> Problem:
    """FastAPI's request validation, reported by location and rule, never with the input."""
    errors = []
    for item in error.errors():
        loc = list(item.get("loc", ()))
        message = str(item.get("msg", "invalid"))
        if item.get("type") == "extra_forbidden":  # the unknown key is the caller's text: name its parent
            loc, message = loc[:-1], "unknown field (not in the schema)"
        where = str(loc[0]) if loc else "body"
        path = _location(loc[1:]) if where == "body" else _location(loc)
        errors.append({"field": path or where, "message": message})
    if not errors:
        return Problem(422, "the request is not valid")
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return Problem(422, detail[:MAX_DETAIL], field=errors[0]["field"], errors=errors[:20])


def install(app: FastAPI) -> None:
    """Every error the app can raise becomes problem+json; unexpected ones say nothing of their cause."""

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(from_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = TITLES.get(exc.status_code, "Error") if not isinstance(exc.detail, str) else exc.detail
        return problem_response(Problem(exc.status_code, detail, headers=exc.headers))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The exception's text may hold request content: log its type only.
        log.error("unexpected %s while serving %s %s", type(exc).__name__, request.method, _route_of(request))
        return problem_response(Problem(500, "the facade failed to serve this request"))


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "?"))
