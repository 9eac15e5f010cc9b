# The image of a TDAStream's Flink job: the official Flink image of the pinned version
# (FLINK_VERSION in the Makefile) with Python, PyFlink, the Kafka connector, the Prometheus
# metrics reporter, and our wheel for tda_core and the job module tda_stream.job.
#   docker build -f images/flink.Dockerfile -t ghcr.io/tda-platform/flink:0.1.0 .
# The FlinkDeployment the operator writes runs PythonDriver `-pym tda_stream.job` in it
# (tda_operator.streams.JOB_MODULE), with `python` found on PATH.
ARG FLINK_IMAGE=flink:1.20.3-scala_2.12-java17
ARG KAFKA_CONNECTOR=3.3.0-1.20
ARG KAFKA_CLIENTS=3.4.0

# Python 3.11 and the wheel, built on the Flink image's own base so that the native core
# links against the same C library it runs on.
FROM ${FLINK_IMAGE} AS python
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev \
    && python3.11 -m venv /opt/tda/venv \
    && rm -rf /var/lib/apt/lists/*

FROM python AS wheel
RUN apt-get update && apt-get install -y --no-install-recommends g++ cmake ninja-build \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY native native
COPY contract contract
COPY worker worker
COPY operator operator
COPY api api
COPY streaming streaming
COPY dev dev
RUN /opt/tda/venv/bin/pip install --no-cache-dir 'scikit-build-core>=0.10' 'pybind11>=2.13' \
    && /opt/tda/venv/bin/pip wheel --no-build-isolation --no-deps -w /wheels .

FROM python
ARG KAFKA_CONNECTOR
ARG KAFKA_CLIENTS
COPY images/requirements/flink.txt /tmp/requirements.txt
COPY --from=wheel /wheels /wheels
RUN /opt/tda/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt \
    && /opt/tda/venv/bin/pip install --no-cache-dir --no-deps /wheels/*.whl \
    && site=$(/opt/tda/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
    && rm -rf "$site"/tda_worker "$site"/tda_operator "$site"/tda_api "$site"/tda_dev \
              /opt/tda/venv/bin/tda-* /wheels /tmp/requirements.txt
# The Kafka connector (Maven Central) and the Prometheus reporter as a plugin.
ADD --chown=flink:flink https://repo1.maven.org/maven2/org/apache/flink/flink-connector-kafka/${KAFKA_CONNECTOR}/flink-connector-kafka-${KAFKA_CONNECTOR}.jar /opt/flink/lib/
ADD --chown=flink:flink https://repo1.maven.org/maven2/org/apache/kafka/kafka-clients/${KAFKA_CLIENTS}/kafka-clients-${KAFKA_CLIENTS}.jar /opt/flink/lib/
RUN mkdir -p /opt/flink/plugins/metrics-prometheus \
    && cp /opt/flink/opt/flink-metrics-prometheus-*.jar /opt/flink/plugins/metrics-prometheus/ \
    && chown -R flink:flink /opt/flink/plugins/metrics-prometheus
ENV PATH=/opt/tda/venv/bin:$PATH
# The official image's user (9999), not root.
USER flink
