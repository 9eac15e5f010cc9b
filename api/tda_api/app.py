"""The FastAPI application: routers, error handling, metrics, and the shared parts' lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import links, problems, web
from .auth import AccessReviewer, Authenticator
from .cache import Cache
from .deps import AuthMiddleware, Facade
from .kube import PLURALS, Credentials, Kube
from .limits import BodyLimitMiddleware
from .metrics import MetricsMiddleware
from .oidc import OidcRules, OidcVerifier, http_jwks_fetcher
from .routers import health, jobs, streams
from .settings import Settings

DESCRIPTION = """Submit and follow TDAJobs and TDAStreams without speaking Kubernetes.

Every /v1/ request needs `Authorization: Bearer <token>`, a token the cluster accepts
(a service-account token, or an OIDC token the API server — or the facade's own
OIDC validator — trusts). Requests are made as
the caller (impersonation), so Kubernetes RBAC decides what each caller may do.
Errors are `application/problem+json`."""


def oidc_verifier(settings: Settings) -> OidcVerifier | None:
    """The direct JWT validator, when an issuer is configured."""
    if not settings.oidc_issuer_url or not settings.oidc_audience:
        return None
    rules = OidcRules(issuer=settings.oidc_issuer_url, audience=settings.oidc_audience,
                      username_claim=settings.oidc_username_claim, username_prefix=settings.oidc_username_prefix,
                      groups_claim=settings.oidc_groups_claim, groups_prefix=settings.oidc_groups_prefix)
    fetch = http_jwks_fetcher(settings.oidc_jwks_url, settings.oidc_issuer_url, settings.oidc_ca_file,
                              settings.request_timeout)
    return OidcVerifier(rules, fetch)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kube = Kube(Credentials(settings.kubeconfig), settings.request_timeout)
        cache = Cache(kube, PLURALS)
        app.state.facade = Facade(
            settings=settings,
            kube=kube,
            authenticator=Authenticator(kube, settings.token_review_ttl, oidc_verifier(settings), settings.token_review),
            reviewer=AccessReviewer(kube, settings.access_review_ttl),
            cache=cache,
        )
        cache.start()
        try:
            yield
        finally:
            await cache.stop()
            await kube.close()

    app = FastAPI(title="TDA Platform", version="v1", description=DESCRIPTION, lifespan=lifespan,
                  generate_unique_id_function=links.operation_id)
    problems.install(app)
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(streams.router)
    app.include_router(web.router)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(AuthMiddleware)
    app.add_middleware(MetricsMiddleware)  # outermost: counts 401s too
    return app
