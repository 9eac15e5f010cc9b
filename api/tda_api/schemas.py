"""Request and response bodies, built from the CRD models of :mod:`tda_operator.models`.

The specs are the operator's own models, so the facade's OpenAPI and the CRD schema come
from one source; only the envelope (name, labels) and the facade's own documents are new.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tda_contract import MAX_TDAJOB_NAME_LENGTH
from tda_operator.models import (
    DNS_SUBDOMAIN_PATTERN,
    MAX_TDASTREAM_NAME_LENGTH,
    TDAJob,
    TDAJobSpec,
    TDAJobStatus,
    TDAStream,
    TDAStreamSpec,
    TDAStreamStatus,
)


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _NewMetadata(_Envelope):
    labels: dict[str, str] = Field(
        default_factory=dict, json_schema_extra={"maxProperties": 64}, description="Kubernetes labels of the new object."
    )


class NewJobMetadata(_NewMetadata):
    name: str = Field(
        min_length=1, max_length=MAX_TDAJOB_NAME_LENGTH, pattern=DNS_SUBDOMAIN_PATTERN,
        description=f"Name of the new TDAJob (a lower-case DNS name of at most {MAX_TDAJOB_NAME_LENGTH} characters).",
    )


class NewStreamMetadata(_NewMetadata):
    name: str = Field(
        min_length=1, max_length=MAX_TDASTREAM_NAME_LENGTH, pattern=DNS_SUBDOMAIN_PATTERN,
        description=f"Name of the new TDAStream (a lower-case DNS name of at most {MAX_TDASTREAM_NAME_LENGTH} characters).",
    )


class JobCreate(_Envelope):
    """A TDAJob to create: its name and spec (the CRD's own spec model)."""

    metadata: NewJobMetadata
    spec: TDAJobSpec


class StreamCreate(_Envelope):
    """A TDAStream to create: its name and spec (the CRD's own spec model)."""

    metadata: NewStreamMetadata
    spec: TDAStreamSpec


class JobList(BaseModel):
    items: list[TDAJob]


class StreamList(BaseModel):
    items: list[TDAStream]


class DatasetSummary(BaseModel):
    intervalCounts: list[int] = Field(default_factory=list)
    maxPersistence: list[float] = Field(default_factory=list)


class JobResult(BaseModel):
    """One dataset's result. Deaths of essential classes (infinite) are null."""

    name: str = Field(description="The TDAJob.")
    dataset: str = Field(description="The dataset shown (?dataset=, default the first in order).")
    datasets: list[str] = Field(description="Every dataset with a result.")
    failed: list[str] = Field(description="Datasets that failed.")
    kind: str | None = Field(default=None, description="rips or cubical.")
    points: int | None = Field(default=None, description="Points (or cells) in the dataset.")
    summary: DatasetSummary
    diagrams: list[list[tuple[float, float | None]]] = Field(
        description="Per homology dimension, dimension 0 first: [birth, death] pairs (death null: essential)."
    )
    features: dict[str, Any] = Field(description="The spec's computation.features, one entry per dimension.")
    featureParameters: dict[str, Any] = Field(description="Grids and ranges needed to read the features.")


class StatusEvent(BaseModel):
    """The data of one Server-Sent Event: the resource's phase and progress."""

    name: str
    phase: str | None = None
    reason: str | None = None
    message: str | None = None
    progress: dict[str, Any] | None = None


class WindowFeatures(BaseModel):
    """The latest output record of one key (schema tda.io/window-features/v1)."""

    model_config = ConfigDict(extra="allow")


class LatestWindows(BaseModel):
    name: str
    topic: str
    keys: dict[str, WindowFeatures]


__all__ = [
    "JobCreate", "JobList", "JobResult", "LatestWindows", "StatusEvent", "StreamCreate", "StreamList",
    "TDAJob", "TDAJobStatus", "TDAStream", "TDAStreamStatus",
]
