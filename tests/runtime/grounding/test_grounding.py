"""Grounding on real photos: what must be said, what is blocked, and the constraints the search gets."""

import numpy as np
import pytest

from captioner.runtime.options import CaptionOptions
from captioner.runtime.grounding.grounding import GroundingConfig, ImageConcepts, constraints_for, setting_value, synonyms
from captioner.runtime.data.images import load_image
from captioner.runtime.data.vocab import SPECIALS, Vocabulary

BEAR, STOP_SIGN, PIZZA_TABLE = "000000000285.jpg", "000000000724.jpg", "000000001425.jpg"


def _concepts(captioner, paths):
    pixels = np.stack([captioner.encoder.preprocess(load_image(p)) for p in paths])
    pooled, _ = captioner.encoder.encode(pixels)
    return captioner.grounder.ground(pooled)


def test_a_bear_must_be_named_and_dogs_and_people_are_blocked(shipped_captioner, coco_dev):
    [bear] = _concepts(shipped_captioner, [coco_dev / "images" / BEAR])
    assert bear.required[0] == "bear" and max(bear.words, key=bear.words.get) == "bear"
    assert {"dog", "man", "person"} <= set(bear.blocked)  # concepts and kinds are shown, each with its reason
    assert {"dog", "man", "people", "shirt"} <= set(bear.blocked_words)  # the search bans all their words
    assert set(bear.reasons) == set(bear.blocked + bear.blocked_phrases) and "below" in bear.reasons["person"]
    assert bear.unfamiliar


def test_what_a_person_is_shown_is_real_words_compactly(shipped_captioner, coco_dev):
    """The blocked list names concepts and COCO kinds, at most `blocked_shown` of them, no invented plurals."""
    from captioner.runtime.data.objects import kind_names

    photos = sorted((coco_dev / "images").glob("*.jpg"))[:12]
    known = set(kind_names()) | set(shipped_captioner.grounder.detectors.concepts)
    for c in _concepts(shipped_captioner, photos):
        shown = c.to_dict()
        assert len(shown["blocked"]) <= 40 and set(shown["blocked"]) <= known
        assert set(shown["blocked_reasons"]) == set(shown["blocked"])
        assert shown["blocked_more"] == max(len(c.blocked) - 40, 0)
        assert not {"buseses", "bookses", "benchs", "buss"} & set(shown["blocked"] + shown["required"])


def test_coco_kinds_the_imagenet_classes_lack_are_detected(shipped_captioner, coco_dev):
    """ImageNet has no 'dining table' or 'person': the kind detectors learned from captions do."""
    detectors = shipped_captioner.grounder.detectors
    assert len(detectors.kinds) == 80 and detectors.kind_probabilities(np.zeros((1, 1280), np.float32)).shape == (1, 80)
    [pizza] = _concepts(shipped_captioner, [coco_dev / "images" / PIZZA_TABLE])
    pooled, _ = shipped_captioner.encoder.encode(np.stack([shipped_captioner.encoder.preprocess(
        load_image(coco_dev / "images" / n)) for n in (PIZZA_TABLE, BEAR)]))
    probs = detectors.kind_probabilities(pooled)  # (2, 80)
    table, bear = detectors.kinds.index("dining table"), detectors.kinds.index("bear")
    assert probs[0, table] > probs[1, table] and probs[1, bear] > probs[0, bear]
    assert all(k in pizza.reasons for k in pizza.blocked)


def test_flickr_photos_keep_their_people_and_dogs(shipped_captioner, flickr_images):
    concepts = _concepts(shipped_captioner, flickr_images[:3])  # two dogs and a scene with people
    for c in concepts:
        assert "dog" not in c.required  # dogs are the decoder's own business, never forced
        assert not c.unfamiliar
    assert sum("dog" in c.blocked_words for c in concepts) <= 1
    assert all(0.0 <= p <= 1.0 for c in concepts for p in list(c.words.values()) + list(c.detected.values()))


def test_constraints_use_synonyms_plurals_and_open_vocabulary():
    vocab = Vocabulary(list(SPECIALS) + ["a", "dog", "man", "bus", "buses", "zebra", "pizza"])
    trained = 9  # "zebra" and "pizza" (ids 9, 10) are open-vocabulary words
    plain = constraints_for(ImageConcepts({}, {}), vocab, trained)
    assert plain.required == () and plain.banned == {vocab.index["zebra"], vocab.index["pizza"]}
    c = constraints_for(ImageConcepts({}, {}, required=["zebra", "bus", "giraffe"], blocked_words=["man", "men"]), vocab, trained)
    assert c.required == (frozenset({vocab.index["zebra"]}), frozenset({vocab.index["bus"], vocab.index["buses"]}))
    assert c.banned == {vocab.index["man"], vocab.index["pizza"]}  # "giraffe" cannot be said: dropped
    assert {"car", "cars", "taxi", "van"} <= synonyms("car")
    assert synonyms("tricycle") == {"tricycle", "tricycles"}


@pytest.mark.parametrize("grounded", [True, False])
def test_grounded_captions_name_what_the_classifier_sees(shipped_captioner, coco_dev, grounded):
    images = [load_image(coco_dev / "images" / n) for n in (BEAR, STOP_SIGN)]
    bear, sign = shipped_captioner.caption(images, CaptionOptions(grounding=grounded))
    if grounded:
        assert "bear" in bear.caption.split() and "dog" not in bear.caption.split()
        assert "sign" in sign.caption.split()
        assert bear.concepts["required"][0] == "bear" and bear.timings_ms["concepts"] >= 0
    else:
        assert bear.concepts is None and "bear" not in bear.caption.split()
    for result in (bear, sign):
        words = result.caption.split()
        assert words and all(x != y for x, y in zip(words, words[1:]))  # never empty, no word twice in a row


def test_attention_maps_one_grid_per_word(shipped_captioner, coco_dev):
    [result] = shipped_captioner.caption([load_image(coco_dev / "images" / BEAR)], CaptionOptions(attention=True))
    assert [a["word"] for a in result.attention] == result.caption.split()
    grid = np.asarray(result.attention[0]["grid"])
    assert grid.shape == (9, 9) and abs(grid.sum() - 1.0) < 1e-2


def test_grounding_runs_numpys_blas_on_one_thread_and_gives_the_threads_back(shipped_captioner, coco_dev, monkeypatch):
    """OpenBLAS's threads spin after a product and take the cores from ONNX Runtime: grounding's
    products run on one BLAS thread, and the caller's setting is back afterwards."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import captioner.runtime.grounding.grounding as grounding

    def blas_threads():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    seen = []
    real = grounding.matmul

    def recording(a, b):
        seen.append(blas_threads())
        return real(a, b)

    monkeypatch.setattr(grounding, "matmul", recording)
    with threadpool_limits(2, "blas"):
        [bear] = _concepts(shipped_captioner, [coco_dev / "images" / BEAR])
        assert blas_threads() == {2}
    assert bear.required[0] == "bear" and seen and all(s == {1} for s in seen)


def test_a_photo_with_no_confident_concept_still_gets_a_plain_fluent_caption(shipped_captioner):
    from PIL import Image

    from captioner.evaluation.phrases import repeats_bigram

    flat = Image.new("RGB", (256, 256), (128, 128, 128))
    [result] = shipped_captioner.caption([flat], CaptionOptions(grounding=True))
    words = result.caption.split()
    assert result.concepts["required"] == [] and len(words) >= 3
    assert not repeats_bigram(words) and all(x != y for x, y in zip(words, words[1:]))


def test_without_an_imagenet_head_the_detectors_alone_ground(shipped_captioner, coco_dev):
    """Keras' no-top encoders have no ImageNet head: their detectors require and block, and no
    ImageNet word is listed, required, or gives a reason."""
    from dataclasses import replace

    from captioner.runtime.grounding.grounding import Grounder

    grounder = shipped_captioner.grounder
    # the bear's kind is 0.59; the kinds' calibrated absent thresholds as calibrated (the shipped
    # kind_absent_scale, chosen for the everyday decoder, also blocks this photo's table at 0.05)
    headless = Grounder(None, grounder.detectors, replace(grounder.config, kind_present=0.5, kind_absent_scale=1.0))
    photos = [coco_dev / "images" / n for n in (BEAR, PIZZA_TABLE)]
    pixels = np.stack([shipped_captioner.encoder.preprocess(load_image(p)) for p in photos])
    pooled, _ = shipped_captioner.encoder.encode(pixels)
    bear, pizza = headless.ground(pooled)
    assert bear.words == {} and pizza.words == {} and bear.unfamiliar
    assert bear.required == ["bear"]  # from the kind detector alone
    assert {"dog", "person"} <= set(bear.blocked) and "dining table" not in pizza.blocked
    assert not any("ImageNet" in why for c in (bear, pizza) for why in c.reasons.values())
    assert set(bear.reasons) == set(bear.blocked + bear.blocked_phrases)
    with_head = grounder.ground(pooled)
    assert with_head[0].words and any("ImageNet" in why for c in with_head for why in c.reasons.values())


def test_over_used_phrases_are_banned_on_everyday_photos_only(shipped_captioner, coco_dev, flickr_images):
    """The phrase detectors (learned from which photos' captions say a phrase) stop "black and white"
    on a bear and "in the water" on a stop sign; the phrase's words stay free on their own."""
    from dataclasses import replace

    grounder, vocab = shipped_captioner.grounder, shipped_captioner.bundle.vocab
    assert {"black and white", "in the water"} <= set(grounder.detectors.phrases)
    photos = [coco_dev / "images" / n for n in (BEAR, STOP_SIGN)]
    pixels = np.stack([shipped_captioner.encoder.preprocess(load_image(p)) for p in photos])
    pooled, _ = shipped_captioner.encoder.encode(pixels)
    bear, stop = grounder.ground(pooled)
    assert "black and white" in bear.blocked_phrases and "in the water" in stop.blocked_phrases
    shown = bear.to_dict()["blocked_phrases"]
    assert set(shown) == set(bear.blocked_phrases) and "below" in shown["black and white"]
    constraints = constraints_for(bear, vocab, shipped_captioner.bundle.trained_size, grounder.config)
    assert tuple(vocab.index[w] for w in ("black", "and", "white")) in constraints.banned_ngrams
    assert vocab.index["black"] not in constraints.banned and vocab.index["white"] not in constraints.banned
    stricter = grounder.ground(pooled, replace(grounder.config, phrase_miss_rate=0.0))
    looser = grounder.ground(pooled, replace(grounder.config, phrase_miss_rate=0.3))
    for few, some, many in zip(stricter, (bear, stop), looser):
        assert set(few.blocked_phrases) <= set(some.blocked_phrases) <= set(many.blocked_phrases)
    assert all(c.blocked_phrases == [] for c in _concepts(shipped_captioner, flickr_images[:3]))  # Flickr8k-like


def test_given_class_probabilities_are_used_and_scores_are_shown_rounded(shipped_captioner, coco_dev):
    """ground(probs=...) uses the encoder's own ImageNet probabilities instead of the head's; the
    JSON's scores have 4 decimals; the grounder knows the decoder's familiar words."""
    from captioner.runtime.grounding.grounding import familiar_words

    grounder = shipped_captioner.grounder
    pixels = np.stack([shipped_captioner.encoder.preprocess(load_image(coco_dev / "images" / BEAR))])
    pooled, _ = shipped_captioner.encoder.encode(pixels)
    [own] = grounder.ground(pooled)
    goldfish = np.zeros((1, 1000), np.float32)
    goldfish[0, 1] = 1.0  # ImageNet class 1: goldfish
    [given] = grounder.ground(pooled, probs=goldfish)
    assert max(own.words, key=own.words.get) == "bear" and max(given.words, key=given.words.get) != "bear"
    assert given.words[max(given.words, key=given.words.get)] == 1.0
    shown = own.to_dict()
    for entry in shown["detected"] + shown["imagenet"]:
        assert entry["score"] == round(entry["score"], 4) and 0 <= entry["score"] <= 1
    assert any(entry["score"] != round(entry["score"], 2) for entry in shown["detected"])  # not cut to fewer places
    from captioner.runtime.grounding.grounding import load_grounder

    bundle = shipped_captioner.bundle
    loaded = load_grounder(shipped_captioner.encoder, bundle)  # called here: a session fixture's setup maps to one test
    assert loaded.familiar == familiar_words(bundle.vocab, bundle.trained_size, loaded.config.familiar_words)
    assert len(loaded.familiar) == loaded.config.familiar_words and "dog" in loaded.familiar
    assert load_grounder(shipped_captioner.encoder).familiar is None  # no model: every word counts as familiar


def test_a_grounder_without_detectors_requires_from_the_imagenet_head_alone(shipped_captioner, coco_dev):
    from captioner.runtime.grounding.grounding import Grounder

    grounder = Grounder(shipped_captioner.encoder.classifier(), None, shipped_captioner.grounder.config)
    pixels = np.stack([shipped_captioner.encoder.preprocess(load_image(coco_dev / "images" / BEAR))])
    pooled, _ = shipped_captioner.encoder.encode(pixels)
    [bear] = grounder.ground(pooled)
    assert grounder.kinds == [] and bear.detected == {} and bear.blocked_phrases == []
    assert max(bear.words, key=bear.words.get) == "bear" and not bear.unfamiliar  # no everyday classifier


def test_a_rare_required_word_makes_a_flickr_photo_unfamiliar(shipped_captioner, flickr_root):
    """A Flickr8k-like photo (the everyday classifier says no) whose required word the decoder rarely
    saw ("kite") is grounded as unfamiliar, unless `unfamiliar_from_words` is off."""
    from dataclasses import replace

    grounder = shipped_captioner.grounder
    pixels = np.stack([shipped_captioner.encoder.preprocess(load_image(flickr_root / "images" / "3339140382_2e49bc324a.jpg"))])
    pooled, _ = shipped_captioner.encoder.encode(pixels)
    [kite] = grounder.ground(pooled)
    assert kite.required == ["kite"] and "kite" not in grounder.familiar
    assert kite.everyday < grounder.config.everyday_threshold and kite.unfamiliar
    [plain] = grounder.ground(pooled, replace(grounder.config, unfamiliar_from_words=False))
    assert plain.required == ["kite"] and not plain.unfamiliar


def test_each_flickr_concept_is_judged_on_its_own(shipped_captioner, flickr_images):
    """A concept kept (people in the photo) does not stop the next from being blocked (no dog)."""
    concepts = _concepts(shipped_captioner, flickr_images[:6])
    assert any("person" not in c.blocked and "dog" in c.blocked for c in concepts)
    assert any("man" not in c.blocked and {"woman", "child", "dog"} <= set(c.blocked) for c in concepts)


def test_a_second_required_word_must_be_far_enough_over_its_threshold(shipped_captioner, coco_dev):
    """second_over: a word after the first is required only when its probability is that many times
    its threshold (1.0: any word over its threshold, as before)."""
    from dataclasses import replace

    grounder = shipped_captioner.grounder
    config = replace(grounder.config, second_over=1.0)
    paths = sorted((coco_dev / "images").glob("*.jpg"))[:80]
    pixels = np.stack([shipped_captioner.encoder.preprocess(load_image(p)) for p in paths])
    found = [(p, c) for p, c in zip(paths, grounder.ground(shipped_captioner.encoder.encode(pixels)[0], config))
             if len(c.required) == 2 and all(w in c.words for w in c.required) and c.everyday >= config.everyday_threshold]
    assert found, "no photo of the first 80 with two required ImageNet words"
    path, concepts = found[0]
    first, second = concepts.required
    over = concepts.words[second] / config.present_threshold  # how far the second is over its threshold
    assert over >= 1.0 and concepts.words[first] >= concepts.words[second]
    pixels = np.stack([shipped_captioner.encoder.preprocess(load_image(path))])
    pooled, _ = shipped_captioner.encoder.encode(pixels)
    [below] = grounder.ground(pooled, replace(config, second_over=over * 0.99))
    [above] = grounder.ground(pooled, replace(config, second_over=over * 1.01))
    assert below.required == [first, second] and above.required == [first]


def test_a_second_required_word_must_be_one_coco_names_with_the_first(shipped_captioner, coco_dev):
    """second_cooccurrence: a word after the first is required only when COCO's captions name it in
    that share of the photos they name the first in (0: any pair, as before)."""
    from dataclasses import replace

    grounder = shipped_captioner.grounder
    config = grounder.config
    paths = sorted((coco_dev / "images").glob("*.jpg"))[:80]
    pairs = [(p, c) for p, c in zip(paths, _concepts(shipped_captioner, paths)) if len(c.required) == 2]
    assert pairs, "no photo of the first 80 with two required words"
    pooled, _ = shipped_captioner.encoder.encode(np.stack([shipped_captioner.encoder.preprocess(load_image(p))
                                                           for p, _ in pairs]))
    for (path, concepts), row in zip(pairs, pooled):
        first, second = concepts.required
        share = grounder.cooccurrence.given(first, second)
        if share == 0.0:
            continue
        [below] = grounder.ground(row[None], replace(config, second_cooccurrence=share * 0.99))
        [above] = grounder.ground(row[None], replace(config, second_cooccurrence=share * 1.01))
        assert below.required == [first, second]
        assert above.required[0] == first and second not in above.required
        for later in above.required[1:]:  # a later word may take its place only if it does go with the first
            assert grounder.cooccurrence.given(first, later) >= share * 1.01
        return
    pytest.fail("no pair of required words that COCO's captions ever name together")


def test_on_flickr_like_photos_a_kind_the_decoder_rarely_saw_may_be_required(shipped_captioner, coco_dev):
    """familiar_kind_present: a giraffe's head looks like Flickr8k to the everyday classifier, and the
    Flickr8k decoder has hardly seen a giraffe; the kind's detector may then require "giraffe". A kind the
    decoder knows well (its word among the familiar ones) is never required there."""
    from dataclasses import replace

    grounder = shipped_captioner.grounder
    image = load_image(coco_dev / "images" / "000000017031.jpg")  # "a very cute giraffe making a funny face"
    pooled, _ = shipped_captioner.encoder.encode(np.stack([shipped_captioner.encoder.preprocess(image)]))
    config = replace(grounder.config, familiar_kind_present=None)
    [off] = grounder.ground(pooled, config)
    assert off.everyday < config.everyday_threshold and "giraffe" not in off.required
    [on] = grounder.ground(pooled, replace(config, familiar_kind_present=0.5))
    assert on.required == ["giraffe"] and on.unfamiliar  # a word the decoder rarely saw: grounded fully
    assert "giraffe" not in grounder.familiar
    giraffe = grounder.kinds.index("giraffe")
    probability = float(grounder.detectors.kind_probabilities(pooled)[0, giraffe])
    [above] = grounder.ground(pooled, replace(config, familiar_kind_present=probability * 1.01))
    assert "giraffe" not in above.required
    # kinds the decoder knows well stay its own business on such photos, at any threshold
    [low] = grounder.ground(pooled, replace(config, familiar_kind_present=1e-6))
    assert not set(low.required) & grounder.familiar


def test_an_imagenet_word_naming_a_kind_needs_that_kinds_detector_to_agree(shipped_captioner, coco_dev):
    """kind_confirm: ImageNet's "passenger car" makes the red bus a train; "train" names a COCO kind whose
    detector says otherwise, so it is required only when that detector reaches kind_confirm. Words no
    kind detector covers keep their ImageNet rule at any kind_confirm."""
    from dataclasses import replace

    grounder = shipped_captioner.grounder
    image = load_image(coco_dev / "images" / "000000001584.jpg")  # a red double-decker bus
    pooled, _ = shipped_captioner.encoder.encode(np.stack([shipped_captioner.encoder.preprocess(image)]))
    config = replace(grounder.config, kind_confirm=None)
    [off] = grounder.ground(pooled, config)
    assert off.required == ["bus", "train"]
    kinds = grounder.detectors.kind_probabilities(pooled)[0]  # (K,)
    train, bus = kinds[grounder.kinds.index("train")], kinds[grounder.kinds.index("bus")]
    assert train < 0.1 < 0.9 < bus
    [below] = grounder.ground(pooled, replace(config, kind_confirm=float(train) * 0.99))
    [above] = grounder.ground(pooled, replace(config, kind_confirm=float(train) * 1.01))
    assert below.required == ["bus", "train"] and above.required == ["bus"]
    assert "train" in above.blocked  # unconfirmed, the kind is judged by its detector like any other
    # a word without a kind detector (people are the decoder's own) is untouched by the rule
    assert all(grounder.confirmed(replace(config, kind_confirm=1.0), kinds, {}, kind) for kind in ("train", None))
    assert not grounder.confirmed(replace(config, kind_confirm=1.0), kinds, {"train": grounder.kinds.index("train")}, "train")


def test_a_rare_word_makes_a_flickr_like_photo_unfamiliar_only_from_unfamiliar_words_from(shipped_captioner, coco_dev):
    """unfamiliar_words_from: the giraffe's head is Flickr8k-like to the everyday classifier (about 0.19)
    and "giraffe" is a word the Flickr8k decoder rarely saw. Under the bar the photo keeps that required
    word but is grounded as a familiar one: the everyday photos' blocking and language model stay off,
    and the Flickr8k decoder writes it; from the bar on it is unfamiliar."""
    from dataclasses import replace

    from captioner.runtime.grounding.grounding import decoder_sources, lm_weights

    grounder = shipped_captioner.grounder
    image = load_image(coco_dev / "images" / "000000017031.jpg")  # "a very cute giraffe making a funny face"
    pooled, _ = shipped_captioner.encoder.encode(np.stack([shipped_captioner.encoder.preprocess(image)]))
    config = replace(grounder.config, unfamiliar_words_from=0.0, everyday_source_from=0.0)
    [rare] = grounder.ground(pooled, config)
    assert rare.required == ["giraffe"] and "giraffe" not in grounder.familiar and rare.everyday < config.everyday_threshold
    assert rare.unfamiliar and decoder_sources([rare], config) == [1] and lm_weights([rare], config) == [config.lm_weight]
    above = replace(config, unfamiliar_words_from=rare.everyday * 1.01)
    [kept] = grounder.ground(pooled, above)
    assert kept.required == ["giraffe"] and not kept.unfamiliar  # the word stays required
    assert decoder_sources([kept], above) == [0] and lm_weights([kept], above) == [config.lm_weight_familiar]
    assert set(kept.blocked) < set(rare.blocked) and not kept.blocked_phrases  # familiar photos' gentler blocking
    [familiar] = grounder.ground(pooled, replace(config, unfamiliar_from_words=False))
    assert kept.blocked == familiar.blocked and kept.required == familiar.required  # as if words made nothing unfamiliar
    [at] = grounder.ground(pooled, replace(config, unfamiliar_words_from=rare.everyday))  # the bar itself counts
    assert at.unfamiliar and at.blocked == rare.blocked
    assert all(type(c.unfamiliar) is bool for c in (rare, kept, familiar, at))  # plain bools: the API serialises them


def test_absent_kinds_on_flickr_like_photos_have_a_scale_of_their_own(shipped_captioner, coco_dev):
    """kinds_on_familiar blocks absent kinds on a Flickr8k-like photo too, under their calibrated
    thresholds times familiar_kind_absent_scale (None: kind_absent_scale, as on unfamiliar photos)."""
    from dataclasses import replace

    grounder = shipped_captioner.grounder
    image = load_image(coco_dev / "images" / "000000017029.jpg")  # "a dog jumping to catch a frisbee in a yard": Flickr8k-like
    pooled, _ = shipped_captioner.encoder.encode(np.stack([shipped_captioner.encoder.preprocess(image)]))
    config = replace(grounder.config, familiar_kind_present=None, kinds_on_familiar=False, familiar_kind_absent_scale=None)
    [off] = grounder.ground(pooled, config)
    assert not off.unfamiliar and not set(off.blocked) & set(grounder.kinds)
    det = grounder.detectors.kind_probabilities(pooled)[0]  # (K,)
    calibrated = grounder.detectors.kind_absent_below * config.absent_scale  # (K,)
    owned = [grounder.kind_owned[k] for k in range(len(grounder.kinds))]
    [same] = grounder.ground(pooled, replace(config, kinds_on_familiar=True))
    [gentle] = grounder.ground(pooled, replace(config, kinds_on_familiar=True, familiar_kind_absent_scale=1.0))
    for k, kind in enumerate(grounder.kinds):
        if owned[k]:
            continue
        assert (kind in same.blocked) == bool(det[k] < calibrated[k] * config.kind_absent_scale), kind
        assert (kind in gentle.blocked) == bool(det[k] < calibrated[k]), kind
    assert len(gentle.blocked) < len(same.blocked)


def test_kind_confirm_may_spare_the_first_required_word(shipped_captioner, coco_dev):
    """kind_confirm_first False: the first required word keeps its ImageNet rule; later ones need
    their kind's detector to reach kind_confirm."""
    from dataclasses import replace

    grounder = shipped_captioner.grounder
    image = load_image(coco_dev / "images" / "000000001584.jpg")  # a red double-decker bus; "train" second
    pooled, _ = shipped_captioner.encoder.encode(np.stack([shipped_captioner.encoder.preprocess(image)]))
    kinds = grounder.detectors.kind_probabilities(pooled)[0]  # (K,)
    train = float(kinds[grounder.kinds.index("train")])
    spare = replace(grounder.config, kind_confirm_first=False)
    [low] = grounder.ground(pooled, replace(spare, kind_confirm=train * 0.99))
    [high] = grounder.ground(pooled, replace(spare, kind_confirm=train * 1.01))
    assert low.required == ["bus", "train"] and high.required == ["bus"]
    # at a bar no detector reaches (and with no kind required by its detector), the first word stays
    # only when spared
    words_only = replace(spare, kind_confirm=1.0, kind_present=1.01)
    [spared] = grounder.ground(pooled, words_only)
    [strict] = grounder.ground(pooled, replace(words_only, kind_confirm_first=True))
    assert spared.required == ["bus"] and not {"bus", "train"} & set(strict.required)


def test_kinds_first_names_the_detected_kind_before_the_classifier_words(shipped_captioner, coco_dev):
    """kinds_first: a kind its detector finds (over kind_present) takes the first slot ahead of
    ImageNet words that are further over their own thresholds ("food", "meat" on a broccoli plate)."""
    from dataclasses import replace

    grounder = shipped_captioner.grounder
    image = load_image(coco_dev / "images" / "000000003501.jpg")  # broccoli on a plate; references name it
    pooled, _ = shipped_captioner.encoder.encode(np.stack([shipped_captioner.encoder.preprocess(image)]))
    kinds = grounder.detectors.kind_probabilities(pooled)[0]  # (K,)
    assert kinds[grounder.kinds.index("broccoli")] >= grounder.config.kind_present
    [by_over] = grounder.ground(pooled, replace(grounder.config, kinds_first=False))
    [first] = grounder.ground(pooled, replace(grounder.config, kinds_first=True))
    assert "broccoli" not in by_over.required and len(by_over.required) == 2
    assert first.required == ["broccoli", by_over.required[0]]


def test_second_over_is_a_bar_for_each_later_candidate(shipped_captioner, coco_dev):
    """With kinds first, candidates no longer come furthest over first: one under second_over is
    skipped, and a later word over it may still be required."""
    from dataclasses import replace

    grounder = shipped_captioner.grounder
    image = load_image(coco_dev / "images" / "000000003661.jpg")  # bananas on a table
    pooled, _ = shipped_captioner.encoder.encode(np.stack([shipped_captioner.encoder.preprocess(image)]))
    kinds = grounder.detectors.kind_probabilities(pooled)[0]  # (K,)
    config = replace(grounder.config, kinds_first=True)
    table_over = float(kinds[grounder.kinds.index("dining table")]) / config.kind_present
    [both] = grounder.ground(pooled, replace(config, second_over=table_over * 0.99))
    [level] = grounder.ground(pooled, replace(config, second_over=table_over))  # exactly at the bar: kept
    assert level.required == ["banana", "table"]
    [skipped] = grounder.ground(pooled, replace(config, second_over=table_over * 1.01))
    assert both.required == ["banana", "table"]
    assert skipped.required[0] == "banana" and len(skipped.required) == 2 and "table" not in skipped.required


def test_a_blocked_kind_named_by_a_phrase_is_banned_as_a_phrase(shipped_captioner, coco_dev):
    """"stop sign" has no one-word name: blocking the kind banned no word, and the decoder said it on
    a photo with no stop sign. block_kind_phrases bans its names as n-grams, while "sign" stays sayable."""
    from dataclasses import replace

    grounder, vocab = shipped_captioner.grounder, shipped_captioner.bundle.vocab
    image = load_image(coco_dev / "images" / "000000012280.jpg")  # people with suitcases; no stop sign
    pooled, _ = shipped_captioner.encoder.encode(np.stack([shipped_captioner.encoder.preprocess(image)]))
    config = replace(grounder.config, block_kind_phrases=True)
    [on] = grounder.ground(pooled, config)
    [off] = grounder.ground(pooled, replace(config, block_kind_phrases=False))
    assert "stop sign" in on.blocked and "stop sign" in off.blocked and not off.blocked_names
    assert {"stop sign", "stop signs", "traffic light"} <= set(on.blocked_names)
    # names whose last word is already banned are left out ("soccer ball": "ball" is banned)
    assert "ball" in on.blocked_words and "soccer ball" not in on.blocked_names
    trained = shipped_captioner.bundle.trained_size
    banned = constraints_for(on, vocab, trained, config).banned_ngrams
    assert (vocab.index["stop"], vocab.index["sign"]) in banned
    assert (vocab.index["stop"], vocab.index["sign"]) not in constraints_for(off, vocab, trained, config).banned_ngrams
    assert vocab.index["sign"] not in constraints_for(on, vocab, trained, config).banned


def test_a_blocked_kind_phrase_with_a_required_word_stays_sayable(shipped_captioner, coco_dev):
    """A blocked kind's phrase that holds a required word is not banned (the required word must be said)."""
    from dataclasses import replace

    grounder = shipped_captioner.grounder
    image = load_image(coco_dev / "images" / "000000011615.jpg")  # a sign; "sign" is required
    pooled, _ = shipped_captioner.encoder.encode(np.stack([shipped_captioner.encoder.preprocess(image)]))
    [c] = grounder.ground(pooled, replace(grounder.config, block_kind_phrases=True))
    assert "sign" in c.required and "stop sign" in c.blocked
    assert not any("sign" in name.split() for name in c.blocked_names) and c.blocked_names


def test_kind_fallback_names_the_likeliest_kind_when_no_required_word_names_one(shipped_captioner, coco_dev):
    """On an everyday photo whose required words name no COCO kind ("food", "vegetables"), kind_fallback
    requires the likeliest kind from that probability on: in a free slot, else in the last word's."""
    from dataclasses import replace

    grounder = shipped_captioner.grounder
    names = ["000000008277.jpg", "000000009914.jpg"]  # broccoli on a plate; a sandwich on a plate
    pixels = np.stack([shipped_captioner.encoder.preprocess(load_image(coco_dev / "images" / n)) for n in names])
    pooled, _ = shipped_captioner.encoder.encode(pixels)
    kinds = grounder.detectors.kind_probabilities(pooled)  # (2, K)
    broccoli, sandwich = kinds[0, grounder.kinds.index("broccoli")], kinds[1, grounder.kinds.index("sandwich")]
    config = replace(grounder.config, kind_fallback=None)
    full, free = grounder.ground(pooled, config)
    assert len(full.required) == config.max_constraints and len(free.required) < config.max_constraints
    assert not {"broccoli", "sandwich"} & set(full.required + free.required)
    low = float(min(broccoli, sandwich)) * 0.99
    full_fb, free_fb = grounder.ground(pooled, replace(config, kind_fallback=low))
    assert full_fb.required == [full.required[0], "broccoli"]  # the last word's slot
    assert free_fb.required == free.required + ["sandwich"]
    high = float(max(broccoli, sandwich)) * 1.01
    assert [c.required for c in grounder.ground(pooled, replace(config, kind_fallback=high))] == [full.required, free.required]


def test_the_caption_never_says_a_word_on_both_sides_of_and(shipped_captioner, coco_dev, monkeypatch):
    """SearchConfig.no_repeat_across: with "broccoli" required, the everyday decoder wrote "broccoli and
    broccoli"; the search now blocks a word after "and" that came just before it."""
    import re
    from dataclasses import replace

    from captioner.runtime import options

    image = load_image(coco_dev / "images" / "000000003501.jpg")  # broccoli on a plate
    [result] = shipped_captioner.caption([image])
    monkeypatch.setattr(options, "_SEARCH", replace(options._SEARCH, no_repeat_across=()))  # the engine's own default
    [before] = shipped_captioner.caption([image])
    assert re.search(r"\b(\w+) and \1\b", before.caption) and "broccoli" in before.caption
    assert not re.search(r"\b(\w+) (and|or) \1\b", result.caption) and "broccoli" in result.caption


def test_settings_read_from_text_take_each_settings_type():
    """setting_value: what the scripts' --grid and --set make of FIELD=VALUE."""
    assert setting_value("kind_present", "0.6") == 0.6 and setting_value("max_constraints", "3") == 3
    assert type(setting_value("max_constraints", "3")) is int and type(setting_value("kind_absent_scale", "150")) is float
    assert setting_value("kinds_first", "true") is True and setting_value("kinds_first", "Yes") is True
    assert setting_value("kinds_first", "1") is True and setting_value("kinds_first", "false") is False
    assert setting_value("kind_fallback", "None") is None and setting_value("kind_fallback", "0.5") == 0.5
    assert GroundingConfig().kind_fallback is None  # a setting None by default still takes a number
    with pytest.raises(KeyError):
        setting_value("no_such_setting", "1")
    with pytest.raises(ValueError):
        setting_value("kind_present", "high")
