"""What one TDAStream's Flink job computes: the job document the operator passes as
``--job``, checked again here (the job trusts no argument it did not validate).

The document is built by ``tda_operator.streams.job_document`` from a TDAStream the
API server already validated; names from it end up inside SQL string literals and
JSON paths, so every one is re-checked against the same patterns the CRD enforces.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
RESOURCE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
BOOTSTRAP = re.compile(r"^[A-Za-z0-9.-]+:[0-9]{1,5}(,[A-Za-z0-9.-]+:[0-9]{1,5})*$")
DURATION = re.compile(r"^(?:[0-9]+(?:ms|s|m|h))+$")
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
FEATURES = ("totalPersistence", "entropy", "topPairs", "bettiNumbers", "changeScore")
WINDOW_TYPES = ("sliding", "tumbling", "count")


class SpecError(ValueError):
    """The job document is unusable; the message names the field, never its value."""


def duration_ms(text: Any, field: str) -> int:
    if not isinstance(text, str) or not DURATION.match(text):
        raise SpecError(f"{field}: expected a duration such as 500ms, 10s or 1m30s")
    return sum(int(n) * _UNIT_MS[unit] for n, unit in _DURATION_PART.findall(text))


def _name(value: Any, pattern: re.Pattern[str], field: str, max_length: int = 253) -> str:
    if not isinstance(value, str) or len(value) > max_length or not pattern.match(value):
        raise SpecError(f"{field}: not a valid name")
    return value


def _int(value: Any, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SpecError(f"{field}: expected an integer in [{lo}, {hi}]")
    return value


@dataclass(frozen=True)
class Window:
    type: str
    size_ms: int = 0
    slide_ms: int = 0
    size_records: int = 0
    slide_records: int = 0
    lateness_ms: int = 0


@dataclass(frozen=True)
class Computation:
    max_dimension: int
    threshold: float | None
    features: tuple[str, ...]
    top_pairs: int


@dataclass(frozen=True)
class JobSpec:
    stream: str
    namespace: str
    bootstrap_servers: str
    input_topic: str
    output_topic: str
    dead_letter_topic: str | None
    key_field: str
    timestamp_field: str | None
    value_fields: tuple[str, ...]
    window: Window
    embedding: tuple[int, int] | None  # (dimension, delay)
    computation: Computation
    checkpoint_interval_ms: int

    @property
    def ident(self) -> str:
        """Unique per stream: consumer group and transactional-id prefixes derive from it."""
        return f"tda-{self.namespace}-{self.stream}"

    @property
    def point_dimension(self) -> int:
        return self.embedding[0] if self.embedding else len(self.value_fields)


def _window(doc: Any) -> Window:
    if not isinstance(doc, dict) or doc.get("type") not in WINDOW_TYPES:
        raise SpecError("window.type: expected sliding, tumbling or count")
    kind = doc["type"]
    lateness = duration_ms(doc.get("allowedLateness", "0s"), "window.allowedLateness")
    if kind == "count":
        size = _int(doc.get("sizeRecords"), "window.sizeRecords", 2, 100_000)
        slide = _int(doc.get("slideRecords", size), "window.slideRecords", 1, size)
        return Window(kind, size_records=size, slide_records=slide, lateness_ms=lateness)
    size_ms = duration_ms(doc.get("size"), "window.size")
    slide_ms = size_ms if kind == "tumbling" else duration_ms(doc.get("slide"), "window.slide")
    if not 0 < slide_ms <= size_ms:
        raise SpecError("window.slide: must be positive and at most window.size")
    return Window(kind, size_ms=size_ms, slide_ms=slide_ms, lateness_ms=lateness)


def _computation(doc: Any) -> Computation:
    if not isinstance(doc, dict):
        raise SpecError("computation: expected an object")
    threshold = doc.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)
                                  or not 0 < threshold < float("inf")):
        raise SpecError("computation.threshold: expected a positive number")
    features = doc.get("features", list(FEATURES))
    if not isinstance(features, list) or not features or any(f not in FEATURES for f in features):
        raise SpecError(f"computation.features: expected a list drawn from {', '.join(FEATURES)}")
    return Computation(
        max_dimension=_int(doc.get("maxDimension", 1), "computation.maxDimension", 0, 3),
        threshold=float(threshold) if threshold is not None else None,
        features=tuple(dict.fromkeys(features)),
        top_pairs=_int(doc.get("topPairs", 3), "computation.topPairs", 1, 100),
    )


def parse(text: str) -> JobSpec:
    """The job document (JSON) as a JobSpec, or SpecError naming the first bad field."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise SpecError("--job: not a JSON document") from None
    if not isinstance(doc, dict):
        raise SpecError("--job: expected a JSON object")
    topics = doc.get("topics") or {}
    record = doc.get("record") or {}
    values = record.get("valueFields", ["value"])
    if not isinstance(values, list) or not 1 <= len(values) <= 64:
        raise SpecError("record.valueFields: expected 1 to 64 field names")
    embedding = doc.get("embedding")
    if embedding is not None:
        if not isinstance(embedding, dict) or len(values) != 1:
            raise SpecError("embedding: needs exactly one record.valueFields entry (a scalar series)")
        embedding = (_int(embedding.get("dimension", 3), "embedding.dimension", 1, 64),
                     _int(embedding.get("delay", 1), "embedding.delay", 1, 10_000))
    timestamp = record.get("timestampField")
    dead_letter = topics.get("deadLetter")
    return JobSpec(
        stream=_name(doc.get("stream"), RESOURCE_NAME, "stream", 63),
        namespace=_name(doc.get("namespace"), RESOURCE_NAME, "namespace", 63),
        bootstrap_servers=_name(doc.get("bootstrapServers"), BOOTSTRAP, "bootstrapServers", 1024),
        input_topic=_name(topics.get("input"), TOPIC_NAME, "topics.input"),
        output_topic=_name(topics.get("output"), TOPIC_NAME, "topics.output"),
        dead_letter_topic=_name(dead_letter, TOPIC_NAME, "topics.deadLetter") if dead_letter else None,
        key_field=_name(record.get("keyField", "key"), FIELD_NAME, "record.keyField", 128),
        timestamp_field=_name(timestamp, FIELD_NAME, "record.timestampField", 128) if timestamp else None,
        value_fields=tuple(_name(v, FIELD_NAME, "record.valueFields", 128) for v in values),
        window=_window(doc.get("window")),
        embedding=embedding,
        computation=_computation(doc.get("computation") or {}),
        checkpoint_interval_ms=duration_ms(doc.get("checkpointInterval", "10s"), "checkpointInterval"),
    )
