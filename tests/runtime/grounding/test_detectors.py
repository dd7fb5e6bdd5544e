"""Concept detectors: fitting separates labelled features; files round-trip; bad files are one-line errors."""

import numpy as np
import pytest

from captioner.runtime.grounding.detectors import ConceptDetectors, shipped_detectors
from captioner.training.detectors import fit_detectors
from captioner.errors import CaptionerError


def _toy(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    labels = np.stack([x[:, 0] > 0.3, x[:, 1] + x[:, 2] < 0], axis=1).astype(np.float32)
    return x, labels


def test_fitted_detectors_separate_the_concepts():
    x, labels = _toy()
    detectors = fit_detectors(x, labels, ["a", "b"], "toy")
    test_x, test_labels = _toy(seed=1)
    accuracy = ((detectors.predict(test_x) >= 0.5) == (test_labels > 0)).mean(axis=0)
    assert (accuracy > 0.9).all(), accuracy


def test_save_load_round_trip(tmp_path):
    x, labels = _toy()
    detectors = fit_detectors(x, labels, ["a", "b"], "toy")
    detectors.domain_weight, detectors.domain_bias = np.ones(6, np.float32), -1.0
    path = tmp_path / "d.npz"
    detectors.save(path)
    loaded = ConceptDetectors.load(path)
    assert loaded.concepts == ["a", "b"] and loaded.encoder == "toy"
    np.testing.assert_allclose(loaded.predict(x), detectors.predict(x), rtol=1e-6)
    np.testing.assert_allclose(loaded.everyday(x), detectors.everyday(x), rtol=1e-6)
    assert loaded.kinds == [] and loaded.kind_probabilities(x).shape == (400, 0)  # a file without kinds
    detectors.kinds, detectors.kind_weight = ["k1", "k2", "k3"], np.arange(18, dtype=np.float32).reshape(3, 6) / 10
    detectors.kind_bias, detectors.kind_absent_below = np.zeros(3, np.float32), np.full(3, 0.1, np.float32)
    detectors.save(path)
    loaded = ConceptDetectors.load(path)
    assert loaded.kinds == ["k1", "k2", "k3"]
    np.testing.assert_allclose(loaded.kind_probabilities(x), detectors.kind_probabilities(x), rtol=1e-6)
    assert loaded.phrases == [] and loaded.phrase_probabilities(x).shape == (400, 0)  # a file without phrases
    detectors.phrases, detectors.phrase_weight = ["black and white", "is"], np.arange(12, dtype=np.float32).reshape(2, 6) / 7
    detectors.phrase_bias = np.array([0.5, -1], np.float32)
    detectors.phrase_quantiles = np.array([[0.0, 0.1, 0.3], [0.0, 0.2, 0.9]], np.float32)  # miss rates 0, 0.5, 1
    detectors.save(path)
    loaded = ConceptDetectors.load(path)
    assert loaded.phrases == ["black and white", "is"] and loaded.kinds == ["k1", "k2", "k3"]
    np.testing.assert_allclose(loaded.phrase_probabilities(x), detectors.phrase_probabilities(x), rtol=1e-6)
    np.testing.assert_allclose(loaded.phrase_absent_below(0.5), [0.1, 0.2])
    np.testing.assert_allclose(loaded.phrase_absent_below(0.25), [0.05, 0.1])  # interpolated between the steps
    np.testing.assert_allclose(loaded.phrase_absent_below(0.75), [0.2, 0.55])
    assert loaded.kind_hidden_weight is None  # kinds without a hidden layer
    rng = np.random.default_rng(2)
    detectors.kind_hidden_weight = rng.normal(size=(4, 6)).astype(np.float32)  # (H, D)
    detectors.kind_hidden_bias = np.array([0.1, -0.2, 0.3, 0.0], np.float32)
    detectors.kind_weight = rng.normal(size=(3, 4)).astype(np.float32)  # (K, H)
    detectors.save(path)
    loaded = ConceptDetectors.load(path)
    hidden = np.maximum(x @ detectors.kind_hidden_weight.T + detectors.kind_hidden_bias, 0.0)  # (400, 4)
    expected = 1 / (1 + np.exp(-(hidden @ detectors.kind_weight.T + detectors.kind_bias)))
    np.testing.assert_allclose(loaded.kind_probabilities(x), expected, atol=2e-3)  # float16 hidden weights
    assert loaded.kind_hidden_weight.dtype == np.float32 and np.load(path)["kind_hidden_weight"].dtype == np.float16
    assert loaded.domain_hidden_weight is None  # a logistic everyday classifier
    detectors.domain_hidden_weight = rng.normal(size=(5, 6)).astype(np.float32)  # (H, D)
    detectors.domain_hidden_bias = np.array([0.2, -0.1, 0.0, 0.3, -0.3], np.float32)
    detectors.domain_weight, detectors.domain_bias = rng.normal(size=5).astype(np.float32), 0.4  # (H,)
    detectors.save(path)
    loaded = ConceptDetectors.load(path)
    hidden = np.maximum(x @ detectors.domain_hidden_weight.T + detectors.domain_hidden_bias, 0.0)  # (400, 5)
    expected = 1 / (1 + np.exp(-(hidden @ detectors.domain_weight + 0.4)))  # (400,)
    np.testing.assert_allclose(loaded.everyday(x), expected, atol=2e-3)  # float16 hidden weights
    assert loaded.everyday(x).shape == (400,) and np.load(path)["domain_hidden_weight"].dtype == np.float16
    np.testing.assert_allclose(loaded.kind_probabilities(x), detectors.kind_probabilities(x), atol=2e-3)  # the kinds' own layer
    assert not list(tmp_path.glob("*.partial"))


def _refused(detectors, path):
    """Saved to `path`, the detectors' file is refused on loading: a one-line error that names it."""
    detectors.save(path)
    with pytest.raises(CaptionerError, match=f"{path.name} is corrupt"):
        ConceptDetectors.load(path)


def test_bad_detector_files(tmp_path):
    with pytest.raises(CaptionerError, match="concept detector file not found: .*missing.npz"):
        ConceptDetectors.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(CaptionerError, match="junk.npz is corrupt"):
        ConceptDetectors.load(junk)
    partial = tmp_path / "partial.npz"
    np.savez(partial, concepts=np.array(["a"]))
    with pytest.raises(CaptionerError, match="partial.npz is corrupt"):
        ConceptDetectors.load(partial)
    x, labels = _toy()
    detectors = fit_detectors(x, labels, ["a", "b"], "toy")
    detectors.kinds, detectors.kind_weight = ["k1", "k2"], np.zeros((3, 6), np.float32)  # 3 rows for 2 kinds
    detectors.kind_bias, detectors.kind_absent_below = np.zeros(2, np.float32), np.zeros(2, np.float32)
    _refused(detectors, tmp_path / "kinds.npz")
    detectors.kind_weight = np.zeros((2, 6), np.float32)
    detectors.kind_hidden_weight, detectors.kind_hidden_bias = np.zeros((4, 6), np.float32), np.zeros(4, np.float32)
    _refused(detectors, tmp_path / "hidden.npz")  # the output layer reads 6 features, the hidden layer gives 4
    detectors.kind_weight, detectors.kind_hidden_bias = np.zeros((2, 4), np.float32), np.zeros(3, np.float32)
    _refused(detectors, tmp_path / "hidden-bias.npz")  # 3 biases for 4 hidden units
    detectors.kinds, detectors.kind_weight, detectors.kind_hidden_weight = [], None, None
    detectors.domain_weight, detectors.domain_bias = np.zeros(6, np.float32), 0.0
    detectors.domain_hidden_weight, detectors.domain_hidden_bias = np.zeros((4, 6), np.float32), np.zeros(4, np.float32)
    _refused(detectors, tmp_path / "domain.npz")  # the classifier's output reads 6 features, its hidden layer gives 4
    detectors.domain_weight = np.zeros(4, np.float32)
    detectors.domain_hidden_weight = np.zeros((4, 5), np.float32)
    _refused(detectors, tmp_path / "domain-in.npz")  # a hidden layer over 5 features, the photos have 6
    detectors.domain_hidden_weight, detectors.domain_hidden_bias = np.zeros((4, 6), np.float32), np.zeros(2, np.float32)
    _refused(detectors, tmp_path / "domain-bias.npz")  # 2 biases for 4 hidden units
    detectors.domain_hidden_weight = detectors.domain_hidden_bias = None
    detectors.phrases, detectors.phrase_weight = ["in the water"], np.zeros((1, 6), np.float32)
    detectors.phrase_bias, detectors.phrase_quantiles = np.zeros(1, np.float32), np.zeros((2, 101), np.float32)  # 2 for 1
    _refused(detectors, tmp_path / "phrases.npz")


def test_the_shipped_detectors_load():
    detectors = ConceptDetectors.load(shipped_detectors("efficientnet-lite2"))
    assert "person" in detectors.concepts and detectors.weight.shape == (len(detectors.concepts), 1280)
    assert detectors.domain_weight is not None
