"""The TDAStream Flink job: Kafka -> windows -> tda_core -> Kafka, exactly once.

    python -m tda_stream.job --job '<job document JSON>'

(on a cluster the FlinkDeployment runs it through PythonDriver with ``-pym tda_stream.job``).
Records are parsed, checked, keyed and windowed on the JVM (:mod:`tda_stream.sql`);
Python is entered per (key, window) to compute the diagrams, then the features and the
change score against the key's previous window, which Flink's keyed state holds (SQL
LAG), so it survives restarts. Output and dead-letter records are written in Kafka transactions committed
with each checkpoint.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from typing import Any

import numpy as np

from . import features, sql
from .spec import JobSpec, SpecError, parse

log = logging.getLogger("tda_stream")
EPOCH = dt.datetime(1970, 1, 1)
#: Keys whose latest change score is exported as a gauge, per parallel instance.
MAX_SCORE_GAUGES = 1000
IDLE_PARTITION_TIMEOUT = "30 s"


def epoch_ms(value: Any) -> int:
    """A window bound (TIMESTAMP(3) in UTC, as PyFlink hands it over) in epoch milliseconds."""
    if isinstance(value, dt.datetime):
        naive = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
        return (naive - EPOCH) // dt.timedelta(milliseconds=1)
    return int(value)


def event_ms(order: str) -> int:
    """A record's event time from its sort column: epoch ms, or the Kafka timestamp as text (UTC)."""
    if order.isdigit():
        return int(order)
    return epoch_ms(dt.datetime.strptime(order if "." in order else order + ".000", "%Y-%m-%d %H:%M:%S.%f"))


def window_values(points: str, spec: JobSpec) -> np.ndarray:
    """The window's records, in event-time order (ties by partition and offset), as values."""
    rows = [p.split(sql.FIELD_SEPARATOR) for p in points.split(sql.POINT_SEPARATOR)] if points else []
    as_number = spec.timestamp_field is not None
    rows.sort(key=lambda r: (int(r[0]) if as_number else r[0], int(r[1]), int(r[2])))
    return np.array([[float(v) for v in r[3:]] for r in rows], dtype=np.float64).reshape(-1, len(spec.value_fields))


class ChangeScores:
    """Gauges of the latest change score per key (bounded: keys are user data)."""

    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics
        self.windows = metrics.counter("tdaWindows")
        self.scores: dict[str, float] = {}

    def observe(self, record: dict[str, Any]) -> None:
        self.windows.inc()
        key, score = record["key"], record.get("changeScore")
        if score is None or (key not in self.scores and len(self.scores) >= MAX_SCORE_GAUGES):
            return
        if key not in self.scores:
            self.metrics.add_group("key", key).gauge("tdaChangeScore", lambda k=key: self.scores[k])
        self.scores[key] = int(score * 1e6) / 1e6


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), allow_nan=False)


def _functions(document: str) -> tuple[Any, Any]:
    """The two Python steps of a time window, as SQL scalar functions."""
    from pyflink.table import DataTypes
    from pyflink.table.udf import FunctionContext, ScalarFunction, udf

    class WindowDiagrams(ScalarFunction):  # type: ignore[misc]
        """(start, end, count, points) -> the window's diagrams, as JSON."""

        def open(self, function_context: FunctionContext) -> None:
            self.spec = parse(document)

        def eval(self, start: Any, end: Any, count: int, points: str) -> str:
            values = window_values(points, self.spec)
            diagrams = features.diagrams_of(features.points_of(values, self.spec.embedding), self.spec.computation)
            return dumps({"windowStart": epoch_ms(start), "windowEnd": epoch_ms(end), "count": int(count),
                          "diagrams": features.encode_diagrams(diagrams)})

    class WindowRecord(ScalarFunction):  # type: ignore[misc]
        """(key, this window's diagrams, the previous window's or NULL) -> the output record."""

        def open(self, function_context: FunctionContext) -> None:
            self.spec = parse(document)
            self.scores = ChangeScores(function_context.get_metric_group())

        def eval(self, key: str, current: str, previous: str | None) -> str:
            now = json.loads(current)
            before = features.decode_diagrams(json.loads(previous)["diagrams"]) if previous else None
            record = features.record_of(self.spec, key, now["windowStart"], now["windowEnd"], now["count"],
                                        features.decode_diagrams(now["diagrams"]), before)
            self.scores.observe(record)
            return dumps(record)

    return (udf(WindowDiagrams(), result_type=DataTypes.STRING()),
            udf(WindowRecord(), result_type=DataTypes.STRING()))


def _count_windows(document: str) -> Any:
    from pyflink.common import Row, Types
    from pyflink.datastream import KeyedProcessFunction, RuntimeContext
    from pyflink.datastream.state import ValueStateDescriptor

    class CountWindowFeatures(KeyedProcessFunction):  # type: ignore[misc]
        """Count windows: the key's last sizeRecords records, every slideRecords records
        (arrival order), spanning their event times. One row in per record; keyed state:
        the key's recent records and its previous window's diagrams."""

        def open(self, runtime_context: RuntimeContext) -> None:
            self.spec = parse(document)
            state = ValueStateDescriptor("count-window", Types.PICKLED_BYTE_ARRAY())
            self.state = runtime_context.get_state(state)
            self.scores = ChangeScores(runtime_context.get_metrics_group())

        def process_element(self, row: Any, ctx: Any) -> Any:
            window = self.spec.window
            seen, recent, previous = self.state.value() or (0, [], None)
            recent = [*recent, (row[1], row[2])][-window.size_records:]
            seen += 1
            emit = seen >= window.size_records and (seen - window.size_records) % window.slide_records == 0
            if emit:
                times = [event_ms(order) for order, _ in recent]
                values = window_values(sql.POINT_SEPARATOR.join(point for _, point in recent), self.spec)
                record, diagrams = features.window_record(
                    self.spec, row[0], min(times), max(times) + 1, values,
                    features.decode_diagrams(previous) if previous is not None else None)
                previous = features.encode_diagrams(diagrams)
                self.scores.observe(record)
            self.state.update((seen, recent, previous))
            if emit:
                yield Row(row[0], dumps(record))

    return CountWindowFeatures(), Types.ROW_NAMED(["k", "payload"], [Types.STRING(), Types.STRING()])


def flink_configuration() -> Any:
    """The Flink configuration of $FLINK_CONF_DIR, as the Flink CLI and a cluster's job
    manager load it, so a job started on its own runs with the same settings."""
    import os

    from pyflink.common import Configuration
    from pyflink.java_gateway import get_gateway

    conf_dir = os.environ.get("FLINK_CONF_DIR")
    if not conf_dir:
        return None
    loaded = get_gateway().jvm.org.apache.flink.configuration.GlobalConfiguration.loadConfiguration(conf_dir)
    return Configuration(j_configuration=loaded)


def build(spec: JobSpec, document: str) -> Any:
    """The job's statement set: dead letters and window features, one plan over one scan."""
    from pyflink.common import Types
    from pyflink.datastream import CheckpointingMode, StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

    env = StreamExecutionEnvironment.get_execution_environment(flink_configuration())
    env.enable_checkpointing(spec.checkpoint_interval_ms, CheckpointingMode.EXACTLY_ONCE)
    t_env = StreamTableEnvironment.create(env)
    config = t_env.get_config()
    config.set("table.local-time-zone", "UTC")
    config.set("pipeline.name", f"tda-stream {spec.namespace}/{spec.stream}")
    # A partition silent this long stops holding the watermark (and every window) back.
    # Long enough that a partition whose reader starts late on a backlog is not declared
    # idle first: its records would then be late for windows already closed, and dropped.
    config.set("table.exec.source.idle-timeout", IDLE_PARTITION_TIMEOUT)
    for statement in (sql.source_table(spec), sql.parsed_view(spec), sql.checked_view(spec), sql.good_view()):
        t_env.execute_sql(statement)
    statements = t_env.create_statement_set()
    dead_letters = sql.dead_letter_statements(spec)
    if dead_letters:
        t_env.execute_sql(dead_letters[0])
        statements.add_insert_sql(dead_letters[1])
    t_env.execute_sql(sql.output_table(spec))
    if spec.window.type == "count":
        function, row_type = _count_windows(document)
        records = t_env.to_data_stream(t_env.sql_query(sql.records_query(spec)))
        rows = records.key_by(lambda row: row[0], key_type=Types.STRING()).process(function, output_type=row_type)
        statements.add_insert("window_features", t_env.from_data_stream(rows))
    else:
        diagrams, record = _functions(document)
        t_env.create_temporary_function(sql.DIAGRAMS_FUNCTION, diagrams)
        t_env.create_temporary_function(sql.RECORD_FUNCTION, record)
        t_env.execute_sql(sql.windows_view(spec))
        statements.add_insert_sql(sql.features_insert())
    return statements


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tda_stream.job", description=__doc__.split("\n\n")[0])
    parser.add_argument("--job", required=True, help="the job document (JSON), as the operator writes it")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        spec = parse(args.job)
    except SpecError as exc:
        log.error("refusing the job: %s", exc)
        return 2
    build(spec, args.job).execute().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
