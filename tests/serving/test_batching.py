"""Micro-batching: concurrent requests are captioned together, each gets its own answer, a bad one fails alone."""

import asyncio

import anyio

from captioner.runtime.options import CaptionOptions
from captioner.serving.service import CaptionService, ServeSettings


async def _together(service, photos, options):
    """Caption every photo at once (one task each); answers (or exceptions) in photo order."""
    answers = [None] * len(photos)

    async def one(n, data, beam, grounding):
        try:
            answers[n] = await service.caption(data, CaptionOptions(beam_size=beam, max_length=12, grounding=grounding))
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            answers[n] = exc

    async with anyio.create_task_group() as group:
        for n, (data, (beam, grounding)) in enumerate(zip(photos, options)):
            group.start_soon(one, n, data, beam, grounding)
    return answers


def test_concurrent_requests_form_one_batch_with_the_captions_of_single_requests(shipped_captioner, flickr_images):
    photos = [p.read_bytes() for p in flickr_images[:4]]
    service = CaptionService(shipped_captioner, ServeSettings(max_batch=4, batch_wait_ms=200))
    answers = asyncio.run(_together(service, photos, [(3, True)] * 4))
    assert service.batcher.batches == 1 and service.batcher.batched_jobs == 4
    alone = [shipped_captioner.caption([img], CaptionOptions(beam_size=3, max_length=12))[0].caption
             for img in (service_image(p) for p in flickr_images[:4])]
    assert [a["caption"] for a in answers] == alone
    assert len({a["caption"] for a in answers}) > 1  # four photos, not one answer copied


def service_image(path):
    from captioner.runtime.data.images import load_image

    return load_image(path.read_bytes())


def test_batches_never_mix_options_and_respect_max_batch(shipped_captioner, flickr_images):
    photos = [p.read_bytes() for p in flickr_images[:5]]
    service = CaptionService(shipped_captioner, ServeSettings(max_batch=2, batch_wait_ms=200))
    options = [(2, False), (3, False), (2, False), (2, False), (3, False)]
    seen = []
    real = service.batcher.run_batch

    def recording(images, opts):
        seen.append((len(images), opts))
        return real(images, opts)

    service.batcher.run_batch = recording
    answers = asyncio.run(_together(service, photos, options))
    assert all(isinstance(a, dict) for a in answers)
    assert all(size <= 2 for size, _ in seen) and sum(size for size, _ in seen) == 5
    beams = sorted(opts.beam_size for size, opts in seen for _ in range(size))
    assert beams == [2, 2, 2, 3, 3]
    for a, (beam, _) in zip(answers, options):
        assert len(a["alternatives"]) == beam


def test_an_image_that_fails_in_a_batch_fails_alone(shipped_captioner, flickr_images, monkeypatch):
    photos = [p.read_bytes() for p in flickr_images[:3]]
    service = CaptionService(shipped_captioner, ServeSettings(max_batch=3, batch_wait_ms=200))
    poison = service_image(flickr_images[1]).tobytes()
    real = shipped_captioner.caption

    def fragile(images, *args, **kwargs):  # the model fails on the second photo, and so on any batch holding it
        if any(image.tobytes() == poison for image in images):
            raise RuntimeError("decoder exploded")
        return real(images, *args, **kwargs)

    monkeypatch.setattr(shipped_captioner, "caption", fragile)
    answers = asyncio.run(_together(service, photos, [(2, False)] * 3))
    assert isinstance(answers[1], RuntimeError)
    assert isinstance(answers[0], dict) and isinstance(answers[2], dict)
    assert service.batcher.batches == 1


def test_max_batch_one_captions_one_at_a_time(shipped_captioner, flickr_images):
    service = CaptionService(shipped_captioner, ServeSettings(max_batch=1, batch_wait_ms=50))
    answers = asyncio.run(_together(service, [p.read_bytes() for p in flickr_images[:3]], [(2, False)] * 3))
    assert all(isinstance(a, dict) for a in answers)
    assert service.batcher.batches == 3
