"""CIDEr-D reward: the same per-image figures as coco-caption's CIDEr on real Flickr8k captions."""

import pytest
from pycocoevalcap.cider.cider import Cider

from captioner.runtime.data.cleaning import clean_caption
from captioner.runtime.data.datasets import load_dataset
from captioner.training.rewards import CiderD, ObjectReward, ngrams


def test_ngrams_counts_every_order():
    grams = ngrams("a dog a dog".split(), 2)
    assert grams[0] == {("a",): 2, ("dog",): 2}
    assert grams[1] == {("a", "dog"): 2, ("dog", "a"): 1}


@pytest.fixture(scope="module")
def val_captions(flickr_root):
    dataset = load_dataset(str(flickr_root))
    ids = dataset.split("val")[:40]
    return {i: [" ".join(clean_caption(c)) for c in dataset.captions[i]] for i in ids}


def test_matches_pycocoevalcap_per_image(val_captions):
    ids = sorted(val_captions)
    # each image's hypothesis: its own first reference (high score) or the next image's (low score)
    hyps = {i: [val_captions[i][0] if n % 2 else val_captions[ids[(n + 1) % len(ids)]][0]] for n, i in enumerate(ids)}
    refs = {i: val_captions[i][1:] for i in ids}
    _, expected = Cider().compute_score(refs, hyps)
    cider = CiderD([[r.split() for r in refs[i]] for i in ids])
    mine = [cider.score(hyps[i][0].split(), [r.split() for r in refs[i]], key=i) for i in ids]
    assert mine == pytest.approx(list(expected), abs=1e-9)
    assert max(mine[1::2]) > 0.5  # a real caption of the image scores well; another image's scores low:
    assert sum(mine[1::2]) > 5 * sum(mine[0::2])


def test_cached_reference_vectors_give_the_same_score(val_captions):
    i = sorted(val_captions)[0]
    refs = [r.split() for r in val_captions[i]]
    cider = CiderD([refs])
    hyp = "a dog runs on the grass".split()
    assert cider.score(hyp, refs, key=i) == cider.score(hyp, refs) == cider.score(hyp, refs, key=i)
    assert cider.score([], refs) == 0.0
    assert cider.score(hyp, []) == 0.0


@pytest.fixture(scope="module")
def coco_references(coco_dev):
    dataset = load_dataset(str(coco_dev))
    return {i: [clean_caption(c) for c in dataset.captions[i]] for i in ("000000000724.jpg", "000000006723.jpg")}


def test_object_reward_is_recall_minus_hallucination(coco_references):
    from captioner.evaluation.hallucination import object_scores

    reward = ObjectReward(coco_references)
    sign, street = "000000000724.jpg", "000000006723.jpg"  # references: a stop sign; a street, one naming a bike
    cases = [(sign, "an upside down stop sign on a pole", 1.0),  # names what they name
             (sign, "a stop sign next to a bus", 0.0),  # that, and an object none names
             (sign, "a red truck on a street", -1.0),  # only an object none names
             (sign, "a sign on a pole", 0.0),  # no object kind at all ("sign" alone is none)
             (street, "a bicycle parked on a city street", 1.0),  # one reference of five is enough
             (street, "a bus driving down a city street", -1.0)]
    for image, caption, expected in cases:
        assert reward.score(caption.split(), image) == expected, caption
        # the same judgement as the evaluation's measures, on that one caption
        scores = object_scores({image: [" ".join(r) for r in coco_references[image]]}, {image: caption})
        assert expected == scores["object_recall"] - scores["hallucinated_captions"]
