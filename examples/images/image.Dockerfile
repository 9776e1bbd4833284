# syntax=docker/dockerfile:1
# The seed's image step image: Keras' MobileNetV2 on the torch backend (examples/mobilenet_image.py; untrained
# weights when the ImageNet ones are not reachable), explained with Grad-CAM by the server. The `keras` extra, with
# torch's CPU build pinned first as the Makefile pins it.
#
#   make example-images      # or, from the repository root, after `make images`:
#   docker build -f examples/images/image.Dockerfile -t mobilenet-image-model:local.1 .
ARG BASE=genome-step:local
FROM ${BASE}
ARG TORCH=torch==2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
USER root
RUN pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" "$TORCH" \
    && pip install --no-cache-dir "$(ls /opt/genome/wheels/genome-*.whl)[keras]"
COPY examples/mobilenet_image.py /app/
USER genome
ENV KERAS_BACKEND=torch
CMD ["python", "mobilenet_image.py", "--heatmap", "/tmp/heatmap.png"]
