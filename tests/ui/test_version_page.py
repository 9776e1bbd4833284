"""A version's page: the overview and an alias set through the side form, explanations of a tabular regressor (the
waterfall adds up to the model's prediction), of a text pipeline (the planted word is highlighted) and of an image
CNN (the Grad-CAM heat-map of an uploaded picture), and the tree visualizer (a record's path, opening a node)."""

from __future__ import annotations

import io
import os
import re
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from genome.modelstore.estimator import GenomeEstimator
from pictures import SIZE, spotted_cnn, spotted_images

os.environ.setdefault("KERAS_BACKEND", "torch")  # Genome explains Keras models on the torch backend

APPLICATION = "health"
EDITOR, EDITOR_PASSWORD = "erin", "erin-password-1"
PLANTED = "zeppelin"
VOCABULARY = (
    "the a river city morning quiet people walk road green market small house over under train bright "
    "window garden evening cold music old paper light stone field"
)


def save(server, estimator: GenomeEstimator, name: str, modality: str, prediction: str, **fields: Any) -> dict:
    meta = {
        "canonicalName": name,
        "application": APPLICATION,
        "framework": fields.pop("framework", "sklearn"),
        "inputModality": modality,
        "predictionType": prediction,
        **fields,
    }
    return server.store().save_model(estimator, meta)


@pytest.fixture(scope="module")
def editor(live_server) -> str:
    live_server.accounts().create_user(EDITOR, EDITOR_PASSWORD, {APPLICATION: "editor"})
    return EDITOR


@pytest.fixture(scope="module")
def forest(live_server) -> dict[str, Any]:
    """A small random forest regressor on scikit-learn's diabetes data, saved with a stored sample of 100 rows."""
    data = load_diabetes()
    model = RandomForestRegressor(n_estimators=8, max_depth=4, random_state=0).fit(data.data, data.target)
    genome = GenomeEstimator(
        model, target_classes=["progression"], feature_names=list(data.feature_names), modality="tabular"
    )
    genome.explainer.sampleExplanations(data.data[:100], data.target[:100])
    saved = save(live_server, genome, "/diabetes/forest", "tabular", "regression", versionName="1.2.3")
    return {"model": model, "data": data, "saved": saved}


@pytest.fixture(scope="module")
def text_model(live_server) -> dict[str, Any]:
    """TF-IDF + logistic regression on generated sentences: every "planted" one holds the word zeppelin."""
    rng = np.random.default_rng(0)
    words = VOCABULARY.split()
    texts, labels = [], []
    for index in range(200):
        sentence = list(rng.choice(words, size=12))
        if index % 2:
            sentence[int(rng.integers(0, 12))] = PLANTED
        texts.append(" ".join(sentence))
        labels.append(index % 2)
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression(C=10.0)).fit(texts, labels)
    genome = GenomeEstimator(
        pipe, estimator_predict="predict_proba", target_classes=["ordinary", "planted"], modality="text"
    )
    return {"model": pipe, "saved": save(live_server, genome, "/text/planted", "text", "classification")}


@pytest.fixture(scope="module")
def image_model(live_server) -> dict[str, Any]:
    """A tiny Keras CNN (Keras 3 on torch) taught to tell spotted pictures from plain ones."""
    from keras.applications.mobilenet_v2 import preprocess_input

    model = spotted_cnn(192, epochs=15)
    genome = GenomeEstimator(
        model, data_preprocessor=preprocess_input, target_classes=["plain", "spotted"], modality="image"
    )
    saved = save(live_server, genome, "/image/spots", "image", "classification", framework="keras")
    return {"model": model, "saved": saved}


# ---------------------------------------------------------------------------------------------------- overview


def test_overview_and_an_alias_set_by_an_editor(ui, forest, editor) -> None:
    version = forest["saved"]
    ui.login(EDITOR, EDITOR_PASSWORD)
    ui.goto(f"/models/{version['id']}", "overview")
    title = ui.page.locator("h1")
    assert title.inner_text().startswith("/diabetes/forest v1")
    assert title.locator(".version").inner_text() == "v1"
    assert "1.2.3" in title.inner_text()
    assert title.locator(".badge.alias").count() == 0
    assert ui.page.locator("nav.tabs [aria-current=page]").inner_text() == "Overview"
    assert "RandomForestRegressor" in ui.page.locator("dl.facts").inner_text()
    # the model card lists the stored sample's most important features
    assert ui.page.get_by_role("heading", name="Top features").is_visible()

    controls = ui.page.get_by_test_id("edit-controls")
    assert controls.is_visible()
    assert controls.locator("input[name=csrf]").first.get_attribute("value")
    controls.get_by_label("Alias").fill("production")
    ui.submit(controls.get_by_role("button", name="Set alias"), "alias-set")
    assert ui.path() == f"/models/{version['id']}"
    assert title.locator(".badge.alias").all_inner_texts() == ["production"]
    assert ui.page.get_by_test_id("versions").locator(".badge.alias").all_inner_texts() == ["production"]
    assert api_aliases(ui, version["id"]) == ["production"]

    ui.goto("/models?alias=production", "listed-by-alias")
    assert ui.page.locator("[data-testid=models] tbody tr").count() == 1
    assert ui.page.locator("[data-testid=models] .badge.alias").all_inner_texts() == ["production"]

    ui.goto(f"/models/{version['id']}", "overview-again")
    ui.submit(controls.get_by_role("button", name="Remove production"), "alias-removed")
    assert title.locator(".badge.alias").count() == 0


def api_aliases(ui, version_id: str) -> list[str]:
    """The aliases as the API tells them, through the page's own session."""
    answer = ui.page.request.get(ui.url(f"/v1.0/genome/modelstore/models/{version_id}"))
    assert answer.ok, answer.text()
    return answer.json()["aliases"]


# ---------------------------------------------------------------------------------------------------- explain


def waterfall_numbers(ui) -> dict[str, Any]:
    """The waterfall's exact numbers from its SVG, and the record from the form."""
    figure = ui.page.get_by_test_id("waterfall")
    assert figure.locator("svg").is_visible()
    return {
        "expected": float(figure.locator("g.expected").get_attribute("data-value")),
        "contributions": [
            float(value) for value in figure.locator("g.contribution").evaluate_all("gs => gs.map(g => g.dataset.shap)")
        ],
        "prediction": float(figure.locator("g.prediction").get_attribute("data-value")),
        "caption": figure.locator("figcaption").inner_text(),
        "record": [
            float(value)
            for value in ui.page.get_by_test_id("explain-form")
            .locator("input[name=x]")
            .evaluate_all("inputs => inputs.map(input => input.value)")
        ],
    }


def check_waterfall(ui, model: Any, expected_record: np.ndarray) -> None:
    numbers = waterfall_numbers(ui)
    assert numbers["record"] == pytest.approx(list(expected_record), rel=1e-12)
    assert len(numbers["contributions"]) == len(expected_record)
    total = numbers["expected"] + sum(numbers["contributions"])
    assert total == pytest.approx(numbers["prediction"], rel=1e-6)
    predicted = float(model.predict(np.asarray([numbers["record"]]))[0])
    assert numbers["prediction"] == pytest.approx(predicted, rel=1e-6)
    # the caption says the same sum, in 6 significant digits
    said = re.search(
        r"expected value (\S+) \+ contributions (\S+) = prediction (\S+)\.", numbers["caption"].replace(",", "")
    )
    assert said, numbers["caption"]
    expected, contributions, prediction = (float(value) for value in said.groups())
    assert expected == pytest.approx(numbers["expected"], rel=1e-5)
    assert contributions == pytest.approx(sum(numbers["contributions"]), rel=1e-5, abs=1e-9)
    assert prediction == pytest.approx(predicted, rel=1e-5)
    assert float(ui.page.get_by_test_id("prediction").inner_text().replace(",", "")) == pytest.approx(
        predicted, rel=1e-5
    )


def test_tabular_waterfall_adds_up_to_the_prediction(ui, forest) -> None:
    model, data, version = forest["model"], forest["data"], forest["saved"]
    ui.login_admin()
    ui.goto(f"/models/{version['id']}?tab=explain", "explain-sample-row-0")
    assert ui.page.locator("nav.tabs [aria-current=page]").inner_text() == "Explanations"
    assert "stored sample row 0" in ui.page.get_by_test_id("explain-form").locator("legend").inner_text()
    check_waterfall(ui, model, data.data[0])
    assert ui.page.get_by_test_id("importance").locator("svg").is_visible()
    assert ui.page.get_by_test_id("beeswarm").locator("svg circle").count() == 100 * data.data.shape[1]

    # another stored row, by its link
    ui.submit(ui.page.get_by_test_id("explain-form").get_by_role("link", name="7", exact=True), "sample-row-7")
    check_waterfall(ui, model, data.data[7])

    # a record typed into the form: a row outside the stored sample
    row = data.data[300]
    for name, value in zip(data.feature_names, row, strict=True):
        ui.page.get_by_test_id("explain-form").get_by_label(name, exact=True).fill(repr(float(value)))
    ui.submit(ui.page.get_by_test_id("explain-form").get_by_role("button", name="Explain"), "typed-record")
    check_waterfall(ui, model, row)


def test_text_explanation_highlights_the_planted_word(ui, text_model) -> None:
    version = text_model["saved"]
    ui.login_admin()
    ui.goto(f"/models/{version['id']}?tab=explain", "text-form")
    text = f"a quiet morning by the river and a {PLANTED} over the old market"
    form = ui.page.get_by_test_id("explain-form")
    form.get_by_label("Text").fill(text)
    ui.submit(form.get_by_role("button", name="Explain"), "text-explained")

    probabilities = text_model["model"].predict_proba([text])[0]
    assert probabilities[1] > 0.5  # the planted word carries the class
    section = ui.page.get_by_test_id("text-explanation")
    assert section.locator("h2").inner_text() == "Why planted"
    planted = ui.page.get_by_test_id("highlighted").locator("mark.weight", has_text=PLANTED)
    assert planted.count() == 1
    assert "for" in planted.get_attribute("class").split()
    weights = [
        float(value)
        for value in ui.page.get_by_test_id("highlighted")
        .locator("mark.weight")
        .evaluate_all("marks => marks.map(mark => mark.dataset.weight)")
    ]
    assert float(planted.get_attribute("data-weight")) == max(weights) > 0
    # the class links carry the model's probabilities
    shown = section.locator("nav.classes a").all_inner_texts()
    assert f"planted {probabilities[1] * 100:.1f}%" in shown

    # the other class explained: the same word now speaks against it
    ui.submit(section.locator("nav.classes").get_by_role("link", name=re.compile("^ordinary")), "other-class")
    planted = ui.page.get_by_test_id("highlighted").locator("mark.weight", has_text=PLANTED)
    assert ui.page.get_by_test_id("text-explanation").locator("h2").inner_text() == "Why ordinary"
    assert "against" in planted.get_attribute("class").split()


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_explanation_shows_the_heat_map_of_an_uploaded_picture(ui, image_model) -> None:
    version = image_model["saved"]
    picture = spotted_images(2, seed=3)[0][1]  # a spotted one
    ui.login_admin()
    ui.goto(f"/models/{version['id']}?tab=explain", "image-form")
    form = ui.page.get_by_test_id("explain-form")
    form.locator("input[type=file]").set_input_files(
        files=[{"name": "spotted.png", "mimeType": "image/png", "buffer": png(picture)}]
    )
    ui.submit(form.get_by_role("button", name="Explain"), "image-explained")

    section = ui.page.get_by_test_id("image-explanation")
    heat = section.locator("img.heat")
    assert heat.is_visible()
    size = heat.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
    assert size == [True, SIZE, SIZE]
    assert "Grad-CAM heat-map of layer" in heat.get_attribute("alt")
    picture_shown = section.locator("img:not(.heat)")
    assert picture_shown.evaluate("img => img.naturalWidth") == SIZE
    # the class named is the model's own best
    from keras.applications.mobilenet_v2 import preprocess_input

    probabilities = np.asarray(
        image_model["model"].predict(preprocess_input(picture[None].astype("float32")), verbose=0)
    )[0]
    said = re.fullmatch(r"(\w+) \(([\d.]+)%\)", section.locator("h2").inner_text())
    assert said, section.locator("h2").inner_text()
    assert said.group(1) == ["plain", "spotted"][int(np.argmax(probabilities))]
    assert float(said.group(2)) == pytest.approx(probabilities.max() * 100, abs=0.11)

    # the opacity slider fades the heat-map
    section.locator("input.opacity").fill("30")
    assert heat.evaluate("img => img.style.opacity") == "0.3"
    ui.shot("opacity-30")


# ---------------------------------------------------------------------------------------------------- visualize


def shown_nodes(ui) -> list[dict[str, Any]]:
    return (
        ui.page.get_by_test_id("tree")
        .locator("g.node")
        .evaluate_all(
            "nodes => nodes.map(node => ({id: Number(node.id.replace('node-', '')), classes: [...node.classList]}))"
        )
    )


def test_tree_visualizer_traces_a_record_and_opens_a_node(ui, forest) -> None:
    model, data, version = forest["model"], forest["data"], forest["saved"]
    ui.login_admin()
    ui.goto(f"/models/{version['id']}?tab=visualize", "tree")
    assert ui.page.get_by_test_id("tree").locator("svg").is_visible()
    assert ui.page.get_by_test_id("rule").count() == 0
    assert {node["id"] for node in shown_nodes(ui)} >= {0}

    # a record typed in: its path through tree 0 is the one scikit-learn takes
    row = data.data[42]
    form = ui.page.get_by_test_id("visualize-form")
    for name, value in zip(data.feature_names, row, strict=True):
        form.get_by_label(name, exact=True).fill(repr(float(value)))
    ui.submit(form.get_by_role("button", name="Show"), "record-traced")
    rule = ui.page.get_by_test_id("rule")
    assert rule.is_visible() and rule.inner_text().startswith("Path:")
    path = set(model.estimators_[0].decision_path(row[None].astype(np.float32)).indices.tolist())
    nodes = shown_nodes(ui)
    on_path = {node["id"] for node in nodes if "on-path" in node["classes"]}
    assert 0 in on_path and len(on_path) >= 2
    assert on_path == path & {node["id"] for node in nodes}
    predicted = float(model.predict(row[None])[0])
    said = re.search(r"the whole model predicts (\S+)", rule.inner_text().replace(",", ""))
    assert said and float(said.group(1)) == pytest.approx(predicted, rel=1e-5)

    # one level only: the root's children are collapsed; clicking one restarts the view from it
    ui.goto(f"/models/{version['id']}?tab=visualize&depth=1", "depth-1")
    collapsed = ui.page.get_by_test_id("tree").locator("g.node.collapsed")
    assert collapsed.count() == 2
    target = collapsed.first.get_attribute("id").removeprefix("node-")
    assert target != "0"
    with ui.page.expect_navigation():
        collapsed.first.click()
    ui.page.wait_for_load_state()
    ui.shot(f"opened-node-{target}")
    assert f"node={target}" in ui.path() and "depth=1" in ui.path()
    nodes = shown_nodes(ui)
    assert nodes[0]["id"] == int(target) and 0 not in {node["id"] for node in nodes}
    assert ui.page.get_by_test_id("visualize-form").get_by_label("Start at node").input_value() == target
