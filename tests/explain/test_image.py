"""Grad-CAM explanations of CNNs (PyTorch and Keras 3 on torch), trained here where the class signal sits in one
quadrant, explained directly and through the seed's route."""

from __future__ import annotations

import base64
import io
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from genome.explain.image import ImageExplainer, decode_image
from genome.modelstore.estimator import GenomeEstimator
from genome.server.app import API_PREFIX
from pictures import SIZE, spotted_cnn, spotted_images

os.environ["KERAS_BACKEND"] = "torch"

EXPLAIN = f"{API_PREFIX}/routing/explain"
CLASSES = ["plain", "spotted"]


def to_png(pixels: np.ndarray, data_url: bool = False) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"data:image/png;base64,{encoded}" if data_url else encoded


class SpotNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU()
        )
        self.head = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def torch_cnn() -> SpotNet:
    torch.manual_seed(0)
    images, labels = spotted_images(256)
    x = torch.tensor(images, dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
    y = torch.tensor(labels)
    net = SpotNet()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(60):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    return net.eval()


@pytest.fixture(scope="module")
def keras_cnn() -> Any:
    return spotted_cnn(256, epochs=25)


def quadrant_share(heatmap: Any) -> float:
    """The share of the heat-map's mass in the top-left quadrant."""
    heat = np.asarray(heatmap, dtype=float)
    rows, cols = heat.shape
    return float(heat[: rows // 2, : cols // 2].sum() / heat.sum())


def test_torch_cnn_heat_sits_where_the_class_signal_is(torch_cnn) -> None:
    images, labels = spotted_images(40, seed=1)
    explainer = ImageExplainer().fit(torch_cnn, CLASSES)
    shares = []
    for image in images[labels == 1]:
        result = explainer.explain(image)
        assert result.target == "spotted" and result.layer == "features.3"
        shares.append(quadrant_share(result.heatmap))
    assert np.median(shares) > 0.7, shares


def test_score_is_the_softmax_probability_and_target_can_be_chosen(torch_cnn) -> None:
    image = spotted_images(2, seed=2)[0][1]
    explainer = ImageExplainer().fit(torch_cnn, CLASSES)
    with torch.no_grad():
        logits = torch_cnn(torch.tensor(image[None], dtype=torch.float32).permute(0, 3, 1, 2) / 255.0)
    probabilities = torch.softmax(logits, dim=1)[0].numpy()
    predicted = explainer.explain(image)
    assert predicted.target_index == int(probabilities.argmax())
    assert predicted.score == pytest.approx(float(probabilities.max()), rel=1e-5)
    other = explainer.explain(image, target="plain")
    assert other.target_index == 0 and other.score == pytest.approx(float(probabilities[0]), rel=1e-5)
    assert explainer.explain(image, target=0).target == "plain"
    assert [name for name, _ in predicted.predictions] == [CLASSES[i] for i in np.argsort(probabilities)[::-1]]


def test_layer_can_be_chosen_and_a_wrong_one_is_named(torch_cnn) -> None:
    image = spotted_images(2)[0][1]
    result = ImageExplainer(layer="features.0").fit(torch_cnn, CLASSES).explain(image)
    assert result.layer == "features.0" and np.asarray(result.heatmap).shape == (SIZE, SIZE)
    with pytest.raises(ValueError, match=r"features\.0', 'features\.3") as caught:
        ImageExplainer(layer="head").fit(torch_cnn, CLASSES)
    assert caught.value.field == "layer"  # type: ignore[attr-defined]


def test_picture_is_the_input_size_with_the_heat_over_it(torch_cnn) -> None:
    image = spotted_images(2)[0][1]
    result = ImageExplainer(alpha=0.5).fit(torch_cnn, CLASSES).explain(image)
    picture = np.asarray(decode_image(result.image))
    assert picture.shape == (SIZE, SIZE, 3)
    plain = ImageExplainer(alpha=0.0).fit(torch_cnn, CLASSES).explain(image)
    assert np.array_equal(np.asarray(decode_image(plain.image)), image)  # no heat: the input itself


def test_keras_channels_last_cnn_is_explained(keras_cnn) -> None:
    from keras.applications.mobilenet_v2 import preprocess_input

    images, labels = spotted_images(40, seed=1)
    explainer = ImageExplainer().fit(keras_cnn, CLASSES, preprocess_input)
    assert explainer.expected_input == "a RGB image, 32x32"
    shares = []
    for image in images[labels == 1]:
        result = explainer.explain(image)
        assert result.layer == "conv_b" and result.target == "spotted"
        shares.append(quadrant_share(result.heatmap))
    assert np.median(shares) > 0.7, shares
    probabilities = np.asarray(keras_cnn.predict(preprocess_input(images[1:2].astype("float32")), verbose=0))[0]
    assert result.score == pytest.approx(float(probabilities[1]), rel=1e-4)  # already a softmax: kept as it is


def _save(store: Any, model: Any, name: str, framework: str, **fields: Any) -> dict:
    genome_model = GenomeEstimator(model, target_classes=CLASSES, modality="image", **fields)
    return store.save_model(
        genome_model,
        {
            "canonicalName": name,
            "application": "search",
            "pipelineName": "pipeline-keras-test",
            "pipelineStage": "image-class-step",
            "framework": framework,
            "inputModality": "image",
            "versionName": "test.1.2",
            "predictionType": "classification",
        },
    )


def test_seed_image_flow_through_the_route(server, store, torch_cnn, keras_cnn) -> None:
    from keras.applications.mobilenet_v2 import preprocess_input

    saved = _save(store, torch_cnn, "/classifier/spots/torch", "pytorch")
    _save(store, keras_cnn, "/classifier/mobilenet/v2", "keras", data_preprocessor=preprocess_input)
    image = spotted_images(2, seed=3)[0][1]
    for name in ("/classifier/spots/torch", "/classifier/mobilenet/v2"):
        response = server.http.post(
            EXPLAIN, json={"application": "search", "canonicalName": name, "image": to_png(image)}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["class"] == "spotted" and body["number_labels"] == 1 and 0.5 < body["score"] <= 1
        assert np.asarray(decode_image(body["image"])).shape == (SIZE, SIZE, 3)
        assert quadrant_share(body["heatmap"]) > 0.6
        assert body["predictions"][0] == {"class": "spotted", "score": body["score"]}

    ref = {"id": saved["id"], "image": to_png(image, data_url=True), "target": "plain"}
    body = server.http.post(EXPLAIN, json=ref).json()
    assert body["class"] == "plain" and body["model"]["id"] == saved["id"] and body["score"] < 0.5

    # The SDK sends pixel arrays, PIL images and encoded files alike.
    by_array = store.explain(image=image, id=saved["id"], target="plain")
    assert by_array == body
    assert store.explain(image=Image.fromarray(image), id=saved["id"], target=0) == body
    assert store.explain(image=base64.b64decode(to_png(image)), id=saved["id"])["class"] == "spotted"


def test_repeated_image_request_is_answered_from_the_results_cache(make_server, torch_cnn) -> None:
    server = make_server("sqlite")
    _save(server.store(), torch_cnn, "/spots", "pytorch")
    body = {"application": "search", "canonicalName": "/spots", "image": to_png(spotted_images(2)[0][1])}
    first = server.http.post(EXPLAIN, json=body).json()
    results = server.app.state.runtime.explanations
    assert server.http.post(EXPLAIN, json=body).json() == first
    assert results.loads == 1
    assert server.http.post(EXPLAIN, json={**body, "target": 0}).json()["class"] == "plain"
    assert results.loads == 2


def test_concurrent_requests_get_their_own_explanations(make_server, torch_cnn) -> None:
    server = make_server("sqlite", explain_result_cache_size=0)
    saved = _save(server.store(), torch_cnn, "/spots", "pytorch")
    images = spotted_images(16, seed=5)[0]
    explainer = ImageExplainer().fit(torch_cnn, CLASSES)
    expected = [explainer.explain(image).heatmap for image in images]

    def explain(image: np.ndarray) -> list[list[float]]:
        response = server.http.post(EXPLAIN, json={"id": saved["id"], "image": to_png(image)})
        assert response.status_code == 200, response.text
        return response.json()["heatmap"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(explain, images))
    for answer, truth in zip(answers, expected, strict=True):
        np.testing.assert_allclose(answer, truth, atol=1e-4)


def test_bad_images_are_clear_errors(make_server, torch_cnn, keras_cnn) -> None:
    server = make_server("sqlite")
    store = server.store()
    _save(store, keras_cnn, "/keras", "keras")
    flat = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 30 * 30, 2))
    _save(store, flat, "/flat", "pytorch")
    _save(store, nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 2)), "/mlp", "pytorch")
    image = spotted_images(2)[0][1]

    def error(name: str, status: int = 400, **payload: Any) -> dict:
        response = server.http.post(EXPLAIN, json={"application": "search", "canonicalName": name, **payload})
        assert response.status_code == status, response.text
        return response.json()["error"]

    wrong_size = to_png(np.zeros((20, 24, 3), dtype=np.uint8))
    found = error("/keras", image=wrong_size)
    assert found["field"] == "image" and "24x20" in found["message"] and "32x32" in found["message"]
    found = error("/flat", image=wrong_size)
    assert found["field"] == "image" and "(1, 3, 20, 24)" in found["message"]
    assert error("/flat", image="not base64!")["field"] == "image"
    found = error("/flat", image=base64.b64encode(b"plain words").decode())
    assert found["field"] == "image" and "PNG or JPEG" in found["message"]
    found = error("/flat", image=to_png(image), target="zebra")
    assert found["field"] == "target" and "plain" in found["message"]
    assert error("/flat", image=to_png(image), target=7)["field"] == "target"
    found = error("/mlp", image=to_png(image))
    assert found["field"] == "canonicalName" and "no 2-D convolutional layer" in found["message"]
    found = error("/flat", text="a picture of a dog")
    assert found["field"] == "text" and "an image model" in found["message"]
    assert error("/flat")["field"] == "image"
    huge = Image.new("L", (5000, 4000))
    buffer = io.BytesIO()
    huge.save(buffer, format="PNG")
    found = error("/flat", 413, image=base64.b64encode(buffer.getvalue()).decode())
    assert found["field"] == "image"
    assert (
        server.http.post(
            EXPLAIN, json={"application": "search", "canonicalName": "/flat", "image": to_png(image)}
        ).status_code
        == 200
    )
    sixteen_bit = to_png(np.full((SIZE, SIZE), 40000, dtype=np.uint16))
    assert (
        server.http.post(
            EXPLAIN, json={"application": "search", "canonicalName": "/flat", "image": sixteen_bit}
        ).status_code
        == 200
    )

    def broken(batch: np.ndarray) -> np.ndarray:
        raise KeyError("channel")

    _save(store, torch_cnn, "/broken", "pytorch", data_preprocessor=broken)
    found = error("/broken", image=to_png(image))
    assert found["field"] == "canonicalName" and "data_preprocessor failed" in found["message"]
