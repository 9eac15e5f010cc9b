"""The TDAJob and TDAStream resources as pydantic models.

These models are the single source of the CRD schemas (see :mod:`tda_operator.crd`):
every ``description`` is what ``kubectl explain`` shows, and every constraint the
OpenAPI schema or CEL can express is enforced by the API server before the operator
sees the object. The operator parses live objects with the same models.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, TypeVar

import tda_contract
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema
from tda_contract import DATA_MOUNT_DIR, MAX_SHARDS, MAX_TDAJOB_NAME_LENGTH, OUTPUT_MOUNT_DIR

GROUP = tda_contract.GROUP
VERSION = tda_contract.VERSION
API_VERSION = tda_contract.API_VERSION

# Caps that keep objects well inside etcd's 1.5 MiB and a ConfigMap's 1 MiB, and keep
# the CEL cost estimate of `self == oldSelf` on spec.input within the API server budget.
MAX_INLINE_POINTS = 5000
MAX_INLINE_DIMENSION = 64
MAX_URL_LENGTH = 2048
MAX_NAME_LENGTH = 253

URL_PATTERN = r"^(s3|https?|file)://.+"
OUTPUT_URL_PATTERN = r"^(s3|file)://.+"
#: file:// URLs name a path on the mounted volume: no '..', '.' or empty segment, no escapes.
FILE_INPUT_PATTERN = rf"^file://{DATA_MOUNT_DIR}/"
FILE_OUTPUT_PATTERN = rf"^file://{OUTPUT_MOUNT_DIR}/"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
PRIMES_BELOW_100 = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97)


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, Any]:
    """One ``x-kubernetes-validations`` entry (a CEL rule and the message users see)."""
    entry: dict[str, Any] = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


# A Kubernetes resource quantity ("500m", "2Gi", 4): integer or string, like core/v1.
Quantity = Annotated[
    int | str,
    WithJsonSchema(
        {
            "x-kubernetes-int-or-string": True,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$",
        }
    ),
]


class _Model(BaseModel):
    # populate_by_name: the operator builds models from live objects (camelCase keys).
    model_config = ConfigDict(extra="ignore", populate_by_name=True, use_enum_values=True)


# --------------------------------------------------------------------------- TDAJob spec


class InputFormat(enum.StrEnum):
    npy = "npy"
    csv = "csv"
    txt = "txt"
    distance_matrix = "distance-matrix"
    lower_distance_matrix = "lower-distance-matrix"
    image_npy = "image-npy"


class ComplexKind(enum.StrEnum):
    rips = "rips"
    cubical = "cubical"


class Metric(enum.StrEnum):
    euclidean = "euclidean"
    manhattan = "manhattan"
    chebyshev = "chebyshev"
    cosine = "cosine"


class Feature(enum.StrEnum):
    diagrams = "diagrams"
    betti_curves = "bettiCurves"
    landscapes = "landscapes"
    persistence_images = "persistenceImages"
    entropy = "entropy"


def _file_url_rule(field: str, path: str, root: str, volume: str) -> dict[str, Any]:
    """CEL: a file:// URL in ``field`` (shown as ``path``) lies beneath ``root``, with no path tricks."""
    value = f"self.{field}"
    return cel(
        f"!has({value}) || !{value}.startsWith('file://') || ({value}.startsWith('file://{root}/') && "
        f"!{value}.contains('/../') && !{value}.endsWith('/..') && !{value}.contains('/./') && "
        f"!{value}.substring(7).contains('//') && !{value}.contains('%') && !{value}.contains('\\\\'))",
        f"{path}: a file:// URL must lie beneath file://{root}/ (where {volume} is mounted), with no "
        "'..', '.', '//', '%' or backslash in the path",
        f".{field}",
    )


class InlineData(_Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.points.all(p, size(p) == size(self.points[0]))",
                    "spec.input.inline.points: every row must have the same number of coordinates",
                    ".points",
                )
            ]
        }
    )

    points: list[Annotated[list[float], Field(min_length=1, max_length=MAX_INLINE_DIMENSION)]] = Field(
        min_length=1,
        max_length=MAX_INLINE_POINTS,
        description=(
            f"Point cloud as a list of coordinate rows (at most {MAX_INLINE_POINTS} points of at most "
            f"{MAX_INLINE_DIMENSION} coordinates; larger data belongs in url or datasets). With format "
            "distance-matrix the rows are the rows of a square distance matrix."
        ),
    )


class DatasetsSource(_Model):
    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [_file_url_rule("urlPrefix", "spec.input.datasets.urlPrefix", DATA_MOUNT_DIR, "spec.input.volume")]}
    )

    urlPrefix: str = Field(
        max_length=MAX_URL_LENGTH,
        pattern=URL_PATTERN,
        description=(
            "Location under which every matching object is one dataset with its own result: "
            "s3://bucket/prefix/, https://host/dir/ (an index listing) or file:///data/dir/ "
            "(a directory on spec.input.volume)."
        ),
    )
    pattern: str = Field(
        default="*",
        max_length=256,
        description="Shell-style glob the object names (relative to urlPrefix) must match, e.g. '*.npy'.",
    )
    limit: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Take at most this many datasets (in name order); default all (up to 1,000,000).",
    )


class VolumeSource(_Model):
    claimName: str = Field(
        max_length=MAX_NAME_LENGTH,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="PersistentVolumeClaim mounted in every worker pod (input: read-only at /data).",
    )


class TDAJobInput(_Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "[has(self.inline), has(self.url), has(self.datasets)].filter(x, x).size() == 1",
                    "spec.input: set exactly one of inline, url or datasets",
                ),
                cel(
                    "!(has(self.url) && self.url.startsWith('file://')) || has(self.volume)",
                    "spec.input.volume is required for a file:// url (the PVC that holds the file)",
                    ".volume",
                ),
                cel(
                    "!(has(self.datasets) && self.datasets.urlPrefix.startsWith('file://')) || has(self.volume)",
                    "spec.input.volume is required for a file:// urlPrefix (the PVC that holds the files)",
                    ".volume",
                ),
                _file_url_rule("url", "spec.input.url", DATA_MOUNT_DIR, "spec.input.volume"),
            ]
        }
    )

    inline: InlineData | None = Field(default=None, description="Small data carried in the resource itself.")
    url: str | None = Field(
        default=None,
        max_length=MAX_URL_LENGTH,
        pattern=URL_PATTERN,
        description=(
            "One dataset: s3://bucket/key, https://host/path (http:// only where the platform allows it) or "
            "file:///data/path (on spec.input.volume)."
        ),
    )
    datasets: DatasetsSource | None = Field(
        default=None, description="Many datasets under one prefix; each gets its own result."
    )
    format: InputFormat | None = Field(
        default=None,
        description="How to read each dataset. Default: from the file extension (.npy, .csv, .txt); points for inline.",
    )
    credentialsSecret: str | None = Field(
        default=None,
        max_length=MAX_NAME_LENGTH,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description=(
            "Secret in this namespace with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally "
            "AWS_ENDPOINT_URL and AWS_DEFAULT_REGION, for s3:// inputs and outputs."
        ),
    )
    volume: VolumeSource | None = Field(default=None, description="Volume holding file:// inputs.")


class Computation(_Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.complex != 'cubical' || !has(self.threshold)",
                    "spec.computation.threshold applies to rips only; remove it for cubical",
                    ".threshold",
                ),
            ]
        }
    )

    complex: ComplexKind = Field(
        default=ComplexKind.rips,
        description="Filtration: rips (Vietoris-Rips of a point cloud or distance matrix) or cubical (grey-scale image).",
    )
    maxDimension: int = Field(default=1, ge=0, le=4, description="Highest homology dimension computed (0 to 4).")
    threshold: float | None = Field(
        default=None,
        gt=0,
        description="Largest edge length in the Rips filtration; default: the enclosing radius (no cap).",
    )
    coefficient: int = Field(
        default=2,
        json_schema_extra={"enum": list(PRIMES_BELOW_100)},
        description="Prime p of the coefficient field Z/pZ (a prime below 100).",
    )
    metric: Metric = Field(default=Metric.euclidean, description="Distance between points (rips on point clouds).")
    features: list[Feature] = Field(
        default_factory=lambda: [Feature.diagrams],
        min_length=1,
        max_length=len(Feature),
        json_schema_extra={"x-kubernetes-list-type": "set", "default": [Feature.diagrams.value]},
        description="What to write per dataset besides the summary: diagrams, bettiCurves, landscapes, persistenceImages, entropy.",
    )


class ResourceList(_Model):
    cpu: Quantity | None = Field(default=None, description="CPU, e.g. 500m or 2.")
    memory: Quantity | None = Field(default=None, description="Memory, e.g. 512Mi or 4Gi.")


class Resources(_Model):
    requests: ResourceList | None = Field(default=None, description="What each worker pod is guaranteed.")
    limits: ResourceList | None = Field(default=None, description="What each worker pod may use at most.")


class Output(_Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _file_url_rule("url", "spec.output.url", OUTPUT_MOUNT_DIR, "spec.output.volume"),
                cel(
                    "!(has(self.url) && self.url.startsWith('file://')) || has(self.volume)",
                    "spec.output.volume is required for a file:// url (the PVC the results are written to)",
                    ".volume",
                ),
            ]
        }
    )

    url: str | None = Field(
        default=None,
        max_length=MAX_URL_LENGTH,
        pattern=OUTPUT_URL_PATTERN,
        description=(
            f"Where full results go: s3://bucket/prefix/ (with spec.input.credentialsSecret) or "
            f"file://{OUTPUT_MOUNT_DIR}/prefix/ (on spec.output.volume). Default: the ConfigMaps "
            "<name>-result-<index> owned by the TDAJob (small results only)."
        ),
    )
    volume: VolumeSource | None = Field(
        default=None,
        description=f"PersistentVolumeClaim mounted read-write at {OUTPUT_MOUNT_DIR} (for file:// outputs).",
    )


def _immutable_once_created(field: str) -> dict[str, Any]:
    """Transition rule for an optional field: neither added, removed nor changed."""
    return cel(
        f"has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || self.{field} == oldSelf.{field})",
        f"spec.{field} is immutable (the pods' template and index layout are fixed at creation)",
        f".{field}",
    )


class TDAJobSpec(_Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _immutable_once_created(field)
                for field in ("shards", "resources", "output", "backoffLimitPerDataset", "priorityClassName")
            ]
        }
    )

    input: TDAJobInput = Field(
        description="The data to analyse. Immutable after creation.",
        json_schema_extra={"x-kubernetes-validations": [cel("self == oldSelf", "spec.input is immutable")]},
    )
    computation: Computation = Field(
        default_factory=Computation,
        description="What to compute. Immutable after creation.",
        # A schema default, so the stored object always has it and `oldSelf` exists.
        json_schema_extra={
            "default": {},
            "x-kubernetes-validations": [cel("self == oldSelf", "spec.computation is immutable")],
        },
    )
    parallelism: int = Field(default=1, ge=1, le=1000, description="Worker pods running at once.")
    shards: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SHARDS,
        description=(
            "Number of pods (Job indexes) the datasets are split over; pod i takes datasets i, i+shards, ... "
            "Default: spec.parallelism for datasets under a prefix, else one."
        ),
    )
    resources: Resources | None = Field(
        default=None,
        description="Worker pod resources. Default: sized from the core's memory estimate for the largest input.",
    )
    output: Output = Field(
        default_factory=Output, json_schema_extra={"default": {}}, description="Where results are written."
    )
    priorityClassName: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description=(
            "PriorityClass of the worker pods (e.g. a low one for background batch work). The system-* "
            "classes are for cluster components and refused. Immutable after creation."
        ),
        json_schema_extra={"x-kubernetes-validations": [cel(
            "!self.startsWith('system-')",
            "spec.priorityClassName: the system-* classes are reserved for cluster components; "
            "use a PriorityClass of your cluster")]},
    )
    backoffLimitPerDataset: int = Field(
        default=2,
        ge=0,
        le=20,
        description=(
            "Retries of a pod (Job index) after a transient failure before its datasets count as failed. "
            "Invalid input is never retried."
        ),
    )
    activeDeadlineSeconds: int | None = Field(
        default=None,
        ge=1,
        description="Fail the job with reason DeadlineExceeded when it has run this long (suspended time not counted).",
    )
    ttlSecondsAfterFinished: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Delete the child Job and its pods this long after it finished. The TDAJob itself, its "
            "status and its result ConfigMaps stay until the TDAJob is deleted."
        ),
    )
    suspend: bool = Field(
        default=False,
        description="Pause: no new pods start and running pods are stopped; set to false to resume (Kueue sets it too).",
    )


# ------------------------------------------------------------------------- TDAJob status


class Phase(enum.StrEnum):
    pending = "Pending"
    running = "Running"
    succeeded = "Succeeded"
    failed = "Failed"
    suspended = "Suspended"


TERMINAL_PHASES = frozenset({Phase.succeeded.value, Phase.failed.value})


class ConditionStatus(enum.StrEnum):
    true = "True"
    false = "False"
    unknown = "Unknown"


class Condition(_Model):
    type: str = Field(max_length=316, description="Ready, Complete or Failed.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(default="", max_length=1024, description="CamelCase reason of the last transition.")
    message: str = Field(default="", max_length=32768, description="Human-readable details.")
    lastTransitionTime: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When status last changed.",
    )
    observedGeneration: int | None = Field(default=None, ge=0, description="Spec generation this reflects.")


def conditions_field(description: str) -> Any:
    """Conditions keyed by type, so server-side apply merges them one by one."""
    return Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
        description=description,
    )


class Progress(_Model):
    total: int = Field(default=0, ge=0, description="Datasets in the job.")
    succeeded: int = Field(default=0, ge=0, description="Datasets computed.")
    failed: int = Field(default=0, ge=0, description="Datasets that failed for good.")
    running: int = Field(default=0, ge=0, description="Datasets held by running pods.")
    text: str = Field(default="", description="succeeded/total, shown by kubectl get.")


class Summary(_Model):
    intervalCounts: list[int] = Field(
        default_factory=list, description="Intervals of positive persistence per dimension, summed over datasets."
    )
    maxPersistence: list[float] = Field(
        default_factory=list, description="Largest finite persistence per dimension over all datasets."
    )
    computeSeconds: float = Field(default=0.0, ge=0, description="Compute time summed over pods.")


class ResultRef(_Model):
    kind: str = Field(description="ConfigMap (one per pod index) or ObjectStore.")
    url: str | None = Field(default=None, description="Prefix of the result objects (ObjectStore).")
    namePrefix: str | None = Field(default=None, description="ConfigMap name prefix; the index follows (ConfigMap).")
    shards: int = Field(default=0, ge=0, description="Number of pod indexes, each with its own result.")


class TDAJobStatus(_Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(oldSelf.phase) || !(oldSelf.phase in ['Succeeded', 'Failed']) || "
                    "(has(self.phase) && self.phase == oldSelf.phase)",
                    "status.phase: a finished TDAJob (Succeeded or Failed) keeps its phase",
                    ".phase",
                )
            ]
        }
    )

    phase: Phase | None = Field(default=None, description="Pending, Running, Succeeded, Failed or Suspended.")
    reason: str | None = Field(
        default=None,
        description="Why the phase is what it is: InvalidInput, DeadlineExceeded, Infeasible, BackoffLimitExceeded, ...",
    )
    message: str | None = Field(default=None, description="Human-readable details of the reason.")
    conditions: list[Condition] = conditions_field("Ready, Complete and Failed, each with observedGeneration.")
    progress: Progress | None = Field(default=None, description="Dataset counts.")
    summary: Summary | None = Field(default=None, description="Aggregate of the pods' summaries.")
    resultRef: ResultRef | None = Field(default=None, description="Where the full results are.")
    jobName: str | None = Field(default=None, description="The child Indexed Job.")
    startTime: str | None = Field(default=None, json_schema_extra={"format": "date-time"}, description="When pods first ran.")
    completionTime: str | None = Field(
        default=None, json_schema_extra={"format": "date-time"}, description="When the job finished."
    )
    observedGeneration: int | None = Field(default=None, ge=0, description="Spec generation the status reflects.")


class ObjectMeta(_Model):
    name: str = ""
    namespace: str = "default"
    uid: str = ""
    generation: int = 0
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creationTimestamp: str | None = None


#: Rules on the whole object (CEL may read metadata.name there).
TDAJOB_OBJECT_RULES = [
    cel(
        f"size(self.metadata.name) <= {MAX_TDAJOB_NAME_LENGTH}",
        f"metadata.name: at most {MAX_TDAJOB_NAME_LENGTH} characters (the worker pods are named "
        "<name>-<index>-<suffix> within 63); choose a shorter name",
    )
]


class TDAJob(_Model):
    """A batch persistent-homology computation over one or many datasets."""

    apiVersion: str = API_VERSION
    kind: str = "TDAJob"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TDAJobSpec
    status: TDAJobStatus = Field(default_factory=TDAJobStatus)


# ------------------------------------------------------------------------------ TDAStream

KAFKA_TOPIC_PATTERN = r"^[a-zA-Z0-9._-]+$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h))+$"
FIELD_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
#: TDAStream names become KafkaTopic and FlinkDeployment names with short suffixes.
MAX_TDASTREAM_NAME_LENGTH = 45

# A duration as Kubernetes CEL reads it ("500ms", "10s", "2m", "1h30m").
Duration = Annotated[str, Field(max_length=32, pattern=DURATION_PATTERN)]


class TopicRetention(enum.StrEnum):
    delete = "Delete"
    retain = "Retain"


class WindowType(enum.StrEnum):
    sliding = "sliding"
    tumbling = "tumbling"
    count_ = "count"  # `count` would shadow str.count


class StreamFeature(enum.StrEnum):
    total_persistence = "totalPersistence"
    entropy = "entropy"
    top_pairs = "topPairs"
    betti_numbers = "bettiNumbers"
    change_score = "changeScore"


class UpgradeMode(enum.StrEnum):
    stateless = "stateless"
    savepoint = "savepoint"
    last_state = "last-state"


class FlinkVersion(enum.StrEnum):
    """What the pinned Flink Kubernetes Operator API (1.10) accepts as spec.flinkVersion."""

    v1_18 = "v1_18"
    v1_19 = "v1_19"
    v1_20 = "v1_20"


class Topic(_Model):
    topic: str = Field(max_length=249, pattern=KAFKA_TOPIC_PATTERN, description="Kafka topic name.")
    create: bool = Field(default=True, description="Create it as a Strimzi KafkaTopic owned by this TDAStream.")
    partitions: int = Field(default=6, ge=1, le=10_000, description="Partitions (when created).")
    replicas: int = Field(default=3, ge=1, le=32, description="Replication factor (when created).")
    config: dict[str, Annotated[str, Field(max_length=1024, description="A topic configuration value.")]] = Field(
        default_factory=dict,
        json_schema_extra={"maxProperties": 64},
        description="Topic configuration (when created), e.g. retention.ms: '604800000'.",
    )


_STREAM_KAFKA_RULES: list[Any] = [
    *(cel(f"self.{t}.topic == oldSelf.{t}.topic", f"spec.kafka.{t}.topic is immutable", f".{t}.topic")
      for t in ("input", "output")),
    cel("self.input.topic != self.output.topic",
        "spec.kafka.output.topic must differ from spec.kafka.input.topic", ".output.topic"),
    cel("!has(self.deadLetter) || (self.deadLetter.topic != self.input.topic && "
        "self.deadLetter.topic != self.output.topic)",
        "spec.kafka.deadLetter.topic must differ from the input and output topics", ".deadLetter.topic"),
]


class StreamKafka(_Model):
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": _STREAM_KAFKA_RULES})

    clusterRef: str = Field(
        max_length=63, pattern=DNS_LABEL_PATTERN,
        description="The Strimzi Kafka cluster (label strimzi.io/cluster of the KafkaTopics).",
    )
    bootstrapServers: str = Field(
        default="", max_length=1024, pattern=r"^$|^[A-Za-z0-9.-]+:[0-9]{1,5}(,[A-Za-z0-9.-]+:[0-9]{1,5})*$",
        description="host:port list; default <clusterRef>-kafka-bootstrap:9092.",
    )
    input: Topic = Field(description="Where the records come from.")
    output: Topic = Field(description="Where the per-window features go.")
    deadLetter: Topic | None = Field(default=None, description="Where malformed records go, with the reason.")
    topicRetention: TopicRetention = Field(
        default=TopicRetention.delete,
        description="Delete: created topics go with the TDAStream. Retain: they are detached (strimzi.io/managed=false) first.",
    )


class RecordFormat(enum.StrEnum):
    json = "json"


class StreamRecord(_Model):
    format: RecordFormat = Field(default=RecordFormat.json, description="Encoding of the input records.")
    keyField: str = Field(default="key", max_length=128, pattern=FIELD_NAME_PATTERN,
                          description="Field that names the series (one window sequence per key).")
    timestampField: str | None = Field(
        default=None, max_length=128, pattern=FIELD_NAME_PATTERN,
        description="Event-time field (epoch milliseconds); default: the Kafka record timestamp.",
    )
    valueFields: list[Annotated[str, Field(max_length=128, pattern=FIELD_NAME_PATTERN)]] = Field(
        default_factory=lambda: ["value"], min_length=1, max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "set", "default": ["value"]},
        description="Numeric fields: one scalar series, or the coordinates of each record as a point.",
    )


class StreamWindow(_Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("self.type == 'count' || (has(self.size) && has(self.slide) || self.type == 'tumbling' && has(self.size))",
                    "spec.window: time windows need size (and slide unless tumbling)"),
                cel("self.type != 'count' || has(self.sizeRecords)",
                    "spec.window.sizeRecords is required for count windows", ".sizeRecords"),
                cel("!has(self.size) || duration(self.size) > duration('0s')",
                    "spec.window.size must be positive", ".size"),
                cel("!has(self.slide) || duration(self.slide) > duration('0s')",
                    "spec.window.slide must be positive", ".slide"),
                cel("!has(self.size) || !has(self.slide) || duration(self.slide) <= duration(self.size)",
                    "spec.window.slide must not exceed spec.window.size", ".slide"),
                cel("!has(self.sizeRecords) || !has(self.slideRecords) || self.slideRecords <= self.sizeRecords",
                    "spec.window.slideRecords must not exceed spec.window.sizeRecords", ".slideRecords"),
                cel("!has(self.size) || duration(self.size) <= duration('24h')",
                    "spec.window.size may be at most 24h", ".size"),
            ]
        }
    )

    type: WindowType = Field(default=WindowType.sliding, description="sliding, tumbling or count.")
    size: Duration | None = Field(default=None, description="Window length in event time (sliding, tumbling), e.g. 10s.")
    slide: Duration | None = Field(default=None, description="Time between window starts (sliding), e.g. 2s.")
    sizeRecords: int | None = Field(default=None, ge=2, le=100_000, description="Records per window (count).")
    slideRecords: int | None = Field(default=None, ge=1, le=100_000, description="Records between window starts (count).")
    allowedLateness: Duration = Field(default="0s", description="How late a record may be and still count.")


class StreamEmbedding(_Model):
    dimension: int = Field(default=3, ge=1, le=64, description="Delay-embedding dimension.")
    delay: int = Field(default=1, ge=1, le=10_000, description="Delay between coordinates, in records.")


class StreamComputation(_Model):
    maxDimension: int = Field(default=1, ge=0, le=3, description="Highest homology dimension per window.")
    threshold: float | None = Field(default=None, gt=0, description="Rips threshold; also where bettiNumbers are read.")
    features: list[StreamFeature] = Field(
        default_factory=lambda: list(StreamFeature),
        min_length=1, max_length=len(StreamFeature),
        json_schema_extra={"x-kubernetes-list-type": "set", "default": [f.value for f in StreamFeature]},
        description="Features per window: totalPersistence, entropy, topPairs, bettiNumbers, changeScore.",
    )
    topPairs: int = Field(default=3, ge=1, le=100, description="How many of the most persistent pairs topPairs lists.")


class FlinkProcess(_Model):
    resources: ResourceList | None = Field(default=None, description="cpu and memory of each process.")
    replicas: int | None = Field(default=None, ge=1, le=1000, description="Task managers (default: from parallelism).")


class StreamFlink(_Model):
    image: str = Field(default="", max_length=512, description="Flink image with PyFlink and tda_core; default: the platform's.")
    version: FlinkVersion = Field(default=FlinkVersion.v1_20, description="flinkVersion of the FlinkDeployment.")
    parallelism: int = Field(default=2, ge=1, le=1024, description="Parallelism of the job.")
    taskManager: FlinkProcess = Field(default_factory=FlinkProcess, json_schema_extra={"default": {}},
                                      description="Task manager resources.")
    jobManager: FlinkProcess = Field(default_factory=FlinkProcess, json_schema_extra={"default": {}},
                                     description="Job manager resources.")
    checkpointInterval: Duration = Field(default="10s", description="Checkpoints (and transactional output) this often.")
    upgradeMode: UpgradeMode = Field(default=UpgradeMode.savepoint, description="How spec changes roll the job.")


class TDAStreamSpec(_Model):
    kafka: StreamKafka = Field(description="Where records come from and features go.")
    record: StreamRecord = Field(default_factory=StreamRecord, json_schema_extra={"default": {}},
                                 description="How to read an input record.")
    window: StreamWindow = Field(description="Windows over each key's records.")
    embedding: StreamEmbedding | None = Field(
        default=None, description="Delay embedding of a scalar series; omit when each record is a point.",
    )
    computation: StreamComputation = Field(default_factory=StreamComputation, json_schema_extra={"default": {}},
                                           description="What to compute per window.")
    flink: StreamFlink = Field(default_factory=StreamFlink, json_schema_extra={"default": {}},
                               description="The Flink job that computes.")
    suspend: bool = Field(default=False, description="Stop the job (with a savepoint) while true.")


class StreamPhase(enum.StrEnum):
    pending = "Pending"
    deploying = "Deploying"
    running = "Running"
    suspended = "Suspended"
    failed = "Failed"


class StreamTopicsStatus(_Model):
    input: str | None = Field(default=None, description="Ready, NotReady or External (not created here).")
    output: str | None = Field(default=None, description="Ready, NotReady or External.")
    deadLetter: str | None = Field(default=None, description="Ready, NotReady or External.")


class StreamFlinkStatus(_Model):
    lifecycleState: str | None = Field(default=None, description="The FlinkDeployment's lifecycleState.")
    jobState: str | None = Field(default=None, description="The FlinkDeployment's jobStatus.state.")
    jobId: str | None = Field(default=None, description="The Flink job id.")


class TDAStreamStatus(_Model):
    phase: StreamPhase | None = Field(default=None, description="Pending, Deploying, Running, Suspended or Failed.")
    reason: str | None = Field(default=None, description="Why the phase is what it is.")
    message: str | None = Field(default=None, description="Human-readable details.")
    conditions: list[Condition] = conditions_field("Ready and Failed, with observedGeneration.")
    topics: StreamTopicsStatus | None = Field(default=None, description="State of each topic.")
    flink: StreamFlinkStatus | None = Field(default=None, description="State of the Flink job.")
    flinkDeploymentName: str | None = Field(default=None, description="The child FlinkDeployment.")
    observedGeneration: int | None = Field(default=None, ge=0, description="Spec generation the status reflects.")


TDASTREAM_OBJECT_RULES = [
    cel(
        f"size(self.metadata.name) <= {MAX_TDASTREAM_NAME_LENGTH}",
        f"metadata.name: at most {MAX_TDASTREAM_NAME_LENGTH} characters (the FlinkDeployment and its "
        "services are named after it); choose a shorter name",
    )
]


class TDAStream(_Model):
    """Topological features over windows of a Kafka stream."""

    apiVersion: str = API_VERSION
    kind: str = "TDAStream"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TDAStreamSpec
    status: TDAStreamStatus = Field(default_factory=TDAStreamStatus)


def to_k8s(model: BaseModel) -> dict[str, Any]:
    """Plain JSON-compatible dict as the API server would store it (no nulls)."""
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


# ------------------------------------------------------------------ objects the models cannot read

M = TypeVar("M", bound=BaseModel)
#: Specs that stand in for one the models cannot read, so the object still gets a status.
TDAJOB_STAND_IN_SPEC: dict[str, Any] = {"input": {"inline": {"points": [[0.0]]}}, "suspend": True}
TDASTREAM_STAND_IN_SPEC: dict[str, Any] = {
    "kafka": {"clusterRef": "none", "input": {"topic": "none-in", "create": False},
              "output": {"topic": "none-out", "create": False}},
    "window": {"type": "tumbling", "size": "1s"},
    "suspend": True,
}
MAX_UNREADABLE_FIELDS = 5


def read_stored(model: type[M], body: dict[str, Any], stand_in_spec: dict[str, Any]) -> tuple[M, list[str]]:
    """The object as the model, and where it breaks the model (empty when it does not).

    The API server validates what it stores against the CRD of the day, but an object stored
    under an older schema, or written while validation was looser, can still break it. Such
    an object is read with a stand-in spec (and, if needed, no status) so that it can be told
    why it will not run, instead of being dropped or crashing the watch.
    """
    metadata = body.get("metadata") or {}
    try:
        return model.model_validate(body), []
    except ValidationError:
        pass
    try:  # a status of an older schema is only the operator's own record: it is written afresh
        return model.model_validate({"metadata": metadata, "spec": body.get("spec")}), []
    except ValidationError as error:
        fields = unreadable_fields(error)
    for status in (body.get("status"), None):
        try:
            stand_in = {"metadata": metadata, "spec": stand_in_spec}
            return model.model_validate(stand_in | ({"status": status} if status else {})), fields
        except ValidationError:
            continue
    raise AssertionError("the stand-in spec must be valid")  # metadata is the API server's own


def unreadable_fields(error: ValidationError) -> list[str]:
    """Where an object breaks the model, as field paths (never the values found there)."""
    paths: list[str] = []
    for problem in error.errors():
        path = ".".join(str(part) for part in problem["loc"] if not isinstance(part, int))
        if path and path not in paths:
            paths.append(path)
    return paths


def unreadable_message(fields: list[str]) -> str:
    shown = ", ".join(fields[:MAX_UNREADABLE_FIELDS]) + (", ..." if len(fields) > MAX_UNREADABLE_FIELDS else "")
    return (f"the stored object does not match this platform's schema at {shown} (stored under an older "
            "schema?); delete it and create it again with a valid spec")
