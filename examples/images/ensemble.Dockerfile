# syntax=docker/dockerfile:1
# The seed's ensemble-training image: every example in one image, the step's parameters choosing what it trains
# (examples/ensemble_training.py: CA_TRAIN, TEXT_TRAIN..., IMAGE_TRAIN, EVALUATION; OFFLINE tries no download).
# It also runs as a Dask worker (`dask worker tcp://scheduler:8786`, the `dask` extra): run from /app, the commands
# of examples/pipelines/*.json (`python examples/housing_forest.py --offline`, ...) find their scripts.
#
#   make example-images      # or, from the repository root, after `make images`:
#   docker build -f examples/images/ensemble.Dockerfile -t ensemble-training:local.3 .
ARG BASE=genome-step:local
FROM ${BASE}
ARG TORCH=torch==2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
USER root
RUN pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" "$TORCH" \
    && pip install --no-cache-dir "$(ls /opt/genome/wheels/genome-*.whl)[explain,keras,dask]"
COPY examples/*.py /app/examples/
USER genome
ENV KERAS_BACKEND=torch
CMD ["python", "examples/ensemble_training.py"]
