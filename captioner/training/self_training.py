"""Self-training's checks: which of a model's own captions of unlabeled photos are worth training on
(scripts/self_train.py writes them as a COCO-format folder for `captioner train --pseudo`)."""

from __future__ import annotations

from captioner.runtime.data.cleaning import clean_caption
from captioner.runtime.data.objects import load_object_table, objects_in, objects_named
from captioner.runtime.grounding.grounding import GroundingConfig, synonyms
from captioner.runtime.model.result import CaptionResult

DETECTED_KIND = GroundingConfig.kind_shown_from  # a COCO kind listed as detected
DETECTED_CONCEPT = 0.5  # a Flickr8k concept (person, dog, ...) its detector finds likelier than not
FLICKR_CONCEPTS = ("person", "man", "woman", "child", "dog")


def failed_check(result: CaptionResult, table: dict | None = None) -> str | None:
    """Why a grounded result is not trained on (None: it passes):
    - "unreadable": the photo could not be captioned;
    - "nothing required": grounding found no confident concept, so the caption is the decoder's guess;
    - "a required word unsaid": the search fell back to the plain caption;
    - "an object not detected": the caption names a COCO kind no detector sees."""
    if result.error:
        return "unreadable"
    table = table if table is not None else load_object_table()
    concepts = result.concepts or {}
    required = concepts.get("required") or []
    if not required:
        return "nothing required"
    said = f" {' '.join(clean_caption(result.caption))} "
    if not all(any(f" {form} " in said for form in synonyms(word)) for word in required):
        return "a required word unsaid"
    seen = objects_in(required, table)
    for found in concepts.get("detected", []):
        floor = DETECTED_CONCEPT if found["concept"] in FLICKR_CONCEPTS else DETECTED_KIND
        if found["score"] >= floor:
            seen |= objects_named(found["concept"], table) or {found["concept"]}
    return "an object not detected" if objects_named(result.caption, table) - seen else None


def best_share(passed: list[tuple[float, str, str]], keep: float) -> list[tuple[float, str, str]]:
    """The best `keep` share (at least one) of (score, name, caption) by score, in name order."""
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], not {keep}")
    ranked = sorted(passed, key=lambda item: -item[0])
    return sorted(ranked[: max(1, round(len(passed) * keep))] if passed else [], key=lambda item: item[1])
