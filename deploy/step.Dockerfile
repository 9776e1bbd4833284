# syntax=docker/dockerfile:1
# The base image of pipeline steps: Python and the Genome SDK (`pip install genome`, no server extras), on which the
# example step images are built (examples/images/). A step finds the server through the GENOME_URL and GENOME_TOKEN
# the Sequencer gives it, and its pipeline fields in the step variables (PIPELINE_RUNID, STEP_NAME, PARAMETERS, ...).
#
#   docker build -f deploy/step.Dockerfile -t genome-step:local .   # from the repository root, or: make images
#
# The wheel stays in /opt/genome/wheels, so that an image built on this one adds extras of the same Genome:
#   RUN pip install --no-cache-dir "$(ls /opt/genome/wheels/genome-*.whl)[explain]"
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
COPY --from=build /wheels /opt/genome/wheels
RUN pip install --no-cache-dir "$(ls /opt/genome/wheels/genome-*.whl)" \
    && useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin genome
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER genome
CMD ["python", "-c", "import genome; print('Genome SDK', genome.__version__)"]
