# The image of a TDAJob's pods: tda_core (the C++ core) and tda_worker only.
#   docker build -f images/worker.Dockerfile -t ghcr.io/tda-platform/worker:0.1.0 .
# The operator runs `tda-compute run` in it (tda_contract.WORKER_COMMAND).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# Build the wheel once, with the native core compiled for this Python.
FROM ${PYTHON_IMAGE} AS wheel
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
RUN pip wheel --no-deps -w /wheels .

FROM ${PYTHON_IMAGE}
COPY images/requirements/worker.txt /tmp/requirements.txt
COPY --from=wheel /wheels /wheels
# The wheel without its dependencies, then only the worker's; the packages a worker never
# imports (operator, facade, stream job, dev tools) and their scripts are removed.
RUN pip install --no-cache-dir -r /tmp/requirements.txt \
    && pip install --no-cache-dir --no-deps /wheels/*.whl \
    && site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
    && rm -rf "$site"/tda_operator "$site"/tda_api "$site"/tda_stream "$site"/tda_dev \
              /usr/local/bin/tda-operator /usr/local/bin/tda-server /usr/local/bin/tda-dev \
              /wheels /tmp/requirements.txt \
    && useradd --uid 65532 --no-create-home --shell /usr/sbin/nologin tda
USER 65532:65532
ENTRYPOINT []
CMD ["tda-compute", "run"]
