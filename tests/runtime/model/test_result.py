"""The one result type: every key always in its JSON, and back."""

import json

from captioner.runtime.model.result import RESULT_KEYS, CaptionResult


def test_the_json_has_every_key_and_round_trips():
    result = CaptionResult("a dog runs", [{"caption": "a dog runs", "score": -1.0, "log_prob": -3.0}],
                           concepts={"required": ["dog"]}, model="default", encoder="efficientnet-lite2",
                           image={"width": 4, "height": 3}, source="dog.jpg", timings_ms={"encode": 1.5})
    data = result.to_dict()
    assert tuple(data) == RESULT_KEYS
    assert RESULT_KEYS == ("caption", "alternatives", "concepts", "attention", "model", "encoder", "image", "source",
                           "timings_ms", "cached", "error")
    assert data["caption"] == "a dog runs" and data["cached"] is False and data["attention"] is None
    assert CaptionResult.from_dict(json.loads(json.dumps(data))) == result


def test_a_failure_keeps_every_key_with_empty_values():
    failed = CaptionResult.failed("photo.jpg: no such file", source="photo.jpg").to_dict()
    assert tuple(failed) == RESULT_KEYS
    assert failed["error"] == "photo.jpg: no such file" and failed["source"] == "photo.jpg"
    assert failed["caption"] == "" and failed["alternatives"] == [] and failed["timings_ms"] == {}
    assert CaptionResult.from_dict({"caption": "x", "unknown": 1}) == CaptionResult("x")
    assert CaptionResult().alternatives is not CaptionResult().alternatives  # no list shared between results


def test_every_engine_words_a_failure_the_same_way():
    from captioner.errors import ImageError
    from captioner.runtime.model.result import failure_text

    assert failure_text(ImageError("photo.jpg: no such file")) == "photo.jpg: no such file"
    assert failure_text(RuntimeError("decoder exploded")) == "RuntimeError: decoder exploded"
    assert CaptionResult.failed(ValueError("bad")).error == "ValueError: bad"
    assert CaptionResult.failed("said plainly").error == "said plainly"
