# Two commands a new user needs:  make run  (server on 127.0.0.1:8080)  and  make test  (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install install-test lint bench clean images example-images docker-ready

run: install
	$(BIN)/genome serve

# Tests run on up to four processes (a module's tests stay on one, sharing its server), then the timing-sensitive
# ones (marked serial) alone. Exit status 5 is pytest's "no test selected", when PYTEST_ARGS picks none of them.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)

test: install-test
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not serial" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(BIN)/python -m pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch 2.13.0 is pinned first so pip takes the CPU build, not a multi-GB CUDA one.
TORCH_CPU := "torch==2.13.0"

# The server explains every seed example out of the box: the explainers and the CPU builds of torch, Keras,
# XGBoost and LightGBM (the "server" extra), about 1 GB installed, most of it torch.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH_CPU)
	$(BIN)/pip install --quiet -e ".[server]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH_CPU)
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(VENV)/.installed $@

lint: install-test
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy src/genome/modelstore src/genome/visualize src/genome/serving src/genome/formats src/genome/sandbox

bench: install-test
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/modelstore_bench.py
	$(BIN)/python benchmarks/search_bench.py
	$(BIN)/python benchmarks/api_fuzz.py
	$(BIN)/python benchmarks/explain_bench.py --offline
	$(BIN)/python benchmarks/sequencer_bench.py
	$(BIN)/python benchmarks/visualize_bench.py

# Container images (README, "Running on more than one machine"): the server and the steps' base image, then the
# seed's example step images on that base. They need a running Docker engine (DOCKER=podman works too); CI builds
# none. The images install what `make run` installs: the same extras and torch pin.
DOCKER ?= docker
IMAGE_TAG ?= local

images: docker-ready
	$(DOCKER) build --build-arg TORCH=$(TORCH_CPU) -f deploy/Dockerfile -t genome-server:$(IMAGE_TAG) .
	$(DOCKER) build -f deploy/step.Dockerfile -t genome-step:$(IMAGE_TAG) .

example-images: docker-ready
	$(DOCKER) build -f deploy/step.Dockerfile -t genome-step:$(IMAGE_TAG) .
	$(DOCKER) build --build-arg BASE=genome-step:$(IMAGE_TAG) -f examples/images/housing.Dockerfile -t housing-ca-forest-model:local.1 .
	$(DOCKER) build --build-arg BASE=genome-step:$(IMAGE_TAG) -f examples/images/text.Dockerfile -t newsgroups-text-model:local.1 .
	$(DOCKER) build --build-arg BASE=genome-step:$(IMAGE_TAG) --build-arg TORCH=$(TORCH_CPU) -f examples/images/image.Dockerfile -t mobilenet-image-model:local.1 .
	$(DOCKER) build --build-arg BASE=genome-step:$(IMAGE_TAG) --build-arg TORCH=$(TORCH_CPU) -f examples/images/ensemble.Dockerfile -t ensemble-training:local.3 .

docker-ready:
	@command -v $(DOCKER) >/dev/null 2>&1 || { echo "make $(MAKECMDGOALS) needs docker (or DOCKER=podman), which is not installed" >&2; exit 1; }
	@$(DOCKER) info >/dev/null 2>&1 || { echo "make $(MAKECMDGOALS) needs docker, whose engine does not answer ($(DOCKER) info failed)" >&2; exit 1; }

clean:
	rm -rf $(VENV) build dist src/*.egg-info
