"""Training the detectors: labels from captions, calibrated absent thresholds, over-used phrases."""

from pathlib import Path

import numpy as np

from captioner.runtime.data.datasets import Dataset
from captioner.training.detectors import MIN_POSITIVES, fit_calibrated, overused_phrases, phrase_labels


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
    weight, bias, below = fit_calibrated(x, y, [(held_x, held_y)], miss_rate=0.1)
    assert weight.shape == (2, 4) and bias.shape == (2,) and below[1] == 0.0
    held_p = 1 / (1 + np.exp(-(held_x @ weight[0] + bias[0])))
    assert (held_p[held_y[:, 0] > 0] < below[0]).mean() <= 0.2  # about 10% of the true photos fall under it
    assert (held_p[held_y[:, 0] == 0] < below[0]).mean() >= 0.8  # and most photos without it do
    assert np.argmax(np.abs(weight[0])) == 0


def test_overused_phrases_come_from_the_report():
    report = {"results": {"beam": {"phrases": {
        "overused": [{"phrase": "a group of", "ours": 0.2, "references": 0.02}, {"phrase": "is", "ours": 0.5, "references": 0.1}],
        "watched": {"black and white": {"ours": 0.15, "references": 0.01}, "shirt": {"ours": 0.01, "references": 0.02},
                    "is": {"ours": 0.5, "references": 0.1}}}}}}
    assert overused_phrases(report) == ["a group of", "is", "black and white"]  # "shirt" is under-used; no duplicates
