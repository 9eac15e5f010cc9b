"""The facade's own OIDC validator: real RSA/EC signatures, the kube-apiserver claim rules, key rotation."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tda_api.auth import Authenticator
from tda_api.oidc import JWKS_REFRESH_SECONDS, OidcRules, OidcVerifier, Refused
from tda_api.settings import Settings

pytestmark = pytest.mark.unit
ISSUER = "https://issuer.example"
AUDIENCE = "tda-api"


class Issuer:
    """An issuer with signing keys and a JWKS document that counts how often it is fetched."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.fetches = 0
        self.rotate("k1")

    def rotate(self, kid: str, curve: bool = False) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1()) if curve else rsa.generate_private_key(65537, 2048)

    async def jwks(self) -> dict[str, Any]:
        self.fetches += 1
        documents = []
        for kid, key in self.keys.items():
            algorithm = jwt.algorithms.ECAlgorithm if isinstance(key, ec.EllipticCurvePrivateKey) else jwt.algorithms.RSAAlgorithm
            document = json.loads(algorithm.to_jwk(key.public_key()))
            documents.append({**document, "kid": kid, "use": "sig"})
        return {"keys": documents}

    def token(self, kid: str = "k1", lifetime: float = 600, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + int(lifetime), **claims}
        key = self.keys[kid]
        algorithm = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
        return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm,
                          headers={"kid": kid})


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


def verify(issuer: Issuer, token: str, rules: OidcRules | None = None, clock=time.monotonic):
    verifier = OidcVerifier(rules or OidcRules(ISSUER, AUDIENCE, username_prefix="oidc:"), issuer.jwks, clock)
    return asyncio.run(verifier.verify(token))


def test_a_valid_token_names_the_prefixed_user_and_groups(issuer):
    caller, expires_in = verify(issuer, issuer.token(groups=["team-a", "team-b"]))
    assert caller.user == "oidc:alice" and caller.groups == ("team-a", "team-b")
    assert 500 < expires_in <= 600


def test_username_prefix_follows_the_api_servers_default(issuer):
    caller, _ = verify(issuer, issuer.token(), OidcRules(ISSUER, AUDIENCE))
    assert caller.user == f"{ISSUER}#alice"  # not an email claim: the issuer keeps users apart
    caller, _ = verify(issuer, issuer.token(email="a@example.org"), OidcRules(ISSUER, AUDIENCE, username_claim="email"))
    assert caller.user == "a@example.org"
    with pytest.raises(Refused, match="not verified"):
        verify(issuer, issuer.token(email="a@example.org", email_verified=False),
               OidcRules(ISSUER, AUDIENCE, username_claim="email"))


@pytest.mark.parametrize(("claims", "reason"), [
    ({"aud": "someone-else"}, "audience"),
    ({"lifetime": -600}, "expired"),
    ({"iss": "https://other.example"}, "did not verify"),
    ({"sub": None}, "'sub' claim"),
    ({"groups": [1, 2]}, "list of strings"),
])
def test_tokens_breaking_a_rule_are_refused_naming_the_rule(issuer, claims, reason):
    with pytest.raises(Refused, match=reason) as caught:
        verify(issuer, issuer.token(**claims))
    assert "someone-else" not in str(caught.value) and "other.example" not in str(caught.value)


@pytest.mark.parametrize("claims", [{"sub": "system:admin"}, {"groups": ["system:masters"]}])
def test_reserved_system_identities_are_refused_even_unprefixed(issuer, claims):
    with pytest.raises(Refused, match="reserved"):
        verify(issuer, issuer.token(**claims), OidcRules(ISSUER, AUDIENCE, username_prefix="-"))


def test_forged_signatures_and_unsigned_tokens_are_refused(issuer):
    other = Issuer()  # same key id, different key
    with pytest.raises(Refused, match="did not verify"):
        verify(issuer, other.token())
    unsigned = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": int(time.time()) + 60}, None,
                          algorithm="none")
    with pytest.raises(Refused, match="algorithm"):
        verify(issuer, unsigned)
    hmac = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": int(time.time()) + 60}, "s" * 32,
                      algorithm="HS256")
    with pytest.raises(Refused, match="algorithm"):
        verify(issuer, hmac)
    with pytest.raises(Refused, match="well-formed"):
        verify(issuer, "not-a-jwt")


def test_a_rotated_key_is_fetched_once_and_unknown_key_ids_do_not_flood_the_issuer():
    issuer = Issuer()
    now = [0.0]
    verifier = OidcVerifier(OidcRules(ISSUER, AUDIENCE, username_prefix="-"), issuer.jwks, clock=lambda: now[0])

    async def run() -> None:
        await verifier.verify(issuer.token())
        assert issuer.fetches == 1
        issuer.rotate("k2", curve=True)
        now[0] += JWKS_REFRESH_SECONDS
        caller, _ = await verifier.verify(issuer.token("k2"))  # new key id: fetched again
        assert caller.user == "alice" and issuer.fetches == 2
        for _ in range(20):
            with pytest.raises(Refused, match="does not publish"):
                await verifier.verify(_forged_kid(issuer))
        assert issuer.fetches == 2  # within the refresh interval: no fetch per forged key id

    asyncio.run(run())


def _forged_kid(issuer: Issuer) -> str:
    now = int(time.time())
    return jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now + 60}, issuer.keys["k1"],
                      algorithm="RS256", headers={"kid": "unknown"})


class NoKube:
    """A TokenReview path that must not be taken."""

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no TokenReview expected")


def test_authenticator_uses_the_validator_and_caches_no_longer_than_the_token_lives(issuer):
    verifier = OidcVerifier(OidcRules(ISSUER, AUDIENCE, username_prefix="oidc:"), issuer.jwks)
    authenticator = Authenticator(NoKube(), ttl=30, oidc=verifier, token_review=False)  # type: ignore[arg-type]

    async def run() -> None:
        token = issuer.token(lifetime=5)
        caller = await authenticator.caller(f"Bearer {token}")
        assert caller.user == "oidc:alice"
        _, ttl = await authenticator._authenticate(token)
        assert ttl <= 5  # the 30 s cache must not outlive the token
        from tda_api.problems import Problem

        with pytest.raises(Problem) as caught:
            await authenticator.caller(f"Bearer {issuer.token(aud='someone-else')}")
        assert caught.value.status == 401

    asyncio.run(run())


def test_settings_refuse_an_oidc_issuer_without_audience_and_no_authenticator_at_all():
    with pytest.raises(ValueError, match="AUDIENCE"):
        Settings(oidc_issuer_url=ISSUER)
    with pytest.raises(ValueError, match="TOKEN_REVIEW"):
        Settings(token_review=False)
    assert Settings(oidc_issuer_url=ISSUER, oidc_audience=AUDIENCE, token_review=False).oidc_audience == AUDIENCE
