"""Training data from two caption sets: the seeded hold-out, the joined split and its sampling weights."""

import numpy as np

from captioner.training.data import SplitData, batches, holdout, join_splits


def _split(prefix, images, captions_each, dim=3):
    ids = [f"{prefix}{i}" for i in range(images)]
    pooled = np.full((images, dim), ord(prefix), np.float16)
    captions = [(row, [1, 10 + row, 2]) for row in range(images) for _ in range(captions_each)]
    return SplitData(ids, pooled, None, captions, {i: [f"caption of {i}"] for i in ids})


def test_holdout_is_seeded_disjoint_and_independent_of_order():
    ids = [f"{i:03d}.jpg" for i in range(50)]
    train, held = holdout(ids, 7, seed=0)
    assert len(held) == 7 and len(train) == 43 and not set(train) & set(held) and set(train) | set(held) == set(ids)
    assert holdout(list(reversed(ids)), 7, seed=0) == (train, held)
    assert holdout(ids, 7, seed=1)[1] != held
    assert holdout(ids, 500, seed=0) == ([], sorted(ids)) and holdout(ids, 0, seed=0) == (sorted(ids), [])


def test_joined_split_keeps_rows_references_and_weights():
    first, second = _split("f", 3, 2), _split("c", 2, 1)
    joined = join_splits(first, second, weight=2.5)
    assert joined.image_ids == ["f0", "f1", "f2", "c0", "c1"] and joined.pooled.shape == (5, 3)
    for row, tokens in joined.captions:  # every caption still points at its own image's features
        source = first if row < 3 else second
        assert joined.pooled[row, 0] == source.pooled[0, 0]
    assert joined.captions[-1] == (4, [1, 11, 2]) and set(joined.references) == set(joined.image_ids)
    assert joined.weights == [1.0] * 6 + [2.5] * 2
    assert join_splits(first, second).weights is None  # all once: plain shuffling


def test_weighted_epochs_see_each_caption_about_its_weight():
    joined = join_splits(_split("f", 40, 1), _split("c", 40, 1), weight=2.5)
    seen = {"f": 0, "c": 0}
    for epoch in range(20):
        for pooled, _, tokens, _ in batches(joined, 16, shuffle=True, seed=epoch):
            for value in pooled[:, 0].tolist():
                seen["f" if value == ord("f") else "c"] += 1
    assert seen["f"] == 40 * 20  # weight 1: exactly once an epoch
    assert abs(seen["c"] / (40 * 20) - 2.5) < 0.1  # 2 each, plus a third for about half of them
    plain = sum(len(t) for _, _, t, _ in batches(joined, 16, shuffle=False, seed=0))
    assert plain == 80  # validation order: each caption once, weights ignored


def test_pseudo_captions_join_training_whole_and_never_validation(coco_dev, tmp_path):
    """--pseudo: self-training's captions (a COCO-format folder) are all trained on, weighted, and
    none of them is held out to validate on."""
    import json
    import os

    from captioner.training.config import TrainConfig
    from captioner.training.data import dataset_parts

    data = json.loads((coco_dev / "captions.json").read_text())
    kept = data["images"][:7]
    pseudo = {"images": kept, "annotations": [{"id": n, "image_id": img["id"], "caption": "a photo of a thing"}
                                              for n, img in enumerate(kept)]}
    folder = tmp_path / "pseudo"
    folder.mkdir()
    (folder / "captions.json").write_text(json.dumps(pseudo))
    os.symlink(coco_dev / "images", folder / "images")
    config = TrainConfig(dataset=str(coco_dev), pseudo=str(folder), pseudo_weight=0.5)
    parts = dataset_parts(config)
    assert len(parts) == 2
    dataset, train, val, weight = parts[1]
    assert sorted(train) == sorted(img["file_name"] for img in kept) and val == [] and weight == 0.5
    assert len(dataset_parts(TrainConfig(dataset=str(coco_dev)))) == 1  # without --pseudo, no part for it
