"""Batch captioning on Ray Data: `captioner caption SOURCE --engine ray --output FILE [--address ADDR]`.

Two stages: reading and decoding images (Ray tasks, any number of CPUs), then captioning (an
actor pool: each actor loads the model once). Rows stream back to the driver, which appends them
to the output file a batch at a time (runtime/batch/outputs.py: resumable, at most one batch lost).
A row whose image cannot be read or decoded carries the error and never stops the run. Ray is
the optional extra `captioner[ray]`; without --address a local Ray is started on this machine.
"""

from __future__ import annotations

import json
import socket
from typing import Iterator

import numpy as np

from PIL import Image

from captioner.errors import CaptionerError
from captioner.runtime.batch.sources import read_source
from captioner.runtime.data.images import load_image, resize_square
from captioner.runtime.model.captioner import Captioner
from captioner.runtime.model.files import resolve_files
from captioner.runtime.model.result import CaptionResult, failure_text
from captioner.runtime.options import CaptionOptions
from captioner.settings import BATCH_SIZE

MODEL_BATCH = BATCH_SIZE  # images per Captioner call (larger constrained searches cost more per image)


def _decode_stage(input_size: int, fetch_policy=None):
    """Ray task body: {"source": [...]} -> each image resized to the encoder's square input (uint8), or the error."""
    def decode(batch: dict) -> dict:
        pixels, errors = [], []
        for source in batch["source"]:
            try:
                image = load_image(read_source(str(source), fetch_policy))
                pixels.append(resize_square(image, input_size))  # (S, S, 3)
                errors.append("")
            except Exception as exc:  # a reader failure of any kind fails only its image
                pixels.append(np.zeros((input_size, input_size, 3), np.uint8))
                errors.append(failure_text(exc))
        return {"source": batch["source"], "pixels": np.stack(pixels), "read_error": np.array(errors, dtype=object)}

    return decode


class _CaptionActor:
    """Ray actor: one model per actor (from its ONNX export), a batch of decoded images -> results as JSON."""

    def __init__(self, model: str, options: CaptionOptions):
        self.captioner = Captioner.load(resolve_files(model), grounding=options.grounding)
        self.options = options

    def __call__(self, batch: dict) -> dict:
        keep = [i for i, error in enumerate(batch["read_error"]) if not error]
        found: list = []
        for start in range(0, len(keep), MODEL_BATCH):  # Ray's blocks are larger than the model's best batch
            images = [Image.fromarray(batch["pixels"][i]) for i in keep[start : start + MODEL_BATCH]]
            found.extend(self.captioner.caption_isolated(images, self.options))
        results = dict(zip(keep, found))
        out = []
        for i, source in enumerate(batch["source"]):
            result = results.get(i)
            if batch["read_error"][i]:
                result = CaptionResult.failed(batch["read_error"][i])
            elif isinstance(result, Exception):
                result = CaptionResult.failed(result)
            result.source = str(source)
            out.append(json.dumps(result.to_dict()))
        return {"source": batch["source"], "result": np.array(out, dtype=object)}


def connect(address: str | None, num_cpus: int | None = None):
    """ray.init: the cluster at `address`, else a local Ray; a one-line error when it cannot."""
    try:
        import ray
    except ImportError:
        raise CaptionerError("--engine ray needs Ray: pip install 'captioner[ray]'") from None
    if address and address != "auto":
        _check_reachable(address)
    if ray.is_initialized():
        return ray
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    except Exception as exc:  # connection refused, timeouts, bad addresses: many types
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise CaptionerError(f"cannot start or reach {where}: {str(exc).splitlines()[0][:200]}") from None
    return ray


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Ray itself retries an unreachable cluster for minutes: try its port first, for a quick one-line error."""
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        raise CaptionerError(f"the Ray cluster at {address} does not answer ({exc})") from None


def caption_with_ray(sources: list[str], model: str, options: CaptionOptions, address: str | None = None,
                     batch_size: int = 32, actors: int = 1, num_cpus: int | None = None,
                     input_size: int | None = None) -> Iterator[CaptionResult]:
    """One result per source, a batch at a time, in no fixed order. `model` must have its ONNX
    export (export.loading.ensure_exported): the actors load it without torch."""
    ray = connect(address, num_cpus)
    if input_size is None:
        input_size = Captioner.load(resolve_files(model), grounding=False).encoder.input_size
    dataset = ray.data.from_items([{"source": s} for s in sources])
    decoded = dataset.map_batches(_decode_stage(input_size), batch_size=batch_size, batch_format="numpy")
    captioned = decoded.map_batches(_CaptionActor, fn_constructor_args=(model, options),
                                    batch_size=batch_size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors))
    for batch in captioned.iter_batches(batch_size=batch_size, batch_format="numpy"):
        for text in batch["result"]:
            yield CaptionResult.from_dict(json.loads(str(text)))
