"""Hallucination rate and object recall of captions, by the COCO object kinds they name.

A caption *hallucinates* when it names one of the 80 COCO object kinds that none of the image's
reference captions names (person words count as "person"), the CHAIR measure of Rohrbach et al.
(2018) with our own synonym table (`data/coco_objects.tsv`). *Object recall* is the share of images
whose references name some object where the caption names at least one of those objects.
"""

from __future__ import annotations

from captioner.runtime.data.objects import load_object_table, objects_in, objects_named


def object_scores(references: dict[str, list[str]], captions: dict[str, str]) -> dict[str, float | int]:
    """Hallucination (share of captions, and of object mentions) and object recall over `captions`."""
    table = load_object_table()
    hallucinated_captions = mentions = hallucinated_mentions = recall_images = recalled = 0
    for image_id, caption in captions.items():
        truth = objects_in(references[image_id], table)
        named = objects_named(caption, table)
        wrong = named - truth
        hallucinated_captions += bool(wrong)
        mentions += len(named)
        hallucinated_mentions += len(wrong)
        if truth:
            recall_images += 1
            recalled += bool(named & truth)
    count = max(len(captions), 1)
    return {
        "hallucinated_captions": hallucinated_captions / count,
        "hallucinated_mentions": hallucinated_mentions / max(mentions, 1),
        "object_recall": recalled / max(recall_images, 1),
        "images_with_objects": recall_images,
    }
