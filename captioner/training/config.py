"""Everything that defines a training run; saved inside every checkpoint and shipped model."""

from __future__ import annotations

from dataclasses import dataclass, field

from captioner.settings import DEFAULT_DEVICE, DEFAULT_ENCODER, Settings
from captioner.training.networks.config import DecoderConfig

# the decoder fields a run chooses; vocab_size and feature_dim come from the data when it starts
DECODER_FIELDS = ("style", "embed_dim", "hidden_dim", "attention_dim", "dropout", "embeddings", "sources")


@dataclass
class TrainConfig:
    dataset: str = Settings.dataset  # the CLI's default comes from the environment (settings.py)
    output: str = "runs/default"
    encoder: str = DEFAULT_ENCODER
    encoder_weights: str | None = None
    cache_dir: str = Settings.feature_cache
    # decoder: the one source of its fields and defaults (see captioner.training.networks.base.DecoderConfig)
    decoder: DecoderConfig = field(default_factory=lambda: DecoderConfig(vocab_size=0, feature_dim=0))
    # data
    min_count: int = 5
    max_caption_length: int = 30  # words kept per training caption
    limit_images: int | None = None  # per split, for quick runs and tests
    # a second caption set trained alongside (e.g. COCO photos beside Flickr8k): its photos minus a
    # seeded hold-out train, the hold-out joins validation; each of its captions is seen `mix_weight`
    # times an epoch (a fraction: that share of them, drawn afresh each epoch)
    mix: str | None = None
    mix_weight: float = 1.0
    mix_holdout: int = 177
    # captions the model itself wrote for unlabeled photos (self-training: scripts/self_train.py), a
    # COCO-format folder trained on whole, never validated on, each caption seen `pseudo_weight` times
    pseudo: str | None = None
    pseudo_weight: float = 1.0
    # start from a trained model (shipped name or .pt): its decoder and vocabulary, the vocabulary
    # grown by the training captions' new words (min_count), their rows from GloVe neighbours
    init_from: str | None = None
    # optimisation
    epochs: int = 20
    batch_size: int = 64
    lr: float = 4e-4
    grad_clip: float = 5.0
    attention_reg: float = 1.0  # doubly stochastic attention penalty (attention only)
    label_smoothing: float = 0.0
    # what learns: "all" the decoder's weights, or "sources" only the feature shifts of sources after
    # the first (DecoderConfig.sources), so that source 0 (Flickr8k-like photos) captions exactly as the start
    tune: str = "all"
    patience: int = 3  # epochs without improvement before stopping
    stop_on: str = "bleu4"  # bleu4 | loss (validation)
    max_steps: int | None = None  # stop after this many optimiser steps (tests)
    seed: int = 0
    threads: int | None = None
    device: str = DEFAULT_DEVICE  # auto | cpu | cuda | mps (training/devices.py); CUDA trains in mixed precision


# The three original systems' recipes (encoder + how the image meets the text), as `captioner train
# --preset NAME`; explicit flags still win. Their decoder is the Keras tutorials' merge model: a
# 256-d embedding and LSTM, a 256-d image projection, dropout 0.5 on both inputs.
# seed-xception needs Keras' ImageNet Xception (`./install.sh --originals`); seed-inception-add runs
# on Google's original InceptionV3 graph (installed by install.sh), not Keras' InceptionV3 weights,
# which seed-keras-inception-add and seed-densenet-concat need as standard Keras files (README).
_TUTORIAL = {"embed_dim": 256, "hidden_dim": 256, "dropout": 0.5}
PRESETS: dict[str, dict[str, str | int | float]] = {
    "seed-xception": {"encoder": "xception", "style": "add", **_TUTORIAL},  # the Flask original
    "seed-inception-add": {"encoder": "inception-v3", "style": "add", **_TUTORIAL},  # the FastAPI original's recipe
    "seed-keras-inception-add": {"encoder": "keras-inception-v3", "style": "add", **_TUTORIAL},  # ...with Keras' weights
    "seed-densenet-concat": {"encoder": "densenet201", "style": "inject", **_TUTORIAL},  # the Streamlit original
}


@dataclass
class SelfCriticalConfig:
    model: str = "default"  # the trained model to start from: shipped name or .pt path
    # a model whose decoder's initial-state layers the fine-tune takes and keeps fixed (None: its own,
    # trained): an everyday decoder shipped with `ship_model.py --share-init` starts every caption with
    # the main decoder's layers, so it is fine-tuned with them
    initial_state_from: str | None = None
    dataset: str = Settings.dataset
    output: str = "runs/self-critical"
    cache_dir: str = Settings.feature_cache
    # a second caption set, as in TrainConfig: its photos less the same seeded hold-out are sampled
    # `mix_weight` times an epoch; the hold-out joins validation
    mix: str | None = None
    mix_weight: float = 1.0
    mix_holdout: int = 177
    epochs: int = 5
    batch_images: int = 32  # images per step; each gets `samples` captions
    samples: int = 5
    lr: float = 5e-5
    grad_clip: float = 2.0
    max_length: int = 16  # words per sampled caption
    # the object reward's weight, added to CIDEr-D: +1 for a caption naming a COCO object kind its
    # references name, -1 for one naming a kind they do not (0: CIDEr-D alone)
    object_reward: float = 0.0
    patience: int = 2  # epochs without a better validation CIDEr before stopping
    limit_images: int | None = None  # per split, for quick runs and tests
    max_steps: int | None = None  # stop after this many optimiser steps (tests)
    seed: int = 0
    threads: int | None = None
