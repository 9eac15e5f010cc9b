"""Settings of `tda-server`, from the environment (prefix ``TDA_API_``) and the command line."""

from __future__ import annotations

from pydantic import Field
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
