# syntax=docker/dockerfile:1
# The seed's text step image: TF-IDF + LSA + a random forest on four 20 newsgroups categories (examples/
# newsgroups_text.py; a generated corpus when the download is not reachable), explained with LIME by the server.
# scikit-learn comes with the SDK: no extra.
#
#   make example-images      # or, from the repository root, after `make images`:
#   docker build -f examples/images/text.Dockerfile -t newsgroups-text-model:local.1 .
ARG BASE=genome-step:local
FROM ${BASE}
COPY examples/newsgroups_text.py /app/
CMD ["python", "newsgroups_text.py"]
