# TDA Platform — every target installs what it needs first, so `make demo` and
# `make test` work on a fresh machine with nothing else run before them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
INSTALLED := $(VENV)/.installed
NATIVE_STAMP := $(VENV)/.native
NATIVE_SOURCES := $(shell find native -type f \( -name '*.cpp' -o -name '*.hpp' -o -name 'CMakeLists.txt' \) 2>/dev/null)
BUILD_LOCK := /tmp/tda-native-build.lock
# The stream runtime (PyFlink + tda_core + tda_stream) in its own virtualenv, as in its own
# image: PyFlink pins numpy, protobuf and Apache Beam versions the operator does not use.
FLINK_VERSION := 1.20.3
STREAM_VENV := .venv-stream
STREAM_INSTALLED := $(STREAM_VENV)/.installed
PYTEST := $(PY) -m pytest
CTEST_BUILD := build/ctest

.PHONY: setup browser native binaries test test-unit test-native test-integration test-chaos ctest demo demo-stream dev down crds lint \
        bench bench-core bench-operator bench-stream bench-api images kind-up kind-e2e clean

setup: $(INSTALLED) $(NATIVE_STAMP) $(STREAM_INSTALLED) binaries

# The web view's browser test drives Debian's Chromium headless; installed once when missing.
browser:
	@command -v chromium >/dev/null || { apt-get install -y -q --no-install-recommends chromium >/dev/null \
	  || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; }; }

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $@ $(NATIVE_STAMP)

# Rebuild the C++ extension in place when its sources change.
$(NATIVE_STAMP): $(INSTALLED) $(NATIVE_SOURCES)
	flock $(BUILD_LOCK) $(PIP) install -q --no-build-isolation --no-deps -e .
	touch $@

native: $(NATIVE_STAMP)

$(STREAM_INSTALLED): pyproject.toml $(NATIVE_SOURCES)
	test -x $(STREAM_VENV)/bin/python || $(PYTHON) -m venv $(STREAM_VENV)
	$(STREAM_VENV)/bin/pip install -q --upgrade pip
	$(STREAM_VENV)/bin/pip install -q 'apache-flink==$(FLINK_VERSION)' 'scikit-build-core>=0.10' 'pybind11>=2.13'
	flock $(BUILD_LOCK) $(STREAM_VENV)/bin/pip install -q --no-build-isolation --no-deps \
	  --config-settings=build-dir=build/stream -e .
	touch $@

# Control-plane binaries (etcd, kube-*, kubectl, helm): built once from Go modules, cached per version.
binaries: $(INSTALLED)
	$(PY) -m tda_dev.cli binaries

ctest: $(INSTALLED)
	cmake -S native -B $(CTEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DTDA_BUILD_TESTS=ON >/dev/null
	cmake --build $(CTEST_BUILD) -j2
	ctest --test-dir $(CTEST_BUILD) --output-on-failure

test: setup browser ctest
	$(PYTEST) -m "unit or native" tests
	$(PYTEST) -m "integration or e2e" tests

test-unit: $(INSTALLED) $(NATIVE_STAMP)
	$(PYTEST) -m unit tests

test-native: $(INSTALLED) $(NATIVE_STAMP)
	$(PYTEST) -m native tests

test-integration: setup browser
	$(PYTEST) -m "integration or e2e" tests

# Faults, malformed input, fuzzing and scale; the last line is the suite's figures as one JSON object.
CHAOS_REPORT := build/chaos-report.jsonl
test-chaos: setup
	@mkdir -p build && rm -f $(CHAOS_REPORT)
	TDA_CHAOS_REPORT=$(CHAOS_REPORT) $(PYTEST) -m chaos tests; status=$$?; \
	  $(PY) tests/chaos/chaos_report.py $(CHAOS_REPORT); exit $$status

demo: setup
	$(PY) -m tda_dev.cli demo

demo-stream: setup
	$(PY) -m tda_dev.cli demo-stream

dev: setup
	$(PY) -m tda_dev.cli up
	@$(PY) -m tda_dev.cli env

down: $(INSTALLED)
	$(PY) -m tda_dev.cli down

crds: $(INSTALLED)
	$(PY) -m tda_operator.crd

lint: $(INSTALLED)
	$(VENV)/bin/ruff check native/python contract worker operator api streaming dev tests bench
	$(VENV)/bin/mypy -p tda_core -p tda_contract -p tda_worker -p tda_operator -p tda_api -p tda_stream -p tda_dev

bench: bench-core bench-operator

bench-core: $(INSTALLED) $(NATIVE_STAMP)
	$(PY) bench/bench_core.py

bench-operator: setup
	$(PY) bench/bench_operator.py

bench-stream: setup
	$(PY) bench/bench_stream.py

bench-api: setup
	$(PY) bench/bench_api.py

# --- kind: the images, a kind cluster, Strimzi and the Flink operator, and the chart ---------------
# Needs Docker and kind, which the local platform does not (these targets do not run without them).
IMAGE_REPO ?= ghcr.io/tda-platform
IMAGE_TAG ?= 0.1.0
IMAGES := worker operator api flink
KIND_CLUSTER ?= tda
KIND_KUBECONFIG := build/kind-$(KIND_CLUSTER).kubeconfig
HELM = "$$($(PY) -c 'from tda_dev.binaries import ensure_binaries; print(ensure_binaries()["helm"])')"

images:
	for image in $(IMAGES); do \
	  docker build -f images/$$image.Dockerfile -t $(IMAGE_REPO)/$$image:$(IMAGE_TAG) . || exit 1; done

kind-up: binaries images
	kind get clusters | grep -qx $(KIND_CLUSTER) || kind create cluster --name $(KIND_CLUSTER)
	mkdir -p build && kind get kubeconfig --name $(KIND_CLUSTER) > $(KIND_KUBECONFIG)
	for image in $(IMAGES); do \
	  kind load docker-image --name $(KIND_CLUSTER) $(IMAGE_REPO)/$$image:$(IMAGE_TAG) || exit 1; done
	$(HELM) dependency build charts/tda-stack
	$(HELM) upgrade --install tda charts/tda-stack --kubeconfig $(KIND_KUBECONFIG) \
	  --namespace tda-system --create-namespace --wait --timeout 10m \
	  --set tda-platform.image.repository=$(IMAGE_REPO) --set tda-platform.image.tag=$(IMAGE_TAG)

kind-e2e: setup
	TDA_KUBECONFIG=$(CURDIR)/$(KIND_KUBECONFIG) $(PYTEST) -m e2e tests

clean:
	rm -rf build $(VENV)
