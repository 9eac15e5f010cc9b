# The operator image: kopf, the models and builders, and tda_core (for its size estimates).
#   docker build -f images/operator.Dockerfile -t ghcr.io/tda-platform/operator:0.1.0 .
# The Helm chart runs `tda-operator run ...` in it.
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
COPY images/requirements/operator.txt /tmp/requirements.txt
COPY --from=wheel /wheels /wheels
# The wheel without its dependencies, then only the operator's; the packages it never imports
# (worker, facade, stream job, dev tools) and their scripts are removed.
RUN pip install --no-cache-dir -r /tmp/requirements.txt \
    && pip install --no-cache-dir --no-deps /wheels/*.whl \
    && site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
    && rm -rf "$site"/tda_worker "$site"/tda_api "$site"/tda_stream "$site"/tda_dev \
              /usr/local/bin/tda-compute /usr/local/bin/tda-server /usr/local/bin/tda-dev \
              /wheels /tmp/requirements.txt \
    && useradd --uid 65532 --no-create-home --shell /usr/sbin/nologin tda
USER 65532:65532
ENTRYPOINT []
EXPOSE 8080 8081
CMD ["tda-operator", "run", "--all-namespaces"]
