"""Training the detectors: labels from captions, calibrated absent thresholds, over-used phrases."""

from pathlib import Path

import numpy as np

from captioner.runtime.data.datasets import Dataset
from captioner.runtime.grounding.detectors import ConceptDetectors
from captioner.training.detectors import (MIN_POSITIVES, fit_calibrated, fit_detectors, fit_head, out_of_fold,
                                          overused_phrases, phrase_labels, train_domain)


def test_phrase_labels_match_whole_words_in_a_row_after_cleaning():
    data = Dataset(Path("."), {
        "a.jpg": ["A black-and-white cat.", "a cat in the water"],
        "b.jpg": ["White and black stripes", "Isolated island"],
        "c.jpg": ["the dog is in the water"],
    }, {})
    labels = phrase_labels(data, ["a.jpg", "b.jpg", "c.jpg"], ["black and white", "in the water", "is", "white"])
    # "black-and-white" cleans to three words; "isolated" and "island" do not contain the word "is"
    np.testing.assert_array_equal(labels, [[1, 1, 0, 1], [0, 0, 0, 1], [0, 1, 1, 0]])


def test_fit_calibrated_thresholds_are_the_held_out_positives_quantile():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4)).astype(np.float32)
    y = np.stack([x[:, 0] > 0, np.zeros(600)], axis=1).astype(np.float32)
    y[: MIN_POSITIVES - 1, 1] = 1  # too few photos show the second label to calibrate it
    held_x = rng.normal(size=(200, 4)).astype(np.float32)
    held_y = np.stack([held_x[:, 0] > 0, np.zeros(200)], axis=1).astype(np.float32)
    head, below = fit_calibrated(x, y, [(held_x, held_y)], miss_rate=0.1)
    weight, bias = head.weight, head.bias
    assert head.hidden_weight is None and weight.shape == (2, 4) and bias.shape == (2,) and below[1] == 0.0
    held_p = 1 / (1 + np.exp(-(held_x @ weight[0] + bias[0])))
    assert (held_p[held_y[:, 0] > 0] < below[0]).mean() <= 0.2  # about 10% of the true photos fall under it
    assert (held_p[held_y[:, 0] == 0] < below[0]).mean() >= 0.8  # and most photos without it do
    assert np.argmax(np.abs(weight[0])) == 0


def test_a_hidden_layer_learns_what_a_logistic_detector_cannot():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, 4)).astype(np.float32)
    y = (x[:, :1] * x[:, 1:2] > 0).astype(np.float32)  # (800, 1): same-sign quadrants, no linear boundary
    held_x = rng.normal(size=(400, 4)).astype(np.float32)
    held_y = held_x[:, 0] * held_x[:, 1] > 0
    logistic = fit_head(x, y).predict(held_x)[:, 0]
    mlp = fit_head(x, y, hidden=128)
    assert mlp.hidden_weight.shape == (128, 4) and mlp.weight.shape == (1, 128)
    assert ((logistic >= 0.5) == held_y).mean() < 0.65 and ((mlp.predict(held_x)[:, 0] >= 0.5) == held_y).mean() > 0.75
    np.testing.assert_array_equal(mlp.hidden_weight, mlp.hidden_weight.astype(np.float16))  # as the file keeps it


def test_the_everyday_classifier_with_a_hidden_layer_tells_apart_what_a_logistic_one_cannot(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1200, 4)).astype(np.float32)
    everyday = x[:, 0] * x[:, 1] > 0  # same-sign quadrants: no linear boundary between the two kinds of photo
    held_x = rng.normal(size=(400, 4)).astype(np.float32)
    held_y = held_x[:, 0] * held_x[:, 1] > 0
    detectors = fit_detectors(x, everyday[:, None].astype(np.float32), ["a"], "toy")
    train_domain(detectors, x[~everyday], x[everyday], hidden=None)
    assert detectors.domain_hidden_weight is None and detectors.domain_weight.shape == (4,)
    assert ((detectors.everyday(held_x) >= 0.5) == held_y).mean() < 0.65
    train_domain(detectors, x[~everyday], x[everyday], hidden=64)
    assert detectors.domain_hidden_weight.shape == (64, 4) and detectors.domain_weight.shape == (64,)
    assert ((detectors.everyday(held_x) >= 0.5) == held_y).mean() > 0.8
    familiar_first = np.concatenate([x[~everyday], x[everyday]])  # labelled 0, then 1
    head = fit_head(familiar_first, np.sort(everyday)[:, None].astype(np.float32), hidden=64)
    np.testing.assert_allclose(detectors.everyday(held_x), head.predict(held_x)[:, 0], atol=1e-6)  # that head, bias included
    detectors.save(tmp_path / "d.npz")  # and the saved classifier gives what was fitted
    np.testing.assert_allclose(ConceptDetectors.load(tmp_path / "d.npz").everyday(held_x), detectors.everyday(held_x), atol=1e-5)
    train_domain(detectors, x[~everyday], x[everyday], hidden=None)  # a logistic refit drops the hidden layer
    assert detectors.domain_hidden_weight is None and detectors.domain_hidden_bias is None
    train_domain(detectors, x[~everyday], x[everyday], hidden=8, seed=1)
    first = detectors.domain_hidden_weight.copy()
    train_domain(detectors, x[~everyday], x[everyday], hidden=8, seed=1)  # the same seed, the same fit
    np.testing.assert_array_equal(detectors.domain_hidden_weight, first)
    train_domain(detectors, x[~everyday], x[everyday], hidden=8, seed=2)  # another seed, another start
    assert np.abs(detectors.domain_hidden_weight - first).max() > 1e-2


def test_repeated_photos_count_as_copies():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3)).astype(np.float32)
    y = (x[:, :1] + 0.5 * rng.normal(size=(300, 1)) > 0).astype(np.float32)
    repeats = rng.integers(1, 4, size=300)
    np.testing.assert_allclose(fit_head(x, y, repeats=repeats).weight,
                               fit_head(np.repeat(x, repeats, 0), np.repeat(y, repeats, 0)).weight, atol=1e-4)
    assert np.abs(fit_head(x, y, repeats=repeats).weight - fit_head(x, y).weight).max() > 1e-3


def test_photos_without_captions_are_fitted_on_but_never_calibrated_on():
    """fit_calibrated's extra (features, soft labels): they move the fit, but only captioned photos
    (training and held-out) set the absent thresholds, and a label too few captioned photos show
    stays uncalibrated however many extra photos carry it."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 4)).astype(np.float32)
    y = np.stack([x[:, 0] > 0, np.zeros(400)], axis=1).astype(np.float32)
    y[: MIN_POSITIVES - 1, 1] = 1
    held_x = rng.normal(size=(100, 4)).astype(np.float32)
    held_y = np.stack([held_x[:, 0] > 0, np.zeros(100)], axis=1).astype(np.float32)
    extra_x = rng.normal(size=(300, 4)).astype(np.float32)
    extra_y = np.stack([np.full(300, 0.9), np.full(300, 0.9)], axis=1).astype(np.float32)  # (300, 2) soft
    plain, plain_below = fit_calibrated(x, y, [(held_x, held_y)], miss_rate=0.1)
    more, more_below = fit_calibrated(x, y, [(held_x, held_y)], miss_rate=0.1, extra=(extra_x, extra_y))
    assert more_below[1] == 0.0 == plain_below[1]
    assert more.bias[0] > plain.bias[0]  # 300 photos that mostly show label 0 raise its prior
    assert 0 < more_below[0] and more_below[0] != plain_below[0]
    # the cross-fitted predictions of the captioned photos come from folds fitted with the extra photos too
    with_extra = out_of_fold(x, y, 3, extra=(extra_x, extra_y))  # (400, 2)
    assert with_extra.shape == (400, 2) and with_extra[:, 0].mean() > out_of_fold(x, y, 3)[:, 0].mean()


def test_overused_phrases_come_from_the_report():
    report = {"results": {"beam": {"phrases": {
        "overused": [{"phrase": "a group of", "ours": 0.2, "references": 0.02}, {"phrase": "is", "ours": 0.5, "references": 0.1}],
        "watched": {"black and white": {"ours": 0.15, "references": 0.01}, "shirt": {"ours": 0.01, "references": 0.02},
                    "is": {"ours": 0.5, "references": 0.1}}}}}}
    assert overused_phrases(report) == ["a group of", "is", "black and white"]  # "shirt" is under-used; no duplicates
