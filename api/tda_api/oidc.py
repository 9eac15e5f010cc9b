"""Bearer JWTs checked by the facade itself against an OIDC issuer's published keys (JWKS).

For clusters that prefer it to a TokenReview per new token. The rules follow kube-apiserver's
own OIDC authenticator, so a user is the same user either way: the username comes from one
claim (prefixed by the issuer URL unless it is ``email`` or a prefix is set), groups from
another (with an optional prefix), ``aud`` must name the configured audience, and the
signature must verify with a key of the issuer's JWKS. Identities in the reserved ``system:``
namespace are refused: the facade impersonates whom it authenticates, and a token must never
turn into ``system:masters`` or a node.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

from .kube import TRANSPORT_ERRORS, Caller

JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]
RESERVED_PREFIX = "system:"
#: An unknown key id makes the JWKS be fetched again, at most this often (keys rotate rarely;
#: a flood of forged key ids must not become a flood of fetches).
JWKS_REFRESH_SECONDS = 30.0
DEFAULT_ALGORITHMS = ("RS256", "ES256")


class Refused(Exception):
    """The token is not a valid token of the issuer; the message names the rule, never a claim's value."""


@dataclass(frozen=True)
class OidcRules:
    issuer: str
    audience: str
    username_claim: str = "sub"
    #: None: the issuer URL and '#' for claims other than 'email'; '-': no prefix.
    username_prefix: str | None = None
    groups_claim: str | None = "groups"
    groups_prefix: str = ""
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway_seconds: float = 30.0

    def username(self, claims: dict[str, Any]) -> str:
        value = claims.get(self.username_claim)
        if not isinstance(value, str) or not value:
            raise Refused(f"the token has no '{self.username_claim}' claim to name its user")
        if self.username_claim == "email" and claims.get("email_verified") is False:
            raise Refused("the token's email is not verified")
        if self.username_prefix == "-":
            prefix = ""
        elif self.username_prefix is not None:
            prefix = self.username_prefix
        else:
            prefix = "" if self.username_claim == "email" else f"{self.issuer}#"
        return _unreserved(prefix + value, "user")

    def groups(self, claims: dict[str, Any]) -> tuple[str, ...]:
        if not self.groups_claim or self.groups_claim not in claims:
            return ()
        value = claims[self.groups_claim]
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(g, str) for g in values):
            raise Refused(f"the token's '{self.groups_claim}' claim must be a string or a list of strings")
        return tuple(_unreserved(self.groups_prefix + g, "group") for g in values)


def _unreserved(name: str, what: str) -> str:
    if name.startswith(RESERVED_PREFIX):
        raise Refused(f"the token names a reserved '{RESERVED_PREFIX}' {what}")
    return name


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a JWT claims, unverified: only to choose which authenticator checks it."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


class OidcVerifier:
    """Verifies JWTs of one issuer; keys come from ``fetch_jwks`` and are refreshed on rotation."""

    def __init__(self, rules: OidcRules, fetch_jwks: JwksFetcher, clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = rules
        self._fetch = fetch_jwks
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    def issues(self, token: str) -> bool:
        return unverified_issuer(token) == self.rules.issuer

    async def verify(self, token: str) -> tuple[Caller, float]:
        """The caller and the seconds until the token expires; `Refused` when it is not valid."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Refused("the token is not a well-formed JWT") from None
        if header.get("alg") not in self.rules.algorithms:
            raise Refused("the token is signed with an algorithm this facade does not accept")
        key = await self._key(header.get("kid"))
        try:
            claims = jwt.decode(token, key=key.key, algorithms=list(self.rules.algorithms),
                                audience=self.rules.audience, issuer=self.rules.issuer,
                                leeway=self.rules.leeway_seconds, options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise Refused("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise Refused("the token is not meant for this facade (audience)") from None
        except jwt.PyJWTError:
            raise Refused("the token's signature or claims did not verify") from None
        caller = Caller(self.rules.username(claims), self.rules.groups(claims))
        return caller, max(0.0, float(claims["exp"]) - time.time())

    async def _key(self, kid: Any) -> jwt.PyJWK:
        if not isinstance(kid, str) and kid is not None:
            raise Refused("the token's key id is malformed")
        key = self._find(kid)
        if key is None and self._may_refresh():
            async with self._lock:
                if self._may_refresh():
                    await self._refresh()
            key = self._find(kid)
        if key is None:
            raise Refused("the token is signed with a key the issuer does not publish")
        return key

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is not None:
            return self._keys.get(kid)
        # A token without a key id: only unambiguous when the issuer publishes one key.
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    def _may_refresh(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= JWKS_REFRESH_SECONDS

    async def _refresh(self) -> None:
        self._fetched_at = self._clock()
        try:
            document = await self._fetch()
        except (*TRANSPORT_ERRORS, ValueError, KeyError, TypeError):
            return  # keep the keys we have; the token is refused if none of them fits
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys") or ():
            try:
                key = jwt.PyJWK(entry)
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                continue  # a key of a type or algorithm we cannot use
            if entry.get("use", "sig") == "sig":
                keys[str(entry.get("kid") or "")] = key
        if keys:
            self._keys = keys


def http_jwks_fetcher(jwks_url: str | None, issuer: str, ca_file: str | None, timeout: float) -> JwksFetcher:
    """Fetches the JWKS from ``jwks_url``, or from the issuer's discovery document when unset."""

    async def fetch() -> dict[str, Any]:
        context = ssl.create_default_context(cafile=ca_file) if ca_file else True
        connector = aiohttp.TCPConnector(ssl=context)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as client:

            async def get_json(url: str) -> Any:
                async with client.get(url, allow_redirects=False) as response:
                    if response.status != 200:
                        raise ValueError(f"HTTP {response.status}")
                    return json.loads(await response.read())

            url = jwks_url or (await get_json(issuer.rstrip("/") + "/.well-known/openid-configuration"))["jwks_uri"]
            document = await get_json(str(url))
        if not isinstance(document, dict):
            raise ValueError("a JWKS is a JSON object")
        return document

    return fetch
