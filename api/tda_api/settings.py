"""Settings of `tda-server`, from the environment (prefix ``TDA_API_``) and the command line."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TDA_API_", extra="ignore")

    host: str = Field(default="0.0.0.0", description="Address to listen on.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port for the API, health and metrics.")
    reload: bool = Field(default=False, description="Restart on code changes (development only).")
    kubeconfig: str | None = Field(
        default=None, description="Kubeconfig of the facade's own identity; in-cluster config when unset."
    )
    token_review_ttl: float = Field(default=30.0, ge=0, description="Seconds a TokenReview answer is reused.")
    access_review_ttl: float = Field(
        default=5.0, ge=0, description="Seconds a SubjectAccessReview answer is reused for cached reads."
    )
    request_timeout: float = Field(default=30.0, gt=0, description="Seconds for each API server call.")
    kafka_bootstrap: str | None = Field(
        default=None,
        description=(
            "host:port of the Kafka broker that stands for every in-cluster Strimzi bootstrap address "
            "(`<cluster>-kafka-bootstrap`), for reading stream outputs from outside the cluster."
        ),
    )
    latest_window_seconds: float = Field(
        default=2.0, gt=0, le=30, description="How long /streams/{name}/latest reads the output topic at most."
    )
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0, description="Comment lines that keep SSE alive.")
    token_review: bool = Field(
        default=True, description="Authenticate tokens with a TokenReview (those the OIDC validator does not take)."
    )
    oidc_issuer_url: str | None = Field(
        default=None, description="Verify JWTs of this issuer here, with its JWKS, instead of by TokenReview."
    )
    oidc_audience: str | None = Field(default=None, description="The `aud` such tokens must carry (the client id).")
    oidc_jwks_url: str | None = Field(
        default=None, description="Where the issuer publishes its keys; from its discovery document when unset."
    )
    oidc_ca_file: str | None = Field(default=None, description="CA bundle for the issuer's HTTPS endpoints.")
    oidc_username_claim: str = Field(default="sub", description="The claim that names the user.")
    oidc_username_prefix: str | None = Field(
        default=None,
        description="Prefix of usernames; unset: the issuer URL and '#' unless the claim is 'email'; '-': none.",
    )
    oidc_groups_claim: str | None = Field(default="groups", description="The claim listing the user's groups.")
    oidc_groups_prefix: str = Field(default="", description="Prefix of group names.")

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if self.oidc_issuer_url and not self.oidc_audience:
            raise ValueError("TDA_API_OIDC_AUDIENCE is required with TDA_API_OIDC_ISSUER_URL")
        if not self.token_review and not self.oidc_issuer_url:
            raise ValueError("TDA_API_TOKEN_REVIEW=false needs TDA_API_OIDC_ISSUER_URL: no token could be accepted")
        return self
