"""The JVM half of the job, as Flink SQL built from a JobSpec (pure string building).

Parsing, validation, keying and windowing run on the JVM: the raw Kafka value is read
once as a string, its fields are taken with JSON_VALUE, malformed records are routed to
the dead-letter topic with a reason, and each (key, window) is aggregated into one row
whose ``points`` column lists the window's records. Python is entered twice per window
(its diagrams; its record, given the previous window's diagrams), never per record --
except for count windows, whose records go to Python one by one.

Every name that reaches a literal here passed spec.parse (no quote can occur), and
literals are still escaped.
"""

from __future__ import annotations

from .spec import JobSpec

DEAD_LETTER_SCHEMA = "tda.io/dead-letter/v1"
#: Largest original record copied into a dead-letter record (characters).
MAX_DEAD_LETTER_RECORD = 65_536
MAX_KEY_LENGTH = 256
POINT_SEPARATOR = ";"
FIELD_SEPARATOR = ","


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def json_path(field: str) -> str:
    """A dotted field name as a JSON path of quoted members: a.b-c -> $['a']['b-c']."""
    return "$" + "".join(f"['{part}']" for part in field.split("."))


RAW_VALUE = "'format' = 'raw'"
#: Output records are keyed by the series key, so one key's windows stay in one partition, in order.
RAW_KEY_AND_VALUE = ("'key.format' = 'raw', 'key.fields' = 'k', 'value.format' = 'raw', "
                     "'value.fields-include' = 'EXCEPT_KEY'")


def _kafka_options(spec: JobSpec, topic: str, formats: str = RAW_VALUE) -> str:
    return (f"'connector' = 'kafka', 'topic' = {literal(topic)}, "
            f"'properties.bootstrap.servers' = {literal(spec.bootstrap_servers)}, {formats}")


def _sink_options(spec: JobSpec, topic: str, role: str, formats: str = RAW_VALUE) -> str:
    return (_kafka_options(spec, topic, formats) + ", 'sink.delivery-guarantee' = 'exactly-once', "
            f"'sink.transactional-id-prefix' = {literal(f'{spec.ident}-{role}')}, "
            "'properties.transaction.timeout.ms' = '600000'")


def _interval(ms: int) -> str:
    """Milliseconds as a day-time interval literal (the planner takes DAY TO SECOND(3))."""
    seconds, millis = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}' DAY TO SECOND(3)"


def source_table(spec: JobSpec) -> str:
    """The input topic as a table with an event-time column and watermarks.

    Records whose timestamp field is unusable still carry rowtime 0, so they can flow to
    the dead-letter branch without moving the watermark (watermarks only rise).
    ``event_order`` sorts a window's records: epoch ms, or the Kafka timestamp as text."""
    if spec.timestamp_field:
        event_ms = f"TRY_CAST(JSON_VALUE(`line`, {literal(json_path(spec.timestamp_field))}) AS BIGINT)"
        # Computed columns cannot refer to each other: each repeats the expression.
        rowtime, order = f"TO_TIMESTAMP_LTZ(COALESCE({event_ms}, 0), 3)", f"CAST({event_ms} AS STRING)"
    else:
        event_ms, rowtime, order = "CAST(NULL AS BIGINT)", "`kafka_ts`", "CAST(`kafka_ts` AS STRING)"
    return f"""CREATE TEMPORARY TABLE `records` (
  `line` STRING,
  `kafka_ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  `kafka_partition` INT METADATA FROM 'partition' VIRTUAL,
  `kafka_offset` BIGINT METADATA FROM 'offset' VIRTUAL,
  `event_ms` AS {event_ms},
  `event_order` AS {order},
  `rowtime` AS {rowtime},
  WATERMARK FOR `rowtime` AS `rowtime` - {_interval(spec.window.lateness_ms)}
) WITH ({_kafka_options(spec, spec.input_topic)},
  'properties.group.id' = {literal(spec.ident)},
  'properties.isolation.level' = 'read_committed',
  'scan.startup.mode' = 'group-offsets',
  'properties.auto.offset.reset' = 'earliest')"""


def parsed_view(spec: JobSpec) -> str:
    """Every record with its fields taken out (NULL where missing or of the wrong type).

    JSON_VALUE(... RETURNING DOUBLE) fails the task on a string value; TRY_CAST does not."""
    values = ",\n  ".join(
        f"TRY_CAST(JSON_VALUE(`line`, {literal(json_path(field))}) AS DOUBLE) AS `v{i}`"
        for i, field in enumerate(spec.value_fields))
    return f"""CREATE TEMPORARY VIEW `parsed` AS SELECT
  `line`, `kafka_partition`, `kafka_offset`, `event_ms`, `event_order`, `rowtime`,
  `line` IS JSON OBJECT AS `is_object`,
  JSON_VALUE(`line`, {literal(json_path(spec.key_field))}) AS `k`,
  {values}
FROM `records`"""


def reason_expression(spec: JobSpec) -> str:
    """Why a record is refused (NULL: it is good). Reasons name spec fields, never content."""
    cases = ["WHEN NOT `is_object` THEN 'not a JSON object'",
             f"WHEN `k` IS NULL THEN {literal(f'record.keyField {spec.key_field}: missing or not a scalar')}",
             f"WHEN CHAR_LENGTH(`k`) > {MAX_KEY_LENGTH} THEN "
             f"{literal(f'record.keyField {spec.key_field}: longer than {MAX_KEY_LENGTH} characters')}"]
    if spec.timestamp_field:
        cases.append(f"WHEN `event_ms` IS NULL OR `event_ms` < 0 THEN "
                     f"{literal(f'record.timestampField {spec.timestamp_field}: missing or not epoch milliseconds')}")
    for i, field in enumerate(spec.value_fields):
        # v - v = 0 holds for finite numbers only (NaN and infinities give NaN).
        cases.append(f"WHEN `v{i}` IS NULL OR NOT (`v{i}` - `v{i}` = 0) THEN "
                     f"{literal(f'record.valueFields {field}: missing or not a finite number')}")
    return "CASE " + " ".join(cases) + " ELSE CAST(NULL AS STRING) END"


def checked_view(spec: JobSpec) -> str:
    return f"CREATE TEMPORARY VIEW `checked` AS SELECT *, {reason_expression(spec)} AS `reason` FROM `parsed`"


def dead_letter_statements(spec: JobSpec) -> list[str]:
    if spec.dead_letter_topic is None:
        return []
    sink = (f"CREATE TEMPORARY TABLE `dead_letters` (`line` STRING) "
            f"WITH ({_sink_options(spec, spec.dead_letter_topic, 'dlq')})")
    insert = f"""INSERT INTO `dead_letters` SELECT JSON_OBJECT(
  KEY 'schema' VALUE {literal(DEAD_LETTER_SCHEMA)},
  KEY 'stream' VALUE {literal(spec.stream)},
  KEY 'reason' VALUE `reason`,
  KEY 'partition' VALUE `kafka_partition`,
  KEY 'offset' VALUE `kafka_offset`,
  KEY 'truncated' VALUE CHAR_LENGTH(`line`) > {MAX_DEAD_LETTER_RECORD},
  KEY 'record' VALUE SUBSTRING(`line` FROM 1 FOR {MAX_DEAD_LETTER_RECORD})
  ABSENT ON NULL)
FROM `checked` WHERE `reason` IS NOT NULL"""
    return [sink, insert]


def _window_table(spec: JobSpec) -> str:
    window = spec.window
    if window.type == "tumbling":
        return f"TUMBLE(TABLE `good`, DESCRIPTOR(`rowtime`), {_interval(window.size_ms)})"
    return f"HOP(TABLE `good`, DESCRIPTOR(`rowtime`), {_interval(window.slide_ms)}, {_interval(window.size_ms)})"


def _point(spec: JobSpec) -> str:
    parts = ", ".join(["`event_order`", "CAST(`kafka_partition` AS STRING)", "CAST(`kafka_offset` AS STRING)",
                       *(f"CAST(`v{i}` AS STRING)" for i in range(len(spec.value_fields)))])
    return f"CONCAT_WS({literal(FIELD_SEPARATOR)}, {parts})"


def records_query(spec: JobSpec) -> str:
    """Count windows: one row per good record (key, event order, point); the Python side
    keeps each key's last records in keyed state."""
    return f"SELECT `k`, `event_order`, {_point(spec)} AS `point` FROM `good`"


#: The Python functions the SQL calls: a window's diagrams, then its output record.
DIAGRAMS_FUNCTION = "tda_window_diagrams"
RECORD_FUNCTION = "tda_window_record"


def windows_view(spec: JobSpec) -> str:
    """One row per key and time window: its diagrams, computed in Python from ``points``.

    ``points`` joins each record as order,partition,offset,v0,v1,... (doubles printed so
    they parse back exactly); the Python side sorts by the first three. Window bounds are
    TIMESTAMP(3) in the session time zone, which the job sets to UTC. ``window_time``
    stays an event-time attribute, so the next step can order windows by it."""
    return f"""CREATE TEMPORARY VIEW `windows` AS SELECT `k`, `window_time`,
  {DIAGRAMS_FUNCTION}(`window_start`, `window_end`, COUNT(*),
    LISTAGG({_point(spec)}, {literal(POINT_SEPARATOR)})) AS `current`
FROM TABLE({_window_table(spec)})
GROUP BY `k`, `window_start`, `window_end`, `window_time`"""


def features_insert() -> str:
    """Each window's record, with the key's previous window (LAG keeps it in Flink's keyed
    state, so restarts keep it) for the change score."""
    return f"""INSERT INTO `window_features` SELECT `k`, {RECORD_FUNCTION}(`k`, `current`, `previous`) FROM (
  SELECT `k`, `current`, LAG(`current`) OVER (PARTITION BY `k` ORDER BY `window_time`) AS `previous`
  FROM `windows`)"""


def output_table(spec: JobSpec) -> str:
    return (f"CREATE TEMPORARY TABLE `window_features` (`k` STRING, `payload` STRING) "
            f"WITH ({_sink_options(spec, spec.output_topic, 'out', RAW_KEY_AND_VALUE)})")


def good_view() -> str:
    return ("CREATE TEMPORARY VIEW `good` AS SELECT * FROM `checked` WHERE `reason` IS NULL")

