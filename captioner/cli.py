"""The `captioner` command: train, self-critical, evaluate, caption, extract-features, serve, models, export-onnx."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

from captioner.errors import CaptionerError
from captioner.inference.sources import expand_images  # noqa: F401 - the CLI's file patterns

DEFAULT_DATASET = os.environ.get("CAPTIONER_DATASET", "data/flickr8k")
DEFAULT_CACHE = os.environ.get("CAPTIONER_CACHE", "cache/features")

TRAIN_HELP = {
    "dataset": "Flickr8k folder, Kaggle folder (Images/ + captions.txt) or COCO-style JSON (env CAPTIONER_DATASET)",
    "output": "run folder for checkpoints, history.csv/json, loss_curve.png and the best model.pt",
    "encoder": "image encoder whose cached features train the decoder",
    "encoder_weights": "explicit encoder weight file, or random (untrained: smoke tests, benchmarks) (default: the installed package, $CAPTIONER_WEIGHTS_DIR or Keras cache)",
    "cache_dir": "feature cache root; features are extracted once per encoder (env CAPTIONER_CACHE)",
    "merge": "how the image conditions the LSTM: add (merge model), inject (initial state) or attention (grid)",
    "embed_dim": "word embedding size",
    "hidden_dim": "LSTM hidden size",
    "attention_dim": "attention layer size (attention only)",
    "dropout": "dropout on embeddings, image features and LSTM outputs",
    "embeddings": "word vectors: learned, glove-frozen or glove-finetune (GloVe 6B 50d)",
    "min_count": "keep words seen at least this many times in training captions",
    "max_caption_length": "words kept per training caption",
    "limit_images": "use at most this many images per split (quick runs)",
    "mix": "a second dataset trained alongside --dataset (e.g. a COCO-format folder); part of it is held out for validation",
    "mix_weight": "times each --mix caption is seen per epoch (oversampling; a fraction draws that share)",
    "mix_holdout": "--mix photos held out (seeded) and validated on with --dataset's val split",
    "init_from": "start from this trained model (shipped name or .pt), its vocabulary grown by the new words",
    "epochs": "maximum number of epochs",
    "batch_size": "captions per optimiser step",
    "lr": "Adam learning rate (halved when validation stops improving)",
    "grad_clip": "gradient norm clip",
    "attention_reg": "doubly stochastic attention penalty weight",
    "label_smoothing": "label smoothing of the cross-entropy",
    "patience": "stop after this many epochs without validation improvement",
    "stop_on": "validation criterion for early stopping and the best model: bleu4 or loss",
    "max_steps": "stop after this many optimiser steps (smoke tests)",
    "seed": "random seed",
    "threads": "torch CPU threads (default: all cores)",
    "device": "auto (CUDA when visible, else MPS, else CPU), cpu, cuda or mps; CUDA trains in mixed precision",
}
SELF_CRITICAL_HELP = {
    "model": "the trained model to fine-tune: shipped name or .pt path",
    "output": "run folder for last.pt, history.json and the best model.pt",
    "epochs": "maximum number of self-critical epochs",
    "batch_images": "images per optimiser step",
    "samples": "captions sampled per image (their mean reward is each one's baseline)",
    "lr": "Adam learning rate",
    "max_length": "words per sampled caption",
    "patience": "stop after this many epochs without a better validation CIDEr",
}
SERVE_HELP = {
    "max_upload_bytes": "largest request body in bytes, refused (413) as it arrives",
    "max_pixels": "largest image in pixels, refused (413) before decoding (Pillow's bomb check follows it)",
    "max_queue": "requests that may wait for the model; more get 503",
    "body_timeout": "seconds to receive a request body (408 after)",
    "header_timeout": "seconds to receive a request head; slower connections are closed",
    "keep_alive": "seconds an idle kept-alive connection stays open",
    "max_connections": "concurrent connections; more get 503",
    "max_fetches": "image URLs fetched at once",
    "max_decodes": "images decoded at once (the memory budget of decoding)",
    "cache_entries": "answers kept in the result cache",
    "max_batch": "requests captioned together in one pass (micro-batching)",
    "batch_wait_ms": "milliseconds the model worker waits for more requests before a batch",
}
FETCH_HELP = {
    "max_bytes": "largest image URL body in bytes, after decompression",
    "total_timeout": "seconds for a whole URL fetch, headers included",
    "connect_timeout": "seconds to connect to an image URL",
    "read_timeout": "seconds between bytes from an image URL",
    "max_redirects": "redirects followed per URL",
}
CHOICES = {"merge": ["add", "inject", "attention"], "embeddings": ["learned", "glove-frozen", "glove-finetune"],
           "stop_on": ["bleu4", "loss"], "device": ["auto", "cpu", "cuda", "mps"]}
DEVICE_HELP = "where to run: auto (a CUDA GPU when visible, else the CPU), cpu or cuda (default auto)"


def _add_search_options(parser: argparse.ArgumentParser) -> None:
    from captioner.decoding.search import SearchConfig

    d = SearchConfig()  # the one source of the search defaults
    parser.add_argument("--beam-size", type=int, default=d.beam_size, help=f"beam width; 1 = greedy (default {d.beam_size})")
    parser.add_argument("--max-length", type=int, default=d.max_length,
                        help=f"longest caption in words (default {d.max_length})")
    parser.add_argument("--length-penalty", type=float, default=d.length_penalty,
                        help=f"beam score = log-prob / length**alpha (default {d.length_penalty})")
    parser.add_argument("--no-repeat-ngram", type=int, default=d.no_repeat_ngram,
                        help=f"forbid repeating n-grams of this size; 0 = off (default {d.no_repeat_ngram})")
    parser.add_argument("--exhaustive", action="store_true",
                        help="keep searching after beam-size finished captions while a live one may beat them")
    parser.add_argument("--no-grounding", action="store_true",
                        help="plain beam search: no visual-concept constraints (default: grounded)")


def _search_config(args: argparse.Namespace):
    from captioner.decoding import SearchConfig

    if args.beam_size < 1 or args.max_length < 1:
        raise CaptionerError("--beam-size and --max-length must be at least 1")
    return SearchConfig(beam_size=args.beam_size, max_length=args.max_length, length_penalty=args.length_penalty,
                        no_repeat_ngram=args.no_repeat_ngram, exhaustive=args.exhaustive)


def _add_config_options(parser: argparse.ArgumentParser, options: list, helps: dict, choices: dict) -> None:
    """One --flag per dataclass field (field, default); dataset and cache folders from the environment."""
    for f, default in options:
        default = DEFAULT_DATASET if f.name == "dataset" else DEFAULT_CACHE if f.name == "cache_dir" else default
        kind = {"int": int, "float": float}.get(str(f.type).split(" ")[0], str)
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=kind, default=default,
                            choices=choices.get(f.name), help=helps[f.name])


def build_parser() -> argparse.ArgumentParser:
    from captioner.decoder import DecoderConfig
    from captioner.encoders import ENCODER_NAMES
    from captioner.training import TrainConfig
    from captioner.training.config import DECODER_FIELDS

    parser = argparse.ArgumentParser(prog="captioner", description="CNN + LSTM image captioner (Flickr8k).")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train a decoder on cached image features",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    decoder_defaults = TrainConfig().decoder
    options = [(f, f.default) for f in fields(TrainConfig) if f.name != "decoder"]
    options += [(f, getattr(decoder_defaults, f.name)) for f in fields(DecoderConfig) if f.name in DECODER_FIELDS]
    _add_config_options(train, options, TRAIN_HELP, {**CHOICES, "encoder": list(ENCODER_NAMES)})
    from captioner.training.config import PRESETS

    train.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="an original system's recipe (encoder, merge and the tutorials' decoder sizes); explicit flags override it")
    train.add_argument("--resume", action="store_true", help="continue the run in --output from its last.pt")
    train.add_argument("--nproc", type=int, default=1,
                       help="data-parallel processes on this machine (launches torchrun; default 1). On several "
                            "machines run `torchrun --nnodes ... -m captioner train ...` yourself")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")

    critical = sub.add_parser("self-critical", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                              help="fine-tune a trained model on its own samples' CIDEr-D (self-critical training)")
    from captioner.training.config import SelfCriticalConfig

    _add_config_options(critical, [(f, f.default) for f in fields(SelfCriticalConfig)],
                        {**TRAIN_HELP, **SELF_CRITICAL_HELP}, {})
    critical.add_argument("--resume", action="store_true", help="continue the run in --output from its last.pt")
    critical.add_argument("--no-progress", action="store_true", help="no progress bars")

    evaluate = sub.add_parser("evaluate", help="score a model on a dataset split (BLEU-1..4, METEOR, ROUGE-L, CIDEr)")
    evaluate.add_argument("--model", default=None, help="shipped model name or .pt path (default: the shipped default)")
    evaluate.add_argument("--dataset", default=DEFAULT_DATASET, help=TRAIN_HELP["dataset"])
    evaluate.add_argument("--split", default="test",
                          help="split to score: train, val, test, all (every image, e.g. for coco-dev) or holdout (the photos "
                               "`train --mix` held out of this dataset, e.g. coco-train) (default test)")
    evaluate.add_argument("--cache-dir", default=DEFAULT_CACHE, help=TRAIN_HELP["cache_dir"])
    evaluate.add_argument("--encoder-weights", default=None, help=TRAIN_HELP["encoder_weights"])
    evaluate.add_argument("--modes", default="beam,greedy", help="comma list of beam and/or greedy (default both)")
    evaluate.add_argument("--output-json", default=None,
                          help="per-image captions and the report (default runs/evaluate/DATASET-SPLIT-MODEL.json; "
                               "never a file inside the dataset)")
    evaluate.add_argument("--limit", type=int, default=None, help="score only the first N images of the split")
    evaluate.add_argument("--no-meteor", action="store_true", help="skip METEOR (needs Java)")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bars")
    evaluate.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help=DEVICE_HELP)
    evaluate.add_argument("--backend", default="torch", choices=["torch", "onnx"],
                          help="decoder runtime: torch (the trained weights as they are) or onnx (as `caption` and "
                               "`serve` run it; checks the export) (default torch)")
    _add_search_options(evaluate)

    caption = sub.add_parser("caption", help="caption image files, globs, folders or a listing of paths and URLs")
    caption.add_argument("images", nargs="+", metavar="SOURCE",
                         help="image paths, glob patterns, folders, URLs, or one .txt/.csv/.parquet file listing "
                              "paths and URLs (s3:// and other pyarrow filesystems too)")
    caption.add_argument("--model", default=None, help="shipped model name or .pt path (default: the shipped default)")
    caption.add_argument("--encoder-weights", default=None, help=TRAIN_HELP["encoder_weights"])
    caption.add_argument("--json", action="store_true", help="print one JSON object per image (JSON lines)")
    caption.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help=DEVICE_HELP)
    caption.add_argument("--alternatives", action="store_true", help="also print the other beam captions with scores")
    caption.add_argument("--concepts", action="store_true", help="also print the detected concepts")
    caption.add_argument("--output", default=None, metavar="FILE",
                         help="write results to FILE (.csv, .jsonl or .parquet) instead of printing them; a second "
                              "run skips the images already in FILE")
    caption.add_argument("--engine", default="local", choices=["local", "ray"],
                         help="local: this process (default); ray: Ray Data, on a local Ray or the cluster at --address "
                              "(needs --output; pip install 'captioner[ray]')")
    caption.add_argument("--address", default=None, help="with --engine ray: a Ray cluster's address (default: start one here)")
    caption.add_argument("--ray-actors", type=int, default=1, help="with --engine ray: model replicas (actors) (default 1)")
    caption.add_argument("--sidecar", action="store_true", help="write each caption to a .txt file beside its image")
    caption.add_argument("--write-metadata", action="store_true",
                         help="write each caption into its image (JPEG/PNG) as EXIF ImageDescription and XMP "
                              "dc:description (pixels untouched; atomic)")
    caption.add_argument("--metadata-dir", default=None, metavar="DIR",
                         help="with --write-metadata: write captioned copies into DIR, leaving the originals alone")
    _add_search_options(caption)

    extract = sub.add_parser("extract-features", help="cache encoder features for a whole dataset (resumable)")
    extract.add_argument("--dataset", default=DEFAULT_DATASET, help=TRAIN_HELP["dataset"])
    extract.add_argument("--images", default=None,
                         help="instead of a dataset: a folder of images without captions (e.g. coco-unlabeled/images)")
    extract.add_argument("--encoder", default="efficientnet-lite2", choices=ENCODER_NAMES, help="encoder name")
    extract.add_argument("--encoder-weights", default=None, help=TRAIN_HELP["encoder_weights"])
    extract.add_argument("--cache-dir", default=DEFAULT_CACHE, help=TRAIN_HELP["cache_dir"])
    extract.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    extract.add_argument("--no-grid", action="store_true", help="keep only pooled vectors (no attention models)")
    extract.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                         help=DEVICE_HELP + "; for the encoders ONNX Runtime runs (InceptionV3's TorchScript runs on the CPU)")

    serve = sub.add_parser("serve", help="run the web app and JSON API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--model", default=None, help="shipped model name or .pt path")
    serve.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help=DEVICE_HELP)
    from captioner.data.fetch import FetchPolicy
    from captioner.serving.settings import ServeSettings

    bounds = serve.add_argument_group("resource bounds (see the README's Web service section)")
    for f in fields(ServeSettings):
        if f.name in SERVE_HELP:
            bounds.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=f.default,
                                type=int if isinstance(f.default, int) else float, help=f"{SERVE_HELP[f.name]} (default {f.default})")
    for f in fields(FetchPolicy):
        if f.name in FETCH_HELP:
            bounds.add_argument("--fetch-" + f.name.replace("_", "-"), dest="fetch_" + f.name, default=f.default,
                                type=int if isinstance(f.default, int) else float, help=f"{FETCH_HELP[f.name]} (default {f.default})")

    sub.add_parser("models", help="list the shipped models with their test scores")
    export = sub.add_parser("export-onnx", help="export a model's decoder and language model to ONNX (beside the .pt)")
    export.add_argument("--model", default=None, help="shipped model name or .pt path (default: the shipped default)")
    export.add_argument("--output", default=None, help="folder for init.onnx, step.onnx, lm.onnx (default: <model>.onnx/)")
    export.add_argument("--precision", default="float32", choices=["float32", "int8"],
                        help="the step graphs' weights: float32 (as PyTorch) or int8 (8-bit blocks, the most frequent "
                             "words' output columns float32: faster for one image; see the README) (default float32)")
    return parser


def cmd_caption(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from captioner.inference.sources import expand_sources

    started = time.perf_counter()
    sources = expand_sources(args.images)
    search = _search_config(args)
    if args.metadata_dir and not args.write_metadata:
        raise CaptionerError("--metadata-dir goes with --write-metadata")
    writer = None
    if args.output:
        from captioner.inference.outputs import ResultWriter

        writer = ResultWriter(args.output)
        done = [s for s in sources if writer.skip(s)]
        if done:
            print(f"{len(done)} of {len(sources)} images are already in {args.output}: skipped", file=sys.stderr)
        sources = [s for s in sources if not writer.skip(s)]
    elif args.engine == "ray":
        raise CaptionerError("--engine ray writes its results to a file: give --output FILE (.csv, .jsonl or .parquet)")
    options = dict(beam_size=search.beam_size, max_length=search.max_length, length_penalty=search.length_penalty,
                   no_repeat_ngram=search.no_repeat_ngram, exhaustive=search.exhaustive)
    if args.engine == "ray":
        from captioner.inference.ray_engine import caption_with_ray

        results = ((row["image"], row) for row in caption_with_ray(
            sources, args.model, options, not args.no_grounding, args.address, actors=args.ray_actors))
    else:
        from captioner.inference.api import load
        from captioner.inference.outputs import result_row

        model = load(args.model, grounding=not args.no_grounding, encoder_weights=args.encoder_weights,
                     device=args.device)
        streamed = model.stream(sources, grounding=not args.no_grounding, **options)
        results = ((source, result_row(source, result)) for source, result in zip(sources, streamed))
    failures = 0
    bar = tqdm(total=len(sources), unit="image", file=sys.stderr, disable=len(sources) < 32 or None)
    rows: list[dict] = []
    for source, row in results:  # the Python API's path (or Ray's): same loading, same results
        bar.update(1)
        if row["error"] is None:
            row["error"] = _write_beside(source, row["caption"], args)
        failures += row["error"] is not None
        if writer is not None:
            rows.append(row)
            if len(rows) >= 8:  # an interruption loses at most this batch
                writer.write(rows)
                rows = []
        if args.json and writer is None:  # one JSON object per image on stdout, failures included
            keep = ("error",) if row["error"] is not None else ("caption", "alternatives", "concepts", "timings_ms")
            bar.write(json.dumps({"image": source, **{k: row.get(k) for k in keep}}), file=sys.stdout)
            continue
        if row["error"] is not None:
            bar.write(f"error: {row['error']}", file=sys.stderr)
        if writer is not None or row["error"] is not None:
            continue
        lines = [f"{source}: {row['caption']}"]
        if args.concepts and row["concepts"]:
            concepts = row["concepts"]
            words = ", ".join(f"{c['word']} {c['score']:.2f}" for c in concepts["imagenet"])
            reasons = concepts.get("blocked_reasons", {})
            blocked = ", ".join(f"{c} ({reasons[c]})" if c in reasons else c for c in concepts["blocked"])
            more = f" and {concepts['blocked_more']} more" if concepts.get("blocked_more") else ""
            lines.append(f"    concepts: {words}; required: {', '.join(concepts['required']) or '-'}; "
                         f"blocked: {blocked or '-'}{more}")
        if args.alternatives:
            lines += [f"    {alt['score']:8.4f}  {alt['caption']}" for alt in row["alternatives"]]
        bar.write("\n".join(lines), file=sys.stdout)
    bar.close()
    if writer is not None:
        writer.write(rows)
        writer.close()
        print(f"{writer.written} results written to {args.output}", file=sys.stderr)
    logging.getLogger("captioner").info("captioned %d images in %.2fs", len(sources) - failures, time.perf_counter() - started)
    return 1 if failures else 0


def _write_beside(source: str, caption: str, args: argparse.Namespace) -> str | None:
    """--sidecar and --write-metadata for one captioned local image; why it failed, or None."""
    from captioner.atomic import write_text
    from captioner.inference.metadata import write_caption_metadata

    if not (args.sidecar or args.write_metadata):
        return None
    if "://" in source:
        return f"captioned ({caption!r}) but not written: --sidecar and --write-metadata need local files"
    path = Path(source)
    try:
        if args.sidecar:
            write_text(path.with_suffix(".txt"), caption + "\n")
        if args.write_metadata:
            target = Path(args.metadata_dir) / path.name if args.metadata_dir else None
            write_caption_metadata(path, caption, target)
    except (CaptionerError, OSError) as exc:
        return f"{source}: captioned ({caption!r}) but not written: {exc}"
    return None


def cmd_train(args: argparse.Namespace) -> int:
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:  # launch the data-parallel run
        import subprocess

        argv = list(args.argv)
        k = argv.index("--nproc") if "--nproc" in argv else next(n for n, a in enumerate(argv) if a.startswith("--nproc="))
        del argv[k : k + (1 if "=" in argv[k] else 2)]
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
                   "-m", "captioner", *argv]
        return subprocess.call(command)
    from captioner.training import TrainConfig, train
    from captioner.training.config import DECODER_FIELDS, PRESETS

    if args.preset:
        given = {a.split("=", 1)[0] for a in args.argv if a.startswith("--")}
        for key, value in PRESETS[args.preset].items():
            if "--" + key.replace("_", "-") not in given:  # a flag given explicitly keeps its value
                setattr(args, key, value)

    decoder = replace(TrainConfig().decoder, **{name: getattr(args, name) for name in DECODER_FIELDS})
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name != "decoder"},
                         decoder=decoder)
    path = train(config, resume=args.resume, progress=not args.no_progress)
    from captioner.training.trainer import distributed_world

    if distributed_world()[0] == 0:
        print(f"best model: {path}")
    return 0


def cmd_self_critical(args: argparse.Namespace) -> int:
    from captioner.training.self_critical import SelfCriticalConfig, finetune

    config = SelfCriticalConfig(**{f.name: getattr(args, f.name) for f in fields(SelfCriticalConfig)})
    path = finetune(config, resume=args.resume, progress=not args.no_progress)
    print(f"best model: {path}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from captioner.concepts.grounding import GroundingConfig
    from captioner.metrics.evaluate import EvalConfig, evaluate, format_report, report_path

    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    if not modes or set(modes) - {"beam", "greedy"}:
        raise CaptionerError("--modes takes beam, greedy or beam,greedy")
    output = args.output_json or report_path(args.dataset, args.split, args.model)
    report = evaluate(EvalConfig(
        model=args.model, dataset=args.dataset, split=args.split, cache_dir=args.cache_dir, search=_search_config(args),
        modes=modes, grounding=None if args.no_grounding else GroundingConfig(), output_json=output,
        limit=args.limit, meteor=not args.no_meteor, encoder_weights=args.encoder_weights, progress=not args.no_progress,
        backend=args.backend, device=args.device))
    print(format_report(report))
    print(f"per-image captions: {output}")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from captioner.data.datasets import load_dataset
    from captioner.encoders import create_encoder
    from captioner.encoders.features import FeatureCache
    from captioner.encoders.onnx_runtime import maybe_onnx

    if args.images:
        items = [(p.name, p) for p in expand_images([args.images])]
    else:
        dataset = load_dataset(args.dataset)
        items = [(i, dataset.image_path(i)) for i in sorted(dataset.captions)]
    from captioner.devices import onnx_providers

    encoder = maybe_onnx(create_encoder(args.encoder, args.encoder_weights), onnx_providers(args.device))  # ONNX Runtime where it can
    cache = FeatureCache(args.cache_dir, args.encoder)
    started = time.perf_counter()
    count = cache.extract(encoder, items, batch_size=args.batch_size, keep_grid=not args.no_grid)
    seconds = time.perf_counter() - started
    print(f"{args.encoder}: encoded {count} new images in {seconds:.0f}s; cache {cache.folder}")
    return 0


def serve_settings(args: argparse.Namespace):
    """The resource-bound flags of `captioner serve` as ServeSettings (one-line error if not positive)."""
    from captioner.data.fetch import FetchPolicy
    from captioner.serving.settings import ServeSettings

    fetch = FetchPolicy(**{f.name: getattr(args, "fetch_" + f.name) for f in fields(FetchPolicy) if f.name in FETCH_HELP})
    settings = ServeSettings(**{f.name: getattr(args, f.name) for f in fields(ServeSettings) if f.name in SERVE_HELP},
                             fetch=fetch)
    bad = [f"--{k.replace('_', '-')}" for k, v in vars(settings).items() if k != "fetch" and v <= 0]
    bad += [f"--fetch-{k.replace('_', '-')}" for k, v in vars(fetch).items() if k != "allow_loopback" and v < 0]
    if bad:
        raise CaptionerError(f"{', '.join(bad)} must be positive")
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    from captioner.serving.server import serve

    serve(args.model, serve_settings(args), args.host, args.port, args.device)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from captioner.inference.bundle import load_bundle, shipped_models

    for name in shipped_models():
        bundle = load_bundle(name)
        scores = bundle.info.get("test_scores") or {}
        summary = " ".join(f"{k}={v:.3f}" for k, v in scores.items() if isinstance(v, float))
        print(f"{name:<28} encoder={bundle.encoder['name']:<20} merge={bundle.decoder.config.merge:<10} {summary}")
    return 0


def cmd_export_onnx(args: argparse.Namespace) -> int:
    from captioner.inference.onnx_export import export_model
    from captioner.inference.shipped import resolve_model

    folder = export_model(resolve_model(args.model), args.output, args.precision)
    print(f"wrote {', '.join(sorted(p.name for p in folder.iterdir()))} to {folder}")
    return 0


COMMANDS = {"train": cmd_train, "self-critical": cmd_self_critical, "evaluate": cmd_evaluate, "caption": cmd_caption,
            "extract-features": cmd_extract, "serve": cmd_serve, "models": cmd_models, "export-onnx": cmd_export_onnx}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if args.verbose:
        logging.getLogger("captioner").setLevel(logging.INFO)
    try:
        return COMMANDS[args.command](args)
    except CaptionerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (train: continue with --resume; feature extraction resumes by itself)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
