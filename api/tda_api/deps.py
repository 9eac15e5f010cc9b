"""What handlers depend on: the facade's shared parts, the authenticated caller, checked path names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from starlette.types import ASGIApp, Receive, Scope, Send
from tda_operator.models import DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, MAX_NAME_LENGTH

from .auth import AccessReviewer, Authenticator
from .cache import Cache
from .kube import Caller, Kube
from .problems import Problem, problem_response
from .settings import Settings

API_PREFIX = "/v1/"
CALLER_KEY = "tda.caller"


@dataclass
class Facade:
    """Everything the handlers share, built once per app."""

    settings: Settings
    kube: Kube
    authenticator: Authenticator
    reviewer: AccessReviewer
    cache: Cache


# Dependencies are `async def`: FastAPI would run plain functions in its thread pool, per request.
async def facade(request: Request) -> Facade:
    return request.app.state.facade  # type: ignore[no-any-return]


async def caller(request: Request) -> Caller:
    """The caller the AuthMiddleware authenticated (every /v1/ request has one)."""
    found = request.scope.get(CALLER_KEY)
    if not isinstance(found, Caller):
        raise Problem(401, "an Authorization: Bearer <token> header is required")
    return found


class AuthMiddleware:
    """Authenticates every /v1/ request before routing, so no body is parsed for an unknown caller."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
            header = _header(scope, b"authorization")
            try:
                shared: Facade = scope["app"].state.facade
                scope[CALLER_KEY] = await shared.authenticator.caller(header)
            except Problem as problem:
                await problem_response(problem)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


FacadeDep = Annotated[Facade, Depends(facade)]
CallerDep = Annotated[Caller, Depends(caller)]
Namespace = Annotated[str, Path(max_length=63, pattern=DNS_LABEL_PATTERN, description="Kubernetes namespace.")]
Name = Annotated[str, Path(max_length=MAX_NAME_LENGTH, pattern=DNS_SUBDOMAIN_PATTERN, description="Object name.")]
