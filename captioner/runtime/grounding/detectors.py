"""Logistic-regression detectors for the concepts Flickr8k teaches, on pooled encoder features (the
COCO kinds and the everyday-photo classifier with an optional hidden layer).

Saved as one small .npz per encoder: concept names, weights (C, D), biases (C,), and the absent
thresholds (C,) under which a concept is taken to be missing from the photo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import sys

import numpy as np
from threadpoolctl import ThreadpoolController

from captioner.atomic import atomic_path
from captioner.errors import CaptionerError
from captioner.settings import SHIPPED_DIR



def shipped_detectors(encoder_name: str) -> Path:
    return SHIPPED_DIR / f"concepts-{encoder_name}.npz"


@dataclass
class ConceptDetectors:
    encoder: str
    concepts: list[str]
    weight: np.ndarray  # (C, D) float32
    bias: np.ndarray  # (C,)
    absent_below: np.ndarray  # (C,) probability under which the concept is taken to be absent
    imagenet_words: list[str] = field(default_factory=list)  # (C,) ImageNet word per concept, "" for none
    imagenet_absent_below: np.ndarray | None = None  # (C,) and under this ImageNet word probability too
    # photos unlike the detectors' (and decoder's) training photos: a Flickr8k-vs-everyday-photos classifier
    domain_weight: np.ndarray | None = None  # (D,), or (H,) after a hidden layer
    domain_bias: float = 0.0
    # its optional hidden layer (ReLU): None, logistic on the pooled features
    domain_hidden_weight: np.ndarray | None = None  # (H, D), saved as float16
    domain_hidden_bias: np.ndarray | None = None  # (H,)
    # the 80 COCO object kinds (data/coco_objects.tsv), learned from which kinds a photo's captions name
    kinds: list[str] = field(default_factory=list)  # (K,)
    kind_weight: np.ndarray | None = None  # (K, D), or (K, H) after a hidden layer
    kind_bias: np.ndarray | None = None  # (K,)
    # an optional hidden layer the kinds share (ReLU): None, logistic on the pooled features
    kind_hidden_weight: np.ndarray | None = None  # (H, D), saved as float16
    kind_hidden_bias: np.ndarray | None = None  # (H,)
    kind_absent_below: np.ndarray | None = None  # (K,) probability under which the kind is taken to be absent
    # phrases our captions over-use on everyday photos ("black and white", "in the water"), learned
    # from which photos' captions say them: on a photo whose probability is under the absent
    # threshold the caption may not say the phrase
    phrases: list[str] = field(default_factory=list)  # (P,) words separated by single spaces
    phrase_weight: np.ndarray | None = None  # (P, D)
    phrase_bias: np.ndarray | None = None  # (P,)
    # (P, Q): per phrase, the probability under which that share of held-out photos whose captions
    # say it fall, for Q shares evenly from 0 to 1 (the absent threshold for any miss rate)
    phrase_quantiles: np.ndarray | None = None

    def phrase_absent_below(self, miss_rate: float) -> np.ndarray:
        """(P,) thresholds under which `miss_rate` of the photos that fit each phrase fall."""
        if self.phrase_quantiles is None:
            return np.zeros(0, np.float32)
        steps = np.linspace(0.0, 1.0, self.phrase_quantiles.shape[1])
        return np.array([np.interp(miss_rate, steps, row) for row in self.phrase_quantiles], np.float32)

    def phrase_probabilities(self, pooled: np.ndarray) -> np.ndarray:
        """pooled (N, D) -> probability (N, P) that each phrase fits the photo (P = 0 without phrases)."""
        return head_probabilities(pooled, self.phrase_weight, self.phrase_bias)  # (N, P)

    def kind_inputs(self) -> int:
        """The width the kinds' output layer reads: the hidden layer's, else the features'."""
        return self.inputs(self.kind_hidden_weight)

    def domain_inputs(self) -> int:
        """The width the everyday classifier's output reads: its hidden layer's, else the features'."""
        return self.inputs(self.domain_hidden_weight)

    def inputs(self, hidden_weight: np.ndarray | None) -> int:
        """The width an output layer reads after `hidden_weight` (H, D): H, or the features' D without one."""
        if hidden_weight is not None:
            return hidden_weight.shape[0] if hidden_weight.ndim else -1  # -1: no width (corrupt)
        return self.weight.shape[1]

    def hidden_fits(self, hidden_weight: np.ndarray | None, hidden_bias: np.ndarray | None) -> bool:
        """Whether a hidden layer (H, D) and its biases (H,) read the features' width D (no layer: True)."""
        return hidden_weight is None or (hidden_weight.shape[1:] == self.weight.shape[1:]
                                         and hidden_bias.shape == hidden_weight.shape[:1])

    def kind_probabilities(self, pooled: np.ndarray) -> np.ndarray:
        """pooled (N, D) -> probability (N, K) that each COCO kind is in the photo (K = 0 without kinds)."""
        return head_probabilities(pooled, self.kind_weight, self.kind_bias, self.kind_hidden_weight, self.kind_hidden_bias)

    def everyday(self, pooled: np.ndarray) -> np.ndarray:
        """pooled (N, D) -> probability (N,) that a photo is an everyday one rather than Flickr8k-like."""
        if self.domain_weight is None:
            return np.zeros(len(pooled), np.float32)
        return head_probabilities(pooled, self.domain_weight[None], np.array([self.domain_bias], np.float32),
                                  self.domain_hidden_weight, self.domain_hidden_bias)[:, 0]  # (N,)

    def predict(self, pooled: np.ndarray) -> np.ndarray:
        """pooled (N, D) -> probabilities (N, C)."""
        return _sigmoid(matmul(pooled, self.weight.T) + self.bias)  # (N, C)

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, encoder=np.array(self.encoder), concepts=np.array(self.concepts),
                     weight=self.weight.astype(np.float32), bias=self.bias.astype(np.float32),
                     absent_below=self.absent_below.astype(np.float32), imagenet_words=np.array(self.imagenet_words),
                     imagenet_absent_below=np.asarray(self.imagenet_absent_below, np.float32),
                     **({} if self.domain_weight is None else
                        {"domain_weight": self.domain_weight.astype(np.float32), "domain_bias": np.float32(self.domain_bias)}),
                     **({} if self.domain_weight is None else
                        _hidden_arrays("domain", self.domain_hidden_weight, self.domain_hidden_bias)),
                     **({} if self.kind_weight is None else
                        {"kinds": np.array(self.kinds), "kind_weight": self.kind_weight.astype(np.float32),
                         "kind_bias": self.kind_bias.astype(np.float32),
                         "kind_absent_below": self.kind_absent_below.astype(np.float32)}),
                     **({} if self.kind_weight is None else
                        _hidden_arrays("kind", self.kind_hidden_weight, self.kind_hidden_bias)),
                     **({} if self.phrase_weight is None else
                        {"phrases": np.array(self.phrases), "phrase_weight": self.phrase_weight.astype(np.float32),
                         "phrase_bias": self.phrase_bias.astype(np.float32),
                         "phrase_quantiles": self.phrase_quantiles.astype(np.float32)}))

    @classmethod
    def load(cls, path: str | Path) -> "ConceptDetectors":
        path = Path(path)
        if not path.is_file():
            raise CaptionerError(f"concept detector file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                detectors = cls(str(data["encoder"]), [str(c) for c in data["concepts"]], data["weight"],
                                data["bias"], data["absent_below"], [str(w) for w in data["imagenet_words"]],
                                data["imagenet_absent_below"],
                                data["domain_weight"] if "domain_weight" in data else None,
                                float(data["domain_bias"]) if "domain_bias" in data else 0.0)
                if "domain_weight" in data:
                    detectors.domain_hidden_weight, detectors.domain_hidden_bias = _hidden_layer(data, "domain")
                if "kinds" in data:
                    detectors.kinds = [str(k) for k in data["kinds"]]
                    detectors.kind_weight, detectors.kind_bias = data["kind_weight"], data["kind_bias"]
                    detectors.kind_absent_below = data["kind_absent_below"]
                    detectors.kind_hidden_weight, detectors.kind_hidden_bias = _hidden_layer(data, "kind")
                if "phrases" in data:
                    detectors.phrases = [str(k) for k in data["phrases"]]
                    detectors.phrase_weight, detectors.phrase_bias = data["phrase_weight"], data["phrase_bias"]
                    detectors.phrase_quantiles = data["phrase_quantiles"]
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise CaptionerError(f"concept detector file {path} is corrupt ({type(exc).__name__}: {exc})") from None
        c = len(detectors.concepts)
        if detectors.weight.ndim != 2 or detectors.weight.shape[0] != c or detectors.bias.shape != (c,) \
                or detectors.absent_below.shape != (c,) or detectors.imagenet_absent_below.shape != (c,) \
                or len(detectors.imagenet_words) != c or (detectors.domain_weight is not None and (
                    detectors.domain_weight.shape != (detectors.domain_inputs(),)
                    or not detectors.hidden_fits(detectors.domain_hidden_weight, detectors.domain_hidden_bias))) \
                or (detectors.kind_weight is not None and (
                    detectors.kind_weight.shape != (len(detectors.kinds), detectors.kind_inputs())
                    or detectors.kind_bias.shape != (len(detectors.kinds),)
                    or detectors.kind_absent_below.shape != (len(detectors.kinds),)
                    or not detectors.hidden_fits(detectors.kind_hidden_weight, detectors.kind_hidden_bias))) \
                or (detectors.phrase_weight is not None and (
                    detectors.phrase_weight.shape != (len(detectors.phrases), detectors.weight.shape[1])
                    or detectors.phrase_bias.shape != (len(detectors.phrases),)
                    or detectors.phrase_quantiles.ndim != 2 or len(detectors.phrase_quantiles) != len(detectors.phrases)
                    or detectors.phrase_quantiles.shape[1] < 2)):
            raise CaptionerError(f"concept detector file {path} is corrupt (array shapes do not match)")
        return detectors


def _hidden_arrays(prefix: str, weight: np.ndarray | None, bias: np.ndarray | None) -> dict:
    """A hidden layer's arrays as saved (weights in float16), named PREFIX_hidden_*; none without one."""
    if weight is None:
        return {}
    return {f"{prefix}_hidden_weight": weight.astype(np.float16), f"{prefix}_hidden_bias": bias.astype(np.float32)}


def _hidden_layer(data, prefix: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The (weights in float32, biases) of the hidden layer named PREFIX_hidden_* in a loaded file, or Nones."""
    if f"{prefix}_hidden_weight" not in data:
        return None, None
    return data[f"{prefix}_hidden_weight"].astype(np.float32), data[f"{prefix}_hidden_bias"]


def head_probabilities(pooled: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None,
                       hidden_weight: np.ndarray | None = None, hidden_bias: np.ndarray | None = None) -> np.ndarray:
    """pooled (N, D) -> logistic detectors' probabilities (N, L), after a shared ReLU hidden layer
    (hidden_weight (H, D), hidden_bias (H,)) when given; (N, 0) when there are no detectors."""
    if weight is None:
        return np.zeros((len(pooled), 0), np.float32)
    if hidden_weight is not None:
        pooled = np.maximum(matmul(pooled, hidden_weight.T) + hidden_bias, 0.0)  # (N, H)
    return _sigmoid(matmul(pooled, weight.T) + bias)  # (N, L)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


@lru_cache(maxsize=1)
def _blas_threads():
    return ThreadpoolController()


def one_blas_thread():
    """A context in which numpy's BLAS runs on one thread. After a product OpenBLAS's threads spin,
    waiting for the next, and on a small CPU they take the cores from ONNX Runtime's encoder and
    decoder; the products of grounding are small enough for one thread (scripts/ab_inference.sh on
    2 cores: the encoder 19% faster, a caption 10%)."""
    return _blas_threads().limit(limits=1, user_api="blas")


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b, through PyTorch when it is loaded: numpy's BLAS threads spin after a call and, on a
    small CPU, then take the cores from PyTorch's during the caption search (tens of ms per
    caption). Without torch (ONNX Runtime inference) numpy does it."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    torch = sys.modules.get("torch")
    if torch is None:
        return a @ b
    return (torch.as_tensor(a) @ torch.as_tensor(b)).numpy()
