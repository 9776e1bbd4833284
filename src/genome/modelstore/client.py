"""``ModelStore``: the Python client of the Genome Model Store, used from training code and pipeline steps."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import numbers
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from genome.errors import ArtifactCorrupt, InvalidInput
from genome.formats.bundle import pack, unpack
from genome.formats.trust import UntrustedContent
from genome.modelstore._environment import STEP_ENVIRONMENT, from_step
from genome.modelstore._http import DEFAULT_URL, USE_CLIENT_DEFAULT, ApiClient, Timeout
from genome.modelstore._progress import TrackedBytes, transfer_bar, wanted
from genome.modelstore.estimator import GenomeEstimator

__all__ = ["DEFAULT_URL", "USE_CLIENT_DEFAULT", "ModelStore"]


class ModelStore(ApiClient):
    """Saves, finds and loads model versions through a Genome server.

    Args:
        url: the server, default ``GENOME_URL`` or ``http://127.0.0.1:8080``.
        token: API token, default ``GENOME_TOKEN``.
        timeout: seconds per request (``None`` waits forever).
        progress: show progress bars for uploads and downloads; by default only for big ones (16 MiB and
            more) on a terminal.
        client: an ``httpx.Client`` to send requests with, e.g. one on an in-process ASGI transport.

    Example:
        >>> with ModelStore("http://127.0.0.1:8080") as store:  # doctest: +SKIP
        ...     saved = store.save_model(GenomeEstimator(model), {"application": "search", "canonicalName": "/m"})
        ...     same = store.load_model(saved["id"])
    """

    def save_model(
        self, genome_estimator: GenomeEstimator, meta: Mapping[str, Any], *, timeout: Timeout = USE_CLIENT_DEFAULT
    ) -> dict[str, Any]:
        """Store the model as the next version of ``meta["canonicalName"]`` in ``meta["application"]``.

        Args:
            genome_estimator: the model wrapped in a ``GenomeEstimator``.
            meta: the metadata: ``application``, ``canonicalName`` (required), ``versionName``,
                ``pipelineName``, ``pipelineRunId``, ``pipelineStage``, ``framework``, ``inputModality``,
                ``predictionType``, ``tags``, ``aliases``, ``metrics``, ``description``, ``code``. Inside a
                pipeline step, missing pipeline fields come from the step's environment.

        Returns:
            The stored record, with its ``id`` and ``versionNumber``.
        """
        if not isinstance(genome_estimator, GenomeEstimator):
            raise InvalidInput(
                f"save_model takes a GenomeEstimator; got {type(genome_estimator).__name__}. "
                "Wrap the model: GenomeEstimator(model, modality=...)",
                field="genome_estimator",
            )
        if not isinstance(meta, Mapping):
            raise InvalidInput(f"meta must be a dict; got {type(meta).__name__}", field="meta")
        _check_metrics(meta.get("metrics"))
        filled = {key: value for key, value in meta.items() if value is not None}
        for key in STEP_ENVIRONMENT:  # what a pipeline step's environment supplies, unless the caller gave it
            value = from_step(key)
            if value:
                filled.setdefault(key, value)
        data, _manifest = pack(
            genome_estimator.estimator, genome_estimator.bundle_fields(), samples=genome_estimator.bundle_samples()
        )
        with transfer_bar("uploading model", len(data), wanted(self._progress, len(data))) as advance:
            response = self._request(
                "POST",
                "/modelstore/models",
                data={"meta": json.dumps(filled)},
                files={"artifact": ("model.genome.zip", TrackedBytes(data, advance), "application/zip")},
                timeout=timeout,
            )
        record: dict[str, Any] = response.json()
        return record

    def get_model(self, id: str) -> dict[str, Any]:
        """The record of one model version."""
        record: dict[str, Any] = self._request("GET", f"/modelstore/models/{id}").json()
        return record

    def find_model(
        self,
        application: str,
        canonical_name: str,
        *,
        version_number: int | None = None,
        version_name: str | None = None,
        alias: str | None = None,
    ) -> dict[str, Any]:
        """The record of the version a name means: by number, versionName or alias, else the latest."""
        params = _version_ref(None, application, canonical_name, version_number, version_name, alias)
        record: dict[str, Any] = self._request("GET", "/modelstore/resolve", params=params).json()
        return record

    def alias_history(
        self, application: str, canonical_name: str, *, at: int | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """Every move of a model's aliases, newest first, and where each pointed at ``at`` (ms since epoch;
        default now): ``alias_history("search", "/ranker", at=ms)["aliases"]["production"]["versionNumber"]``."""
        params: dict[str, Any] = {"application": application, "canonicalName": canonical_name, "limit": limit}
        if at is not None:
            params["at"] = at
        history: dict[str, Any] = self._request("GET", "/modelstore/alias-history", params=params).json()
        return history

    def load_model(
        self,
        id: str | None = None,
        *,
        application: str | None = None,
        canonical_name: str | None = None,
        version_number: int | None = None,
        version_name: str | None = None,
        alias: str | None = None,
        trust: bool = False,
        into: Any = None,
    ) -> GenomeEstimator:
        """Load a stored model: by ``id``, or by ``application`` + ``canonical_name`` (latest, or the version
        given by ``version_number``, ``version_name`` or ``alias``).

        The downloaded bundle is checked against the sha256 recorded when the model was saved. Models in safe
        formats (XGBoost JSON, LightGBM text, Keras without Lambda layers, scikit-learn models of Genome's trusted
        types) load as they are; a bundle that carries code (a lambda, a class from a training script, a whole
        PyTorch module) runs that code when loaded, so it loads only with ``trust=True``: pass it for models saved
        by people you trust, as you would run their scripts. A PyTorch model loads without trust into a module
        built from your own code: ``load_model(id, into=Net())`` reads only its weights (``weights_only=True``).
        """
        if id is None:
            if not (application and canonical_name):
                raise InvalidInput("load_model needs an id, or an application and a canonical_name", field="id")
            id = self.find_model(
                application, canonical_name, version_number=version_number, version_name=version_name, alias=alias
            )["id"]
        data, headers = self._download(f"/modelstore/models/{id}/artifact")
        # The server checked the blob against the sha256 stored with the version and sends that sum along;
        # checking it here too catches a change in transit.
        if hashlib.sha256(data).hexdigest() != headers.get("x-genome-sha256"):
            raise ArtifactCorrupt(f"the artifact of model version {id} changed in transit")
        try:
            model, fields, _manifest = unpack(data, trust=trust, into=into)
        except UntrustedContent as exc:
            raise UntrustedContent(exc.names, where=f"model version {id}") from None
        return GenomeEstimator.from_bundle_fields(model, fields)

    def explain(
        self,
        entries: Any = None,
        *,
        text: str | None = None,
        image: Any = None,
        target: str | int | None = None,
        num_samples: int | None = None,
        id: str | None = None,
        application: str | None = None,
        canonical_name: str | None = None,
        version_number: int | None = None,
        version_name: str | None = None,
        alias: str | None = None,
    ) -> dict[str, Any]:
        """Explain a prediction of a stored model, by ``id`` or by name (latest unless one is named).

        Give what the model takes:

        - ``entries`` (tabular, SHAP): rows in the model's feature order (a list of lists or a numpy array) or
          records keyed by feature name (a list of dicts or a pandas DataFrame). Returns the seed's ``{expected,
          number_labels, shapley}`` with ``feature_names``, ``prediction`` and ``explainer``.
        - ``text`` (LIME; ``num_samples`` perturbed texts): the seed's ``{metrics, textExplanation}``.
        - ``image`` (Grad-CAM): PNG or JPEG bytes, a file path, a PIL image or an H x W x C uint8 array; ``target``
          picks the class (default: the predicted one). Returns the seed's ``{class, score, number_labels,
          image}`` with the ``heatmap`` values.

        Every answer names the ``model`` version that gave it.
        """
        body: dict[str, Any] = _version_ref(id, application, canonical_name, version_number, version_name, alias)
        if entries is not None:
            if hasattr(entries, "to_dict"):
                body["entries"] = entries.to_dict(orient="records")
            else:
                body["entries"] = entries.tolist() if hasattr(entries, "tolist") else list(entries)
        if text is not None:
            body["text"] = text
        if image is not None:
            body["image"] = _image_base64(image)
        extra = {"target": target, "num_samples": num_samples}
        body.update({key: value for key, value in extra.items() if value is not None})
        explanation: dict[str, Any] = self._request("POST", "/routing/explain", json=body).json()
        return explanation

    def model_card(self, id: str) -> dict[str, Any]:
        """The model card of a version: intended use, notes, details, lineage, metrics, the latest run of each
        evaluation and its data, feature importance and how its predictions are explained."""
        card: dict[str, Any] = self._request("GET", f"/modelstore/models/{id}/card").json()
        return card

    def model_card_text(self, id: str, *, format: str = "markdown") -> str:
        """The model card rendered as ``"markdown"`` or ``"html"`` (a standalone page), for reports."""
        return self._request("GET", f"/modelstore/models/{id}/card", params={"format": format}).text

    def visualize(
        self,
        record: Any = None,
        *,
        tree: int = 0,
        node: int = 0,
        depth: int | None = None,
        max_nodes: int | None = None,
        id: str | None = None,
        application: str | None = None,
        canonical_name: str | None = None,
        version_number: int | None = None,
        version_name: str | None = None,
        alias: str | None = None,
    ) -> dict[str, Any]:
        """The inside of a stored tabular model, by ``id`` or by name (latest unless one is named).

        For a tree model: tree ``tree`` of the ensemble from node ``node`` down ``depth`` levels (the server
        bounds the node count and says when it left nodes out), each node's split, samples and prediction; with a
        ``record`` (a list of values in the model's input order, a dict by feature name, or a numpy row), the path
        it takes and that path as rules (``"bmi > 0.03 and s5 <= 0.02 → 212.4"``). For a linear or logistic model:
        coefficients per class with the intercept, and the record's contributions.
        """
        body = self._visualization_body(
            record, tree, node, depth, max_nodes, id, application, canonical_name, version_number, version_name, alias
        )
        view: dict[str, Any] = self._request("POST", "/routing/visualization", json=body).json()
        return view

    def visualize_svg(
        self,
        record: Any = None,
        *,
        tree: int = 0,
        node: int = 0,
        depth: int | None = None,
        max_nodes: int | None = None,
        id: str | None = None,
        application: str | None = None,
        canonical_name: str | None = None,
        version_number: int | None = None,
        version_name: str | None = None,
        alias: str | None = None,
    ) -> str:
        """The same view drawn as SVG (save it as a ``.svg`` file): a tree with the record's path highlighted, or a
        linear model's coefficients per class with the record's score as a waterfall from the intercept."""
        body = self._visualization_body(
            record, tree, node, depth, max_nodes, id, application, canonical_name, version_number, version_name, alias
        )
        return self._request("POST", "/routing/visualization", json={**body, "format": "svg"}).text

    @staticmethod
    def _visualization_body(
        record: Any,
        tree: int,
        node: int,
        depth: int | None,
        max_nodes: int | None,
        *ref: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = _version_ref(*ref)
        body.update(tree=tree, node=node)
        if depth is not None:
            body["depth"] = depth
        if max_nodes is not None:
            body["maxNodes"] = max_nodes
        if record is not None:
            body["record"] = _record_json(record)
        return body

    def sample_explanations(
        self,
        *,
        id: str | None = None,
        application: str | None = None,
        canonical_name: str | None = None,
        version_number: int | None = None,
        version_name: str | None = None,
        alias: str | None = None,
    ) -> dict[str, Any]:
        """The global view stored with a version by ``genome_model.explainer.sampleExplanations(X)``."""
        body = _version_ref(id, application, canonical_name, version_number, version_name, alias)
        samples: dict[str, Any] = self._request("POST", "/routing/explanation/samples", json=body).json()
        return samples

    def search_models(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        keyword: str | None = None,
        sort: str = "-created",
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page of versions: ``{"items": [...], "nextCursor": ...}``.

        ``filter`` is a condition ``{"field", "op", "value"}`` or a group ``{"and": [...]}``, ``{"or": [...]}``,
        ``{"not": ...}``; fields include ``tags.<key>``, ``alias`` and every metadata field.
        """
        body = {"filter": filter, "keyword": keyword, "sort": sort, "limit": limit, "cursor": cursor}
        page: dict[str, Any] = self._request("POST", "/modelstore/models/search", json=body).json()
        return page

    def iter_models(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        keyword: str | None = None,
        sort: str = "-created",
        page_size: int = 200,
    ) -> Iterator[dict[str, Any]]:
        """Every matching version, fetching pages as it goes."""
        cursor = None
        while True:
            page = self.search_models(filter, keyword=keyword, sort=sort, limit=page_size, cursor=cursor)
            yield from page["items"]
            cursor = page["nextCursor"]
            if cursor is None:
                return

    def set_alias(self, id: str, alias: str, *, require_passing: bool = False) -> dict[str, Any]:
        """Point ``alias`` (e.g. ``"production"``) at this version, moving it off any other.

        With ``require_passing``, the store refuses (``genome.errors.Conflict``) unless the latest run of every
        evaluation of this version passed.
        """
        params = {"require_passing": "true"} if require_passing else None
        record: dict[str, Any] = self._request("PUT", f"/modelstore/models/{id}/aliases/{alias}", params=params).json()
        return record

    def remove_alias(self, id: str, alias: str) -> dict[str, Any]:
        record: dict[str, Any] = self._request("DELETE", f"/modelstore/models/{id}/aliases/{alias}").json()
        return record

    def set_tags(self, id: str, tags: Mapping[str, str | None]) -> dict[str, Any]:
        """Set tags on a version; a ``None`` value removes that tag."""
        record: dict[str, Any] = self._request("PATCH", f"/modelstore/models/{id}/tags", json=dict(tags)).json()
        return record

    def delete_model(self, id: str) -> None:
        self._request("DELETE", f"/modelstore/models/{id}")


def _check_metrics(metrics: Any) -> None:
    """Refuse a NaN or infinite metric before the upload, naming it (the server refuses them too)."""
    for name, value in metrics.items() if isinstance(metrics, Mapping) else ():
        if isinstance(value, numbers.Real) and not math.isfinite(value):
            raise InvalidInput(
                f"metric {name!r} is {value!r}, not a finite number: JSON has no NaN or Infinity; leave it out, "
                "or record why in the description",
                field=f"meta.metrics.{name}",
            )


def _json_number(value: Any) -> float | None:
    number = float(value)  # numpy scalars, ints, bools-as-numbers
    return None if number != number else number  # JSON has no NaN: a missing value travels as null


def _record_json(record: Any) -> list[float | None] | dict[str, float | None]:
    """One record (a list, a 1-row array, a pandas Series or a dict by feature name) as JSON values."""
    if hasattr(record, "to_dict"):
        record = record.to_dict()
    if isinstance(record, dict):
        return {str(key): _json_number(value) for key, value in record.items()}
    values = record.tolist() if hasattr(record, "tolist") else list(record)
    if len(values) == 1 and isinstance(values[0], list):  # a 1 x n array
        values = values[0]
    return [_json_number(value) for value in values]


def _version_ref(
    id: str | None,
    application: str | None,
    canonical_name: str | None,
    version_number: int | None,
    version_name: str | None,
    alias: str | None,
) -> dict[str, Any]:
    ref = {
        "id": id,
        "application": application,
        "canonicalName": canonical_name,
        "versionNumber": version_number,
        "versionName": version_name,
        "alias": alias,
    }
    return {key: value for key, value in ref.items() if value is not None}


def _image_base64(image: Any) -> str:
    """Base64 of an image given as encoded bytes, a file path, a PIL image or a pixel array (sent as PNG)."""
    if isinstance(image, (bytes, bytearray)):
        data = bytes(image)
    elif isinstance(image, (str, os.PathLike)):
        data = Path(image).read_bytes()
    else:
        from PIL import Image

        picture = image if isinstance(image, Image.Image) else Image.fromarray(image)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        data = buffer.getvalue()
    return base64.b64encode(data).decode("ascii")
