"""Self-training's checks on the shipped model's own captions of real everyday photos."""

import pytest

from captioner.runtime.data.images import load_image
from captioner.runtime.model.result import CaptionResult
from captioner.runtime.options import CaptionOptions
from captioner.training.self_training import best_share, failed_check


def test_checks_on_real_captions(shipped_captioner, coco_dev):
    bear = shipped_captioner.caption([load_image(coco_dev / "images" / "000000000285.jpg")], CaptionOptions())[0]
    assert bear.concepts["required"] == ["bear"] and "bear" in bear.caption
    assert failed_check(bear) is None  # a required word said, no object the detectors do not see
    plain = shipped_captioner.caption([load_image(coco_dev / "images" / "000000000285.jpg")],
                                      CaptionOptions(grounding=False))[0]
    assert failed_check(plain) == "nothing required"  # no concepts: the decoder's own guess
    unsaid = CaptionResult(caption="a brown dog is standing in the grass", concepts=bear.concepts)
    assert failed_check(unsaid) == "a required word unsaid"
    plural = CaptionResult(caption="two brown bears are standing in the grass", concepts=bear.concepts)
    assert failed_check(plural) is None  # any form of the word counts
    extra = CaptionResult(caption="a bear is standing next to a bus", concepts=bear.concepts)
    assert failed_check(extra) == "an object not detected"
    assert failed_check(CaptionResult.failed("unreadable image")) == "unreadable"


def test_the_best_share_is_kept_in_name_order():
    passed = [(-0.5, "b.jpg", "x"), (-0.1, "c.jpg", "y"), (-0.9, "a.jpg", "z"), (-0.3, "d.jpg", "w")]
    assert best_share(passed, 0.5) == [(-0.1, "c.jpg", "y"), (-0.3, "d.jpg", "w")]
    assert best_share(passed, 0.1) == [(-0.1, "c.jpg", "y")]  # at least one
    assert best_share(passed, 1.0) == sorted(passed, key=lambda p: p[1]) and best_share([], 0.5) == []
    with pytest.raises(ValueError, match="keep must be in"):
        best_share(passed, 0)
