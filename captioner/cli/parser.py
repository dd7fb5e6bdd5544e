"""The `captioner` command's flags: built from the settings and the configs' dataclasses (their
defaults and choices written once, there), without importing torch, so `--help` is quick and
`caption` and `serve` run without it."""

from __future__ import annotations

import argparse
from dataclasses import fields

from captioner.runtime.data.fetch import FetchPolicy
from captioner.runtime.encoders.registry import ENCODER_NAMES
from captioner.runtime.options import HELP as OPTION_HELP
from captioner.runtime.options import CaptionOptions
from captioner.serving.settings import ServeSettings
from captioner.settings import DEFAULT_DEVICE, DEFAULT_ENCODER, DEVICES, settings
from captioner.training.config import DECODER_FIELDS, PRESETS, SelfCriticalConfig, TrainConfig
from captioner.training.networks.config import STYLES, DecoderConfig

TRAIN_HELP = {
    "dataset": "Flickr8k folder, Kaggle folder (Images/ + captions.txt) or COCO-style JSON (env CAPTIONER_DATASET)",
    "output": "run folder for checkpoints, history.csv/json, loss_curve.png and the best model.pt",
    "encoder": "image encoder whose cached features train the decoder",
    "encoder_weights": "explicit encoder weight file, or random (untrained: smoke tests, benchmarks) (default: the installed package, $CAPTIONER_WEIGHTS_DIR or Keras cache)",
    "cache_dir": "feature cache root; features are extracted once per encoder (env CAPTIONER_CACHE)",
    "style": "how the image conditions the LSTM: add (merge model), inject (initial state) or attention (grid)",
    "embed_dim": "word embedding size",
    "hidden_dim": "LSTM hidden size",
    "attention_dim": "attention layer size (attention only)",
    "dropout": "dropout on embeddings, image features and LSTM outputs",
    "tune": "what learns: all (every weight) or sources (only the everyday photos' feature shift; Flickr8k-like "
            "photos then caption exactly as the --init-from model)",
    "sources": "caption sources told apart by a learned shift of the image features: 1 none, 2 the --dataset "
               "(Flickr8k-like photos) and --mix/--pseudo (everyday photos; grounding picks the shift when captioning)",
    "embeddings": "word vectors: learned, glove-frozen or glove-finetune (GloVe 6B 50d)",
    "min_count": "keep words seen at least this many times in training captions",
    "max_caption_length": "words kept per training caption",
    "limit_images": "use at most this many images per split (quick runs)",
    "mix": "a second dataset trained alongside --dataset (e.g. a COCO-format folder); part of it is held out for validation",
    "mix_weight": "times each --mix caption is seen per epoch (oversampling; a fraction draws that share)",
    "mix_holdout": "--mix photos held out (seeded) and validated on with --dataset's val split",
    "pseudo": "captions the model wrote for unlabeled photos (self-training, a COCO-format folder), trained on whole",
    "pseudo_weight": "times each --pseudo caption is seen per epoch",
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
    "initial_state_from": "a model whose decoder's initial-state layers the fine-tune takes and keeps fixed (an everyday "
                          "decoder to be shipped with ship_model.py --share-init: the main decoder's model)",
    "output": "run folder for last.pt, history.json and the best model.pt",
    "epochs": "maximum number of self-critical epochs",
    "batch_images": "images per optimiser step",
    "samples": "captions sampled per image (their mean reward is each one's baseline)",
    "lr": "Adam learning rate",
    "max_length": "words per sampled caption",
    "object_reward": "weight of the object reward added to CIDEr-D: +1 for naming a COCO object the references name, "
                     "-1 for naming one they do not (0: CIDEr-D alone)",
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
CHOICES = {"embeddings": ["learned", "glove-frozen", "glove-finetune"], "tune": ["all", "sources"], "stop_on": ["bleu4", "loss"],
           "device": list(DEVICES), "encoder": list(ENCODER_NAMES)}
DEVICE_HELP = (f"where to run: auto (a CUDA GPU when visible, else MPS for PyTorch, else the CPU), cpu, cuda or mps "
               f"(PyTorch only) (default {DEFAULT_DEVICE})")


def _add_device(parser: argparse.ArgumentParser, extra: str = "") -> None:
    parser.add_argument("--device", default=DEFAULT_DEVICE, choices=DEVICES, help=DEVICE_HELP + extra)


def _add_caption_options(parser: argparse.ArgumentParser) -> None:
    """The options of CaptionOptions as flags (--no-grounding for grounding; attention is the web page's)."""
    d = CaptionOptions()
    for f in fields(CaptionOptions):
        if f.name in ("grounding", "attention"):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(getattr(d, f.name), bool):
            parser.add_argument(flag, action="store_true", help=OPTION_HELP[f.name])
        else:
            kind = type(getattr(d, f.name))
            parser.add_argument(flag, type=kind, default=getattr(d, f.name),
                                help=f"{OPTION_HELP[f.name]} (default {getattr(d, f.name)})")
    parser.add_argument("--no-grounding", action="store_true",
                        help="plain beam search: no visual-concept constraints (default: grounded)")


def caption_options(args: argparse.Namespace, **more) -> CaptionOptions:
    """The CaptionOptions of parsed flags (its one validator says what is wrong)."""
    chosen = {f.name: getattr(args, f.name) for f in fields(CaptionOptions) if hasattr(args, f.name)}
    return CaptionOptions(**chosen, grounding=not args.no_grounding, **more)


def _add_config_options(parser: argparse.ArgumentParser, options: list, helps: dict, choices: dict) -> None:
    """One --flag per dataclass field (field, default); dataset and cache folders from the settings."""
    here = settings()
    for f, default in options:
        default = here.dataset if f.name == "dataset" else here.feature_cache if f.name == "cache_dir" else default
        kind = {"int": int, "float": float}.get(str(f.type).split(" ")[0], str)
        names = ["--" + f.name.replace("_", "-")] + (["--merge"] if f.name == "style" else [])  # --merge: its old name
        parser.add_argument(*names, dest=f.name, type=kind, default=default, choices=choices.get(f.name),
                            help=helps[f.name])


def build_parser() -> argparse.ArgumentParser:
    here = settings()
    parser = argparse.ArgumentParser(prog="captioner", description="CNN + LSTM image captioner (Flickr8k).")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train a decoder on cached image features",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    decoder_defaults = TrainConfig().decoder
    options = [(f, f.default) for f in fields(TrainConfig) if f.name != "decoder"]
    options += [(f, getattr(decoder_defaults, f.name)) for f in fields(DecoderConfig) if f.name in DECODER_FIELDS]
    _add_config_options(train, options, TRAIN_HELP, {**CHOICES, "style": list(STYLES)})
    train.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="an original system's recipe (encoder, style and the tutorials' decoder sizes); explicit flags override it")
    train.add_argument("--resume", action="store_true", help="continue the run in --output from its last.pt")
    train.add_argument("--nproc", type=int, default=1,
                       help="data-parallel processes on this machine (launches torchrun; default 1). On several "
                            "machines run `torchrun --nnodes ... -m captioner train ...` yourself")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")

    critical = sub.add_parser("self-critical", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                              help="fine-tune a trained model on its own samples' CIDEr-D (self-critical training)")
    _add_config_options(critical, [(f, f.default) for f in fields(SelfCriticalConfig)],
                        {**TRAIN_HELP, **SELF_CRITICAL_HELP}, {})
    critical.add_argument("--resume", action="store_true", help="continue the run in --output from its last.pt")
    critical.add_argument("--no-progress", action="store_true", help="no progress bars")
    evaluate = sub.add_parser("evaluate", help="score a model on a dataset split (BLEU-1..4, METEOR, ROUGE-L, CIDEr)")
    evaluate.add_argument("--model", default=None, help="shipped model name or .pt path (default: the shipped default)")
    evaluate.add_argument("--dataset", default=here.dataset, help=TRAIN_HELP["dataset"])
    evaluate.add_argument("--split", default="test",
                          help="split to score: train, val, test, all (every image, e.g. for coco-dev) or holdout (the photos "
                               "`train --mix` held out of this dataset, e.g. coco-train) (default test)")
    evaluate.add_argument("--cache-dir", default=here.feature_cache, help=TRAIN_HELP["cache_dir"])
    evaluate.add_argument("--encoder-weights", default=None, help=TRAIN_HELP["encoder_weights"])
    evaluate.add_argument("--modes", default="beam,greedy", help="comma list of beam and/or greedy (default both)")
    evaluate.add_argument("--output-json", default=None,
                          help="per-image captions and the report (default runs/evaluate/DATASET-SPLIT-MODEL.json; "
                               "never a file inside the dataset)")
    evaluate.add_argument("--limit", type=int, default=None, help="score only the first N images of the split")
    evaluate.add_argument("--no-meteor", action="store_true", help="skip METEOR (needs Java)")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_device(evaluate)
    evaluate.add_argument("--backend", default="torch", choices=["torch", "onnx"],
                          help="decoder runtime: torch (the trained weights as they are) or onnx (as `caption` and "
                               "`serve` run it; checks the export) (default torch)")
    _add_caption_options(evaluate)

    caption = sub.add_parser("caption", help="caption image files, globs, folders or a listing of paths and URLs")
    caption.add_argument("images", nargs="+", metavar="SOURCE",
                         help="image paths, glob patterns, folders, URLs, or one .txt/.csv/.parquet file listing "
                              "paths and URLs (s3:// and other pyarrow filesystems too)")
    caption.add_argument("--model", default=None, help="shipped model name or .pt path (default: the shipped default)")
    caption.add_argument("--encoder-weights", default=None, help=TRAIN_HELP["encoder_weights"])
    caption.add_argument("--json", action="store_true", help="print one JSON object per image (JSON lines)")
    _add_device(caption)
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
    _add_caption_options(caption)

    extract = sub.add_parser("extract-features", help="cache encoder features for a whole dataset (resumable)")
    extract.add_argument("--dataset", default=here.dataset, help=TRAIN_HELP["dataset"])
    extract.add_argument("--images", default=None,
                         help="instead of a dataset: a folder of images without captions (e.g. coco-unlabeled/images)")
    extract.add_argument("--encoder", default=DEFAULT_ENCODER, choices=ENCODER_NAMES, help=f"encoder name (default {DEFAULT_ENCODER})")
    extract.add_argument("--encoder-weights", default=None, help=TRAIN_HELP["encoder_weights"])
    extract.add_argument("--cache-dir", default=here.feature_cache, help=TRAIN_HELP["cache_dir"])
    extract.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    extract.add_argument("--no-grid", action="store_true", help="keep only pooled vectors (no attention models)")
    _add_device(extract, "; for the encoders ONNX Runtime runs (InceptionV3's TorchScript runs on the CPU)")

    serve = sub.add_parser("serve", help="run the web app and JSON API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--model", default=None, help="shipped model name or .pt path")
    _add_device(serve)
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
