"""Who is calling (TokenReview) and what they may read from the cache (SubjectAccessReview).

Both answers are cached briefly. Tokens are never stored or logged: the TokenReview cache is
keyed by the token's SHA-256. Access answers are keyed by the caller and the exact request
attributes (verb, resource, namespace, name), so a cached read is allowed only where the
API server itself would allow it, and a revoked right stops working within the TTL.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from tda_contract import GROUP

from .kube import ApiResponse, Caller, Kube, Unreachable
from .oidc import OidcVerifier, Refused
from .problems import Problem

V = TypeVar("V")
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
#: Refused tokens are remembered for less time than accepted ones: a fresh token may become valid.
NEGATIVE_TTL_FRACTION = 0.2


class TTLCache(Generic[V]):
    """A bounded map whose entries expire; concurrent misses for one key share one lookup."""

    def __init__(self, ttl: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._pending: dict[Hashable, asyncio.Future[V]] = {}

    def get(self, key: Hashable) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < self._clock():
            del self._entries[key]
            return None
        return value

    def put(self, key: Hashable, value: V, ttl: float | None = None) -> None:
        self._entries[key] = (self._clock() + (self.ttl if ttl is None else ttl), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def get_or_load(self, key: Hashable, load: Callable[[], Awaitable[tuple[V, float]]]) -> V:
        """The cached value, or ``load()``'s (value, ttl), loaded once however many ask at once."""
        cached = self.get(key)
        if cached is not None:
            return cached
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            value, ttl = await load()
            if ttl > 0:
                self.put(key, value, ttl)
            future.set_result(value)
            return value
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        finally:
            del self._pending[key]


async def review(kube: Kube, path: str, body: Any) -> ApiResponse:
    """A review made with the facade's own identity; an unreachable API server is a 503, not a 500."""
    try:
        return await kube.request("POST", path, caller=None, body=body)
    except Unreachable:
        raise Problem(503, "the Kubernetes API server could not be reached; try again") from None


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise unauthenticated("an Authorization: Bearer <token> header is required")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token


def unauthenticated(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="tda"'})


class Authenticator:
    """Who a bearer token belongs to: the OIDC validator for its issuer's JWTs when configured,
    the API server's TokenReview for every other token (service accounts, OIDC, ...), as the
    API server's own authenticators are tried in turn."""

    def __init__(self, kube: Kube, ttl: float, oidc: OidcVerifier | None = None, token_review: bool = True) -> None:
        self._kube = kube
        self._oidc = oidc
        self._token_review = token_review
        self._cache: TTLCache[Caller | bool] = TTLCache(ttl)

    async def caller(self, authorization: str | None) -> Caller:
        token = bearer_token(authorization)
        key = hashlib.sha256(token.encode()).hexdigest()
        found = await self._cache.get_or_load(key, lambda: self._authenticate(token))
        if not isinstance(found, Caller):
            raise unauthenticated("the bearer token was not accepted")
        return found

    async def _authenticate(self, token: str) -> tuple[Caller | bool, float]:
        if self._oidc is not None and self._oidc.issues(token):
            try:
                caller, expires_in = await self._oidc.verify(token)
                return caller, min(self._cache.ttl, expires_in)  # never trusted past its expiry
            except Refused:
                pass  # the API server may still accept it (its own OIDC settings may differ)
        if not self._token_review:
            return False, self._cache.ttl * NEGATIVE_TTL_FRACTION
        return await self._review(token)

    async def _review(self, token: str) -> tuple[Caller | bool, float]:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        response = await review(self._kube, TOKEN_REVIEWS, body)
        if response.status_code not in (200, 201):
            raise Problem(503, "the API server could not review the token; try again")
        status = response.json().get("status") or {}
        user = status.get("user") or {}
        if not status.get("authenticated") or not user.get("username"):
            return False, self._cache.ttl * NEGATIVE_TTL_FRACTION
        caller = Caller(str(user["username"]), tuple(str(g) for g in user.get("groups") or ()), str(user.get("uid") or ""))
        return caller, self._cache.ttl


class AccessReviewer:
    """May this caller do ``verb`` on a tda.io resource? Asked of the API server, cached briefly."""

    def __init__(self, kube: Kube, ttl: float) -> None:
        self._kube = kube
        self._cache: TTLCache[bool] = TTLCache(ttl)

    async def allowed(self, caller: Caller, verb: str, resource: str, namespace: str, name: str | None = None) -> bool:
        key = (caller, verb, resource, namespace, name)
        return await self._cache.get_or_load(key, lambda: self._review(caller, verb, resource, namespace, name))

    async def require(self, caller: Caller, verb: str, resource: str, namespace: str, name: str | None = None) -> None:
        if not await self.allowed(caller, verb, resource, namespace, name):
            raise Problem(403, "Kubernetes RBAC does not allow this request for the caller")

    async def _review(self, caller: Caller, verb: str, resource: str, namespace: str,
                      name: str | None) -> tuple[bool, float]:
        attributes = {"group": GROUP, "resource": resource, "verb": verb, "namespace": namespace}
        if name:
            attributes["name"] = name
        # No uid: impersonated calls carry user and groups only, and the review must ask the same question.
        spec = {"user": caller.user, "groups": list(caller.groups), "resourceAttributes": attributes}
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        response = await review(self._kube, ACCESS_REVIEWS, body)
        if response.status_code not in (200, 201):
            raise Problem(503, "the API server could not review access; try again")
        return bool((response.json().get("status") or {}).get("allowed")), self._cache.ttl
