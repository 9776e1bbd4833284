# syntax=docker/dockerfile:1
# The seed's tabular step image, housing-ca-forest-model: a random forest on California housing (examples/
# housing_forest.py; scikit-learn's bundled diabetes set when the download is not reachable), with its sample
# explanations (SHAP: the `explain` extra), saved to the Model Store of the server that runs the step.
#
#   make example-images      # or, from the repository root, after `make images`:
#   docker build -f examples/images/housing.Dockerfile -t housing-ca-forest-model:local.1 .
ARG BASE=genome-step:local
FROM ${BASE}
USER root
RUN pip install --no-cache-dir "$(ls /opt/genome/wheels/genome-*.whl)[explain]"
COPY examples/housing_forest.py /app/
USER genome
CMD ["python", "housing_forest.py"]
