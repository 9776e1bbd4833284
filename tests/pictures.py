"""Pictures and a small CNN for the image tests: noise pictures, half of them "spotted" with a bright patch in the
top-left quadrant, which a tiny Keras network learns to tell apart in seconds (no weights downloaded)."""

from __future__ import annotations

from typing import Any

import numpy as np

SIZE = 32


def spotted_images(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noise images (N x 32 x 32 x 3 uint8); the "spotted" half carry a bright 6x6 patch in the top-left quadrant."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 90, size=(count, SIZE, SIZE, 3)).astype(np.uint8)
    labels = np.arange(count) % 2
    for image, label in zip(images, labels, strict=True):
        if label:
            top, left = rng.integers(1, SIZE // 2 - 7, size=2)
            image[top : top + 6, left : left + 6] = (240, 220, 60)
    return images, labels


def spotted_cnn(count: int = 256, epochs: int = 25) -> Any:
    """A Keras CNN (conv_a, conv_b) trained on ``count`` spotted pictures, taking preprocess_input's [-1, 1] pixels
    (MobileNetV2's convention, as the seed's models do)."""
    import keras

    keras.utils.set_random_seed(0)
    images, labels = spotted_images(count)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_b"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(images / 127.5 - 1.0, labels, epochs=epochs, batch_size=64, verbose=0)
    return model
