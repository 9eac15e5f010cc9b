# The REST facade image: tda-server (FastAPI) with the models it validates against and the result readers.
#   docker build -f images/api.Dockerfile -t ghcr.io/tda-platform/api:0.1.0 .
# The Helm chart runs `tda-server --host ... --port ...` in it.
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
COPY images/requirements/api.txt /tmp/requirements.txt
COPY --from=wheel /wheels /wheels
# The wheel without its dependencies, then only the facade's; the packages it never imports
# (stream job, dev tools) and the other components' scripts are removed.
RUN pip install --no-cache-dir -r /tmp/requirements.txt \
    && pip install --no-cache-dir --no-deps /wheels/*.whl \
    && site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
    && rm -rf "$site"/tda_stream "$site"/tda_dev \
              /usr/local/bin/tda-operator /usr/local/bin/tda-compute /usr/local/bin/tda-dev \
              /wheels /tmp/requirements.txt \
    && useradd --uid 65532 --no-create-home --shell /usr/sbin/nologin tda
USER 65532:65532
ENTRYPOINT []
EXPOSE 8080
CMD ["tda-server", "--host", "0.0.0.0", "--port", "8080"]
