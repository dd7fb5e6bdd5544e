"""A model's parts built by PyTorch: for the torch backend, and for a model without an ONNX export
(exported into the cache on this first load, unless an explicit encoder weights file is used)."""

from __future__ import annotations

from dataclasses import asdict

from captioner.export.onnx_export import export_bundle, shared_init
from captioner.runtime.devices import onnx_providers
from captioner.runtime.model.captioner import Captioner
from captioner.runtime.model.exported import read_exported
from captioner.runtime.model.files import ModelFiles
from captioner.runtime.model.runners import load_background, load_runners
from captioner.training.bundle import ModelBundle, load_bundle
from captioner.training.encoders import create_encoder
from captioner.training.encoders.onnx import maybe_onnx
from captioner.training.networks.torch_runner import TorchRunner, decoder_runner


def onnx_runners(files: ModelFiles, bundle: ModelBundle, encoder=None, providers: list[str] | None = None):
    """The bundle's decoder, language model and background language model in ONNX Runtime: the
    shipped export (`<model>.onnx/`) when there is one; else the cache's, exported once (with
    `encoder` when given, so later loads need no torch)."""
    folder = files.decoder_folder
    if folder == files.cached and not (folder / "bundle.json").is_file():
        export_bundle(bundle, files.digest, folder, encoder=encoder)
    exported = read_exported(folder, files.path, files.digest)  # the export records which inits it shares
    shared = exported[0].shared_init if exported else tuple(shared_init(bundle))
    decoder, language_model = load_runners(files.path, files.digest, bundle.language_model is not None, folder,
                                           providers=providers, sources=tuple(bundle.source_decoders),
                                           shared_init=shared)
    background = load_background(files.path, files.digest, folder, providers=providers) \
        if bundle.background_lm is not None else None
    return decoder, language_model, background


def load(files: ModelFiles, encoder_weights: str | None, backend: str, grounding, device: str) -> Captioner:
    bundle = load_bundle(files.path)
    encoder = create_encoder(bundle.encoder["name"], encoder_weights)
    decoder_config = asdict(bundle.decoder.config)
    if backend == "auto":
        providers = onnx_providers(device)
        torch_encoder, encoder = encoder, maybe_onnx(encoder, providers)
        decoder, language_model, background = onnx_runners(files, bundle, torch_encoder if encoder_weights is None else None,
                                                            providers)
    else:
        decoder = decoder_runner(bundle)
        language_model, background = (TorchRunner(lm) if lm is not None else None
                                      for lm in (bundle.language_model, bundle.background_lm))
    return Captioner(files, bundle, encoder, decoder, language_model, background, grounding=grounding,
                     decoder_config=decoder_config)
