"""The Flink job's pure parts: its job document, the SQL it runs, the features per window."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import tda_core
from tda_operator import streams
from tda_operator.models import TDAStream
from tda_stream import features, sql
from tda_stream.job import epoch_ms, window_values
from tda_stream.spec import SpecError, duration_ms, parse

pytestmark = pytest.mark.unit

SCHEMAS = Path(features.__file__).parent / "schemas"
EXAMPLE = {
    "apiVersion": "tda.io/v1alpha1", "kind": "TDAStream",
    "metadata": {"name": "sensors", "namespace": "lab", "uid": "u", "generation": 1},
    "spec": {
        "kafka": {"clusterRef": "my-cluster", "input": {"topic": "sensors"}, "output": {"topic": "sensors-tda"},
                  "deadLetter": {"topic": "sensors-dlq"}},
        "record": {"keyField": "sensor", "timestampField": "ts", "valueFields": ["value"]},
        "window": {"type": "sliding", "size": "10s", "slide": "2s", "allowedLateness": "1s"},
        "embedding": {"dimension": 3, "delay": 1},
        "computation": {"maxDimension": 1, "threshold": 2.0},
    },
}


def document(**changes: object) -> dict:
    doc = streams.job_document(TDAStream.model_validate(EXAMPLE))
    doc.update(changes)
    return doc


def test_the_operator_s_job_document_is_what_the_job_reads():
    spec = parse(json.dumps(document()))
    assert (spec.stream, spec.namespace, spec.ident) == ("sensors", "lab", "tda-lab-sensors")
    assert (spec.input_topic, spec.output_topic, spec.dead_letter_topic) == ("sensors", "sensors-tda", "sensors-dlq")
    assert spec.bootstrap_servers == "my-cluster-kafka-bootstrap:9092"
    assert (spec.key_field, spec.timestamp_field, spec.value_fields) == ("sensor", "ts", ("value",))
    assert (spec.window.type, spec.window.size_ms, spec.window.slide_ms, spec.window.lateness_ms) == \
        ("sliding", 10_000, 2_000, 1_000)
    assert spec.embedding == (3, 1) and spec.point_dimension == 3
    assert spec.computation.threshold == 2.0 and "changeScore" in spec.computation.features
    assert spec.checkpoint_interval_ms == 10_000


@pytest.mark.parametrize(("changes", "field"), [
    ({"stream": "Bad'Name"}, "stream"),
    ({"topics": {"input": "in' OR '1", "output": "o"}}, "topics.input"),
    ({"record": {"keyField": "k'); DROP", "valueFields": ["v"]}}, "record.keyField"),
    ({"record": {"keyField": "k", "valueFields": ["$['x']"]}}, "record.valueFields"),
    ({"bootstrapServers": "host:9092'"}, "bootstrapServers"),
    ({"window": {"type": "sliding", "size": "1s", "slide": "2s"}}, "window.slide"),
    ({"window": {"type": "hourly"}}, "window.type"),
    ({"computation": {"features": ["everything"]}}, "computation.features"),
    ({"computation": {"maxDimension": 9}}, "computation.maxDimension"),
    ({"checkpointInterval": "soon"}, "checkpointInterval"),
])
def test_a_bad_job_document_is_refused_naming_the_field_not_the_value(changes, field):
    with pytest.raises(SpecError) as refused:
        parse(json.dumps(document(**changes)))
    assert str(refused.value).startswith(field)
    assert "'" not in str(refused.value) and "DROP" not in str(refused.value)


def test_durations_and_intervals():
    assert duration_ms("1m30s", "f") == 90_000 and duration_ms("250ms", "f") == 250
    assert sql._interval(90_250) == "INTERVAL '0 00:01:30.250' DAY TO SECOND(3)"
    assert sql._interval(86_400_000) == "INTERVAL '1 00:00:00.000' DAY TO SECOND(3)"


def test_sql_quotes_every_name_it_embeds():
    assert sql.literal("it's") == "'it''s'"
    assert sql.json_path("reading.value-1") == "$['reading']['value-1']"
    spec = parse(json.dumps(document()))
    source = sql.source_table(spec)
    assert "'topic' = 'sensors'" in source and "'properties.group.id' = 'tda-lab-sensors'" in source
    assert "read_committed" in source and "WATERMARK FOR `rowtime` AS `rowtime` - INTERVAL '0 00:00:01.000'" in source
    assert "HOP(TABLE `good`" in sql.windows_view(spec) and "LAG(`current`)" in sql.features_insert()
    reasons = sql.reason_expression(spec)
    assert "record.keyField sensor" in reasons and "record.valueFields value" in reasons
    assert "record.timestampField ts" in reasons
    (sink, insert) = sql.dead_letter_statements(spec)
    assert "'sink.delivery-guarantee' = 'exactly-once'" in sink and "tda-lab-sensors-dlq" in sink
    assert sql.DEAD_LETTER_SCHEMA in insert
    assert "'key.fields' = 'k'" in sql.output_table(spec)


def test_tumbling_windows_and_kafka_time():
    record = {"keyField": "id", "valueFields": ["x", "y"]}
    spec = parse(json.dumps(document(record=record, embedding=None,
                                     window={"type": "tumbling", "size": "5s"})))
    assert "TUMBLE(TABLE `good`, DESCRIPTOR(`rowtime`), INTERVAL '0 00:00:05.000'" in sql.windows_view(spec)
    assert "`rowtime` AS `kafka_ts`" in sql.source_table(spec)
    assert spec.point_dimension == 2 and spec.timestamp_field is None


def test_window_values_sorts_by_time_then_partition_and_offset():
    spec = parse(json.dumps(document()))
    points = ";".join(["2000,0,5,3.5", "1000,1,9,1.25", "1000,0,7,-2.0", "3000,0,1,1e-05"])
    assert window_values(points, spec)[:, 0].tolist() == [-2.0, 1.25, 3.5, 1e-05]
    assert window_values("", spec).shape == (0, 1)


def test_window_bounds_are_epoch_milliseconds():
    assert epoch_ms(dt.datetime(2026, 1, 1, 0, 0, 2, 500_000)) == 1_767_225_602_500
    assert epoch_ms(dt.datetime(2026, 1, 1, 1, 0, 2, tzinfo=dt.timezone(dt.timedelta(hours=1)))) == 1_767_225_602_000


def circle(n: int, phase: float = 0.0) -> np.ndarray:
    return np.sin(np.linspace(0, 4 * np.pi, n) + phase)[:, None]


def test_a_window_record_is_tda_core_on_the_window_and_matches_its_schema():
    spec = parse(json.dumps(document()))
    values = circle(60)
    record, diagrams = features.window_record(spec, "s1", 0, 10_000, values, None)
    expected = tda_core.rips_persistence(tda_core.delay_embedding(values[:, 0], 3, 1), max_dim=1, threshold=2.0)
    for got, want in zip(diagrams, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    finite1 = expected[1][np.isfinite(expected[1][:, 1])]
    assert record["totalPersistence"][1] == pytest.approx(float((finite1[:, 1] - finite1[:, 0]).sum()))
    assert record["bettiNumbers"][0] == int(((expected[0][:, 0] <= 2.0) & (expected[0][:, 1] > 2.0)).sum())
    assert record["topPairs"][0][0] == [0.0, None]  # the essential H0 class is the most persistent
    assert record["changeScore"] is None and record["count"] == 60
    schema = json.loads((SCHEMAS / "window-features-v1.json").read_text())
    jsonschema.validate(json.loads(json.dumps(record, allow_nan=False)), schema)


def test_the_change_score_is_w1_to_the_previous_window_and_zero_for_the_same_window():
    spec = parse(json.dumps(document()))
    first, diagrams = features.window_record(spec, "s1", 0, 10_000, circle(60), None)
    same, _ = features.window_record(spec, "s1", 2_000, 12_000, circle(60), diagrams)
    assert same["changeScore"] == 0.0
    noise = np.random.default_rng(1).normal(size=(60, 1))
    changed, noisy = features.window_record(spec, "s1", 4_000, 14_000, noise, diagrams)
    want = sum(tda_core.wasserstein(a[np.isfinite(a[:, 1])], b[np.isfinite(b[:, 1])], p=1.0, delta=0.0)
               for a, b in zip(diagrams, noisy, strict=True))
    assert changed["changeScore"] == pytest.approx(want) and changed["changeScore"] > 0.5
    restored = features.decode_diagrams(json.loads(json.dumps(features.encode_diagrams(diagrams))))
    assert features.change_score(restored, noisy) == pytest.approx(want)


def test_a_window_too_short_for_the_embedding_still_gets_a_record():
    spec = parse(json.dumps(document()))
    record, diagrams = features.window_record(spec, "s1", 0, 10_000, np.array([[1.0], [2.0]]), None)
    assert record["count"] == 2 and record["totalPersistence"] == [0.0, 0.0] and record["topPairs"] == [[], []]


def test_the_dead_letter_schema_describes_what_the_sql_writes():
    schema = json.loads((SCHEMAS / "dead-letter-v1.json").read_text())
    letter = {"schema": sql.DEAD_LETTER_SCHEMA, "stream": "sensors", "reason": "not a JSON object",
              "partition": 0, "offset": 7, "truncated": False, "record": "x"}
    jsonschema.validate(letter, schema)
    assert set(schema["properties"]) == {"schema", "stream", "reason", "partition", "offset", "truncated", "record"}


def test_count_windows_read_one_row_per_record_and_kafka_times_parse_back():
    from tda_stream.job import event_ms

    spec = parse(json.dumps(document(window={"type": "count", "sizeRecords": 20, "slideRecords": 5})))
    assert (spec.window.size_records, spec.window.slide_records) == (20, 5)
    assert "FROM `good`" in sql.records_query(spec) and "CONCAT_WS" in sql.records_query(spec)
    assert event_ms("1767225602500") == 1_767_225_602_500
    assert event_ms("2026-01-01 00:00:02.500") == 1_767_225_602_500
    assert event_ms("2026-01-01 00:00:02") == 1_767_225_602_000
