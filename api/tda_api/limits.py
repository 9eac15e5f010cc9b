"""A cap on request bodies: the largest valid TDAJob (5,000 inline points of 64 coordinates) is a
few MiB of JSON, so anything far larger is refused before it is read into memory."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import Problem, problem_response

MAX_BODY_BYTES = 8 * 2**20
BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})
TOO_LARGE = Problem(413, f"the request body is larger than {MAX_BODY_BYTES // 2**20} MiB")


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODILESS:  # no route reads their bodies
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers") or ():
            if key.lower() == b"content-length" and value.isdigit() and int(value) > self.limit:
                await problem_response(TOO_LARGE)(scope, receive, send)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:  # chunked bodies carry no Content-Length
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await problem_response(TOO_LARGE)(scope, receive, send)
