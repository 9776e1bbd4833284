"""Grad-CAM explanations of image classifiers: PyTorch CNNs and Keras 3 models on the torch backend.

Grad-CAM weighs a convolutional layer's feature maps by the mean gradient of the class score over each map, keeps
the positive part of their sum and stretches it over the input. It is written here on torch autograd rather than
taken from captum because captum's ``LayerGradCam`` assumes channels-first activations, while Keras' convolutions
are channels-last by default; one forward and one backward pass explain an image either way.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from genome.errors import InvalidInput, NotFitted, PayloadTooLarge
from genome.extras import require

__all__ = ["MAX_IMAGE_PIXELS", "ImageExplainer", "ImageExplanation", "decode_image", "encode_png"]

MAX_IMAGE_PIXELS = 4096 * 4096  # beyond this a request is refused before its pixels are decoded
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_JET = np.array(  # Grad-CAM's customary colour scale: blue (no evidence) through green and yellow to red
    [(0.0, 0.0, 0.5), (0.0, 0.0, 1.0), (0.0, 1.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 0.0), (0.5, 0.0, 0.0)]
)
_JET_AT = np.array([0.0, 0.125, 0.375, 0.625, 0.875, 1.0])
_LUT = np.stack([np.interp(np.linspace(0, 1, 256), _JET_AT, _JET[:, c]) for c in range(3)], axis=1)
_LUT = (_LUT * 255).round().astype(np.uint8)


def _torch() -> Any:
    return require("torch", "explaining an image")


def decode_image(data: str) -> Any:
    """A PIL image from base64 PNG/JPEG (a ``data:image/...;base64,`` prefix is allowed); errors name ``image``."""
    from PIL import Image, UnidentifiedImageError

    payload = data.partition(",")[2] if data.startswith("data:") else data
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"image is not valid base64: {exc}", field="image") from exc
    try:
        image = Image.open(io.BytesIO(raw))
    except UnidentifiedImageError as exc:
        raise InvalidInput("image is not a PNG or JPEG picture", field="image") from exc
    except Image.DecompressionBombError as exc:  # far beyond our own limit: Pillow refuses to open it at all
        raise PayloadTooLarge(f"image is too large: {exc}", field="image") from exc
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise PayloadTooLarge(
            f"image is {width}x{height} pixels; at most {MAX_IMAGE_PIXELS} pixels per request", field="image"
        )
    try:
        image.load()
    except (OSError, SyntaxError) as exc:
        raise InvalidInput(f"image could not be decoded: {exc}", field="image") from exc
    return image


def encode_png(pixels: np.ndarray) -> str:
    """Base64 PNG of an HxWx3 uint8 array (fast compression: these go straight back to a browser)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The heat-map (HxW in [0, 1]) coloured and blended over the image (HxWxC uint8) as HxWx3 uint8."""
    rgb = image[..., :3] if image.shape[-1] >= 3 else np.repeat(image[..., :1], 3, axis=-1)
    coloured = _LUT[np.clip(heat * 255, 0, 255).astype(np.uint8)]
    return (rgb * (1 - alpha) + coloured * alpha).round().astype(np.uint8)


@dataclass
class ImageExplanation:
    """Which class the explanation is for, its softmax probability and where the evidence is.

    ``heatmap`` is the Grad-CAM at the explained layer's resolution, scaled to [0, 1] (all zeros when nothing in
    the image speaks for the class); ``image`` is a base64 PNG of it stretched and coloured over the input.
    """

    target: str
    target_index: int
    score: float
    image: str
    heatmap: list[list[float]]
    layer: str
    predictions: list[tuple[str, float]]


@dataclass
class _Network:
    """What Grad-CAM needs to know about one model, found by ``ImageExplainer.fit``."""

    framework: str  # "torch" or "keras"
    layer: Any
    layer_name: str
    channels_last: bool
    channels: int | None
    size: tuple[int, int] | None  # (height, width) the model takes, when it says so


def _keras_layers(model: Any) -> list[Any]:
    """Every layer of a Keras model in order, nested models' layers included."""
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        found.extend(_keras_layers(layer))
    return found


def _is_keras_conv(layer: Any) -> bool:
    return getattr(layer, "rank", None) == 2 and "Conv" in type(layer).__name__ and hasattr(layer, "data_format")


def _keras_network(model: Any, layer_name: str | None) -> _Network:
    torch = _torch()
    if not isinstance(model, torch.nn.Module):
        raise InvalidInput(
            "Grad-CAM explains Keras models on the torch backend (KERAS_BACKEND=torch); this one runs on "
            f"{type(model).__module__.partition('.')[0]}'s backend",
            field="canonicalName",
        )
    convolutions = [layer for layer in _keras_layers(model) if _is_keras_conv(layer)]
    layer = _pick_layer({layer.name: layer for layer in convolutions}, layer_name)
    channels_last = layer.data_format == "channels_last"
    shape = tuple(getattr(model, "input_shape", None) or ())
    size = channels = None
    if len(shape) == 4:
        height, width, channels = shape[1:] if channels_last else (*shape[2:], shape[1])
        size = (height, width) if height and width else None
    return _Network("keras", layer, layer.name, channels_last, channels, size)


def _torch_network(model: Any, layer_name: str | None) -> _Network:
    torch = _torch()
    convolutions = {name: module for name, module in model.named_modules() if isinstance(module, torch.nn.Conv2d)}
    layer = _pick_layer(convolutions, layer_name)
    channels = next(iter(convolutions.values())).in_channels
    return _Network("torch", layer, next(n for n, m in convolutions.items() if m is layer), False, channels, None)


def _pick_layer(convolutions: dict[str, Any], name: str | None) -> Any:
    if not convolutions:
        raise InvalidInput("Grad-CAM needs a CNN, and this model has no 2-D convolutional layer", field="canonicalName")
    if name is None:
        return list(convolutions.values())[-1]  # the last one sees the most abstract, still spatial, features
    if name not in convolutions:
        raise InvalidInput(
            f"the explainer's layer {name!r} is not a convolutional layer of this model; it has {list(convolutions)}",
            field="layer",
        )
    return convolutions[name]


class ImageExplainer:
    """Explains an image classifier with Grad-CAM on one of its convolutional layers.

    Args:
        layer: the convolutional layer to explain: a PyTorch module's name in ``named_modules()`` or a Keras
            layer's ``name``. By default the model's last 2-D convolution.
        alpha: opacity of the heat-map over the input in the returned picture.

    The model gets the preprocessor's output when one is given (it receives the raw pixel values, 0-255, as a
    float array NxHxWxC, like Keras' ``preprocess_input``); otherwise pixel values scaled to [0, 1], NxCxHxW for
    PyTorch and in the layout of the model's convolutions for Keras.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
        ...                           torch.nn.Linear(4 * 6 * 6, 2))
        >>> explainer = ImageExplainer().fit(net, ["cat", "dog"])
        >>> explainer.explain(np.zeros((8, 8, 3), dtype=np.uint8)).layer
        '0'
    """

    def __init__(self, layer: str | None = None, alpha: float = 0.5) -> None:
        self.layer = layer
        self.alpha = alpha

    def __repr__(self) -> str:
        return f"ImageExplainer(layer={self.layer!r}, alpha={self.alpha})"

    def fit(self, model: Any, class_names: Any = None, preprocessor: Any = None) -> ImageExplainer:
        """Find the layer to explain and the input the model takes; nothing is computed yet."""
        if not 0 <= self.alpha <= 1:
            raise InvalidInput(f"alpha must be between 0 and 1; got {self.alpha!r}", field="alpha")
        torch = _torch()
        roots = {cls.__module__.partition(".")[0] for cls in type(model).__mro__}
        if "keras" in roots:
            self.network_ = _keras_network(model, self.layer)
        elif isinstance(model, torch.nn.Module):
            model.eval()  # dropout off, batch norm on its running statistics
            self.network_ = _torch_network(model, self.layer)
        else:
            raise InvalidInput(
                f"Grad-CAM explains PyTorch and Keras CNNs; {type(model).__name__} is neither", field="canonicalName"
            )
        self.model_ = model
        self.class_names_ = [str(name) for name in class_names] if class_names else None
        self.preprocessor_ = preprocessor
        return self

    @property
    def expected_input(self) -> str:
        network = self._network()
        size = f"{network.size[1]}x{network.size[0]}" if network.size else "any size the model accepts"
        mode = _MODES.get(network.channels or 3, f"{network.channels}-channel")
        return f"a {mode} image, {size}"

    def _network(self) -> _Network:
        network: _Network | None = getattr(self, "network_", None)
        if network is None:
            raise NotFitted("call fit(model) before explain()")
        return network

    def pixels(self, image: Any) -> np.ndarray:
        """The decoded image as HxWxC uint8 in the channels the model takes; a wrong size is a 400 naming it."""
        network = self._network()
        mode = _MODES.get(network.channels or 3)
        if mode is None:
            raise InvalidInput(f"the model takes {network.channels} channels, which no PNG or JPEG has", field="image")
        if network.size is not None and (image.size[1], image.size[0]) != network.size:
            raise InvalidInput(
                f"image is {image.size[0]}x{image.size[1]}; the model takes {self.expected_input}", field="image"
            )
        try:
            array = np.asarray(image.convert(mode))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"image in mode {image.mode} cannot be read as {mode}: {exc}", field="image") from exc
        return array[..., None] if array.ndim == 2 else array

    def _model_input(self, pixels: np.ndarray) -> Any:
        torch = _torch()
        network = self._network()
        batch = pixels[None].astype(np.float32)
        if self.preprocessor_ is not None:
            try:
                prepared = self.preprocessor_(batch)
            except Exception as exc:  # the stored preprocessor's own failure, whatever it raises
                raise InvalidInput(
                    f"the model's data_preprocessor failed on a {batch.shape} batch: {exc}", field="canonicalName"
                ) from exc
            return prepared if isinstance(prepared, torch.Tensor) else torch.as_tensor(np.asarray(prepared))
        tensor = torch.from_numpy(batch / 255.0)
        return tensor if network.channels_last else tensor.permute(0, 3, 1, 2).contiguous()

    def _forward(self, x: Any) -> tuple[Any, Any]:
        """The model's output and the explained layer's activation, both attached to the autograd graph."""
        torch = _torch()
        network = self._network()
        captured: list[Any] = []
        hook = network.layer.register_forward_hook(lambda _module, _inputs, output: captured.append(output))
        try:
            with torch.enable_grad():
                output = self.model_(x, training=False) if network.framework == "keras" else self.model_(x)
        except (RuntimeError, ValueError) as exc:
            raise InvalidInput(
                f"the model could not take this image ({tuple(x.shape)} after preprocessing); it takes "
                f"{self.expected_input}: {str(exc).splitlines()[0]}",
                field="image",
            ) from exc
        finally:
            hook.remove()
        output = output[0] if isinstance(output, (tuple, list)) else output
        if not isinstance(output, torch.Tensor) or output.ndim != 2:
            raise InvalidInput(
                "Grad-CAM explains classifiers: the model must output one score per class (Nxclasses)",
                field="canonicalName",
            )
        return output, captured[-1]

    def _target(self, target: str | int | None, probabilities: np.ndarray) -> int:
        classes = probabilities.shape[0]
        if target is None:
            return int(probabilities.argmax())
        if isinstance(target, int) or (isinstance(target, str) and target.isdigit() and not self.class_names_):
            index = int(target)
            if not 0 <= index < classes:
                raise InvalidInput(f"target {index} is not a class index (0..{classes - 1})", field="target")
            return index
        if self.class_names_ and target in self.class_names_:
            return self.class_names_.index(target)
        raise InvalidInput(f"target {target!r} is not one of the model's classes {self.class_names_}", field="target")

    def _name(self, index: int) -> str:
        names = self.class_names_
        return names[index] if names and index < len(names) else str(index)

    def explain(self, pixels: np.ndarray, target: str | int | None = None) -> ImageExplanation:
        """Explain one image (HxWxC uint8, see ``pixels``) for ``target`` (a class name or index; by default the
        predicted class)."""
        torch = _torch()
        network = self._network()
        output, activation = self._forward(self._model_input(pixels))
        row = output[0]
        values = row.detach().double()
        is_probability = bool((values >= 0).all() and (values <= 1).all() and abs(float(values.sum()) - 1) < 1e-4)
        probabilities = (values if is_probability else torch.softmax(values, dim=0)).numpy()
        index = self._target(target, probabilities)
        (gradient,) = torch.autograd.grad(row[index], activation)
        channel_axis = activation.ndim - 1 if network.channels_last else 1
        spatial = tuple(axis for axis in range(1, activation.ndim) if axis != channel_axis)
        weights = gradient.mean(dim=spatial, keepdim=True)
        cam = torch.relu((weights * activation).sum(dim=channel_axis))[0].detach()
        peak = float(cam.max())
        cam = cam / peak if peak > 0 else cam
        stretched = torch.nn.functional.interpolate(
            cam[None, None], size=pixels.shape[:2], mode="bilinear", align_corners=False
        )[0, 0].numpy()
        top = np.argsort(probabilities)[::-1][:5]
        return ImageExplanation(
            target=self._name(index),
            target_index=index,
            score=float(probabilities[index]),
            image=encode_png(overlay(pixels, stretched, self.alpha)),
            heatmap=cam.numpy().round(4).tolist(),
            layer=network.layer_name,
            predictions=[(self._name(int(i)), float(probabilities[i])) for i in top],
        )
