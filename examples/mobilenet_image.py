"""The seed's image example: Keras' MobileNetV2 with its ``preprocess_input``, stored and explained with Grad-CAM.

Run a server first (``make run``, which installs Keras and torch's CPU build; a server installed by hand needs
``pip install "genome[keras]"``), then:
``.venv/bin/python examples/mobilenet_image.py [--image photo.jpg] [--heatmap heatmap.png]``.
Uses the ImageNet weights when they can be downloaded (or are cached) and falls back otherwise, saying so, to the same
architecture with untrained weights: the explanation then shows the mechanics, not what ImageNet taught the model.
Without ``--image`` it explains a drawn picture. Inside a Sequencer step, the pipeline fields come from the step.
"""

from __future__ import annotations

import argparse
import base64
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")  # Genome explains Keras models on the torch backend

import numpy as np
from keras.applications.mobilenet_v2 import MobileNetV2, preprocess_input
from PIL import Image, ImageDraw

from genome.modelstore.client import ModelStore
from genome.modelstore.estimator import GenomeEstimator


def load_model(offline: bool):
    """MobileNetV2 with the ImageNet weights and class names, or untrained and with class numbers offline."""
    if not offline:
        try:
            from keras.applications.imagenet_utils import decode_predictions

            model = MobileNetV2(weights="imagenet", include_top=True)
            names = decode_predictions(np.eye(1000), top=1)
            return model, [classes[0][1] for classes in names]
        except Exception as error:  # no network: keras raises whatever its download raised
            print(f"The ImageNet weights are not reachable ({error}); using untrained MobileNetV2 weights.")
    else:
        print("Offline: using MobileNetV2 with untrained weights instead of the ImageNet ones.")
    return MobileNetV2(weights=None, include_top=True), None


def drawn_picture(size: int = 224) -> np.ndarray:
    """A red rocket-ish shape on a blue sky, as H x W x 3 uint8."""
    picture = Image.new("RGB", (size, size), (90, 150, 220))
    draw = ImageDraw.Draw(picture)
    draw.polygon([(112, 30), (140, 110), (84, 110)], fill=(210, 40, 40))
    draw.rectangle([(92, 110), (132, 190)], fill=(230, 230, 230))
    return np.asarray(picture)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--offline", action="store_true", help="do not try to download the ImageNet weights")
    parser.add_argument("--image", type=Path, help="a picture to explain (resized to 224x224)")
    parser.add_argument("--heatmap", type=Path, default=Path("heatmap.png"), help="where to write the explanation")
    parser.add_argument("--canonical-name", default="/classifier/mobilenet/v2")
    args = parser.parse_args()

    model, class_names = load_model(args.offline)
    genome = GenomeEstimator(
        model,
        data_preprocessor=preprocess_input,  # function for preprocessing image input
        target_classes=class_names,
        modality="image",
    )
    model_store = ModelStore()
    saved = model_store.save_model(
        genome,
        {
            "canonicalName": args.canonical_name,
            "application": os.environ.get("APPLICATION") or "search",
            "pipelineName": os.environ.get("PIPELINE_NAME") or "pipeline-keras-test",
            "pipelineRunId": os.environ.get("PIPELINE_RUNID") or "run-id",
            "pipelineStage": os.environ.get("STEP_NAME") or "image-class-step",
            "framework": "keras",
            "inputModality": "image",  # note here the difference with the example with tabular data.
            "versionName": "test.1.2",
            "predictionType": "classification",
        },
    )
    print(f"saved {saved['canonicalName']} version {saved['versionNumber']} as {saved['id']}")

    picture = np.asarray(Image.open(args.image).convert("RGB").resize((224, 224))) if args.image else drawn_picture()
    explanation = model_store.explain(
        image=picture, application=saved["application"], canonical_name=args.canonical_name
    )
    args.heatmap.write_bytes(base64.b64decode(explanation["image"]))
    print(
        f"class {explanation['class']} (softmax {explanation['score']:.3f}), Grad-CAM on layer {explanation['layer']}"
    )
    print(f"heat-map over the picture written to {args.heatmap}")
    model_store.close()


if __name__ == "__main__":
    main()
