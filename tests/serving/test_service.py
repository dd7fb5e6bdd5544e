"""The service's own logic on a stand-in model (no weights): micro-batches, the result cache, the
busy answer, dropped clients, per-image failures, upload and URL checks. The real model's batches
are checked in test_batching.py and the API in test_api.py."""

import asyncio
import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from captioner.runtime.options import CaptionOptions
from captioner.errors import ImageError
from captioner.runtime.model.result import CaptionResult
from captioner.serving.refusals import RequestRefused
from captioner.serving.service import CaptionService, ClientGone, MicroBatcher, ResultCache, ServeSettings
import captioner.serving.service as service_module
from captioner.runtime.data.fetch import FetchError, FetchPolicy
from captioner.serving.refusals import status_of


class FakeCaptioner:
    """Captions an image with its size and the options; images 13 pixels wide fail."""

    model_path = Path("/models/tiny-model.pt")
    encoder = SimpleNamespace(name="fake-encoder")

    def __init__(self):
        self.calls = []

    def caption_isolated(self, images, options):
        self.calls.append(([image.size for image in images], options.beam_size, options.max_length, options.grounding,
                           options.attention))
        return [ImageError(f"cannot caption width {image.width}") if image.width == 13 else
                CaptionResult(f"{image.width}x{image.height} beam {options.beam_size} len {options.max_length} "
                              f"g {options.grounding}", model="tiny-model", encoder="fake-encoder",
                              image={"width": image.width, "height": image.height},
                              timings_ms={"encode": 1.5, "decode": 2.5})
                for image in images]


def _png(width=20, height=10, colour=(1, 2, 3)) -> bytes:
    data = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(data, "PNG")
    return data.getvalue()


def _service(**settings) -> CaptionService:
    return CaptionService(FakeCaptioner(), ServeSettings(**settings))


def test_an_answer_holds_the_caption_the_model_and_the_image_then_comes_from_the_cache():
    service = _service(batch_wait_ms=0)
    data = _png(20, 10)

    async def twice():
        options = CaptionOptions(beam_size=3, max_length=16, grounding=True)
        return await service.caption(data, options), await service.caption(data, options)

    first, second = asyncio.run(twice())
    assert first["caption"] == "20x10 beam 3 len 16 g True" and first["alternatives"] == []
    assert first["model"] == "tiny-model" and first["encoder"] == "fake-encoder"
    assert first["image"] == {"width": 20, "height": 10, "bytes": len(data)}
    assert first["cached"] is False and second["cached"] is True and first["error"] is None
    assert set(first["timings_ms"]) == {"decode_image", "queue", "encode", "decode", "total"}
    assert first["timings_ms"]["encode"] == 1.5 and all(v >= 0 for v in first["timings_ms"].values())
    assert {k: v for k, v in second.items() if k not in ("cached", "timings_ms")} == \
        {k: v for k, v in first.items() if k not in ("cached", "timings_ms")}
    assert service.stats == {"computed": 1, "cached": 1, "dropped": 0, "busy": 0}
    assert service.captioner.calls == [([(20, 10)], 3, 16, True, True)]  # once, with the attention maps


def test_other_options_are_other_answers():
    service = _service(batch_wait_ms=0)
    data = _png()

    async def all_options():
        return [(await service.caption(data, CaptionOptions(beam_size=b, max_length=n, grounding=g)))["caption"]
                for b, n, g in
                [(3, 16, True), (1, 16, True), (3, 12, True), (3, 16, False), (3, 16, True)]]

    captions = asyncio.run(all_options())
    assert captions == ["20x10 beam 3 len 16 g True", "20x10 beam 1 len 16 g True", "20x10 beam 3 len 12 g True",
                        "20x10 beam 3 len 16 g False", "20x10 beam 3 len 16 g True"]
    assert service.stats["computed"] == 4 and service.stats["cached"] == 1


def test_a_full_queue_is_busy_with_its_count_and_the_count_returns_to_zero():
    service = _service(max_queue=2, batch_wait_ms=300)  # long enough for both to join one batch, even under load

    async def scenario():
        waiting = [asyncio.ensure_future(service.caption(_png(20 + k), CaptionOptions(beam_size=1, max_length=16))) for k in range(2)]
        await asyncio.sleep(0.02)  # both are decoded and waiting for their batch
        with pytest.raises(RequestRefused) as info:
            await service.caption(_png(30), CaptionOptions(beam_size=1, max_length=16))
        return info.value, await asyncio.gather(*waiting)

    refusal, answers = asyncio.run(scenario())
    assert (str(refusal), refusal.status_code) == ("the server is busy (2 requests waiting): try again shortly", 503)
    assert [a["caption"] for a in answers] == ["20x10 beam 1 len 16 g True", "21x10 beam 1 len 16 g True"]
    assert service.stats == {"computed": 2, "cached": 0, "dropped": 0, "busy": 1} and service.waiting == 0
    [(sizes, *options)] = service.captioner.calls  # one batch, in whichever order the two decodes finished
    assert sorted(sizes) == [(20, 10), (21, 10)] and options == [1, 16, True, True]


def test_a_bad_image_fails_alone_and_leaves_no_one_waiting():
    service = _service(batch_wait_ms=20)

    async def scenario():
        jobs = [service.caption(_png(width), CaptionOptions(beam_size=1, max_length=16)) for width in (12, 13, 14)]
        return await asyncio.gather(*jobs, return_exceptions=True)

    good, bad, also_good = asyncio.run(scenario())
    assert good["caption"].startswith("12x10") and also_good["caption"].startswith("14x10")
    assert isinstance(bad, ImageError) and str(bad) == "cannot caption width 13"
    assert service.waiting == 0 and service.stats["computed"] == 2
    with pytest.raises(ImageError, match="not an image"):
        asyncio.run(service.caption(b"not an image", CaptionOptions(beam_size=1, max_length=16)))
    assert service.waiting == 0


def test_a_client_that_left_is_dropped_before_compute():
    service = _service(batch_wait_ms=0)

    async def gone():
        return True

    with pytest.raises(ClientGone) as info:
        asyncio.run(service.caption(_png(), CaptionOptions(beam_size=1, max_length=16), disconnected=gone))
    assert info.value.status_code == 499 and str(info.value) == "the client closed the request"
    assert service.stats == {"computed": 0, "cached": 0, "dropped": 1, "busy": 0} and service.captioner.calls == []


# ----- the batcher alone -----
def _batcher(max_batch=3, wait_s=0.03, fail=False):
    runs, drops = [], []

    def run_batch(images, options):
        runs.append((list(images), options))
        if fail:
            raise RuntimeError("the model broke")
        return [f"{image}:{options}" if image != "bad" else ValueError(f"bad image {image}") for image in images]

    return MicroBatcher(run_batch, max_batch, wait_s, lambda: drops.append(1)), runs, drops


def test_batches_hold_one_kind_of_options_up_to_the_limit_oldest_first():
    batcher, runs, _ = _batcher(max_batch=3)

    async def scenario():
        jobs = [batcher.submit(image, options) for image, options in
                [("a", 1), ("b", 2), ("c", 1), ("d", 1), ("e", 1), ("f", 2)]]
        return await asyncio.gather(*jobs)

    results = asyncio.run(scenario())
    assert results == ["a:1", "b:2", "c:1", "d:1", "e:1", "f:2"]
    assert runs == [(["a", "c", "d"], 1), (["b", "f"], 2), (["e"], 1)]
    assert batcher.batches == 3 and batcher.batched_jobs == 6 and batcher.pending == []


def test_a_zero_limit_still_batches_one_at_a_time_and_no_wait_means_no_sleep():
    batcher, runs, _ = _batcher(max_batch=0, wait_s=0)

    async def scenario():
        return await asyncio.gather(batcher.submit("a", 1), batcher.submit("b", 1))

    assert asyncio.run(scenario()) == ["a:1", "b:1"] and runs == [(["a"], 1), (["b"], 1)]


def test_the_batch_waits_for_more_only_while_it_is_not_full():
    import time

    batcher, runs, _ = _batcher(max_batch=2, wait_s=5.0)

    async def scenario():
        started = time.monotonic()
        full = await asyncio.gather(batcher.submit("a", 1), batcher.submit("b", 1))
        return full, time.monotonic() - started

    results, took = asyncio.run(scenario())
    assert results == ["a:1", "b:1"] and took < 2.5  # a full batch does not wait


def test_results_and_failures_go_to_their_own_requests():
    batcher, _, _ = _batcher()

    async def scenario():
        return await asyncio.gather(batcher.submit("a", 1), batcher.submit("bad", 1), batcher.submit("c", 1),
                                    return_exceptions=True)

    a, bad, c = asyncio.run(scenario())
    assert (a, c) == ("a:1", "c:1") and isinstance(bad, ValueError) and str(bad) == "bad image bad"


def test_a_batch_that_breaks_fails_each_of_its_requests_and_the_next_batch_runs():
    batcher, runs, _ = _batcher(fail=True)

    async def scenario():
        first = await asyncio.gather(batcher.submit("a", 1), batcher.submit("b", 1), return_exceptions=True)
        batcher.run_batch = lambda images, options: [f"{i}!" for i in images]
        return first, await batcher.submit("c", 1)

    first, after = asyncio.run(scenario())
    assert all(isinstance(e, RuntimeError) and str(e) == "the model broke" for e in first) and after == "c!"
    assert batcher.batches == 2 and batcher.batched_jobs == 3


def test_gone_and_cancelled_requests_are_not_computed():
    batcher, runs, drops = _batcher(max_batch=4, wait_s=0.3)  # not full: it waits, and c is cancelled meanwhile

    async def gone():
        return True

    async def here():
        return False

    async def scenario():
        kept = asyncio.ensure_future(batcher.submit("a", 1, here))
        left = asyncio.ensure_future(batcher.submit("b", 1, gone))
        cancelled = asyncio.ensure_future(batcher.submit("c", 1))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        results = await asyncio.gather(kept, left, cancelled, return_exceptions=True)
        return results

    kept, left, cancelled = asyncio.run(scenario())
    assert kept == "a:1" and isinstance(left, ClientGone) and isinstance(cancelled, asyncio.CancelledError)
    assert runs == [(["a"], 1)] and drops == [1] and batcher.pending == []


def test_a_batcher_serves_a_second_event_loop():
    batcher, runs, _ = _batcher(wait_s=0)
    assert asyncio.run(batcher.submit("a", 1)) == "a:1"
    assert asyncio.run(batcher.submit("b", 2)) == "b:2"  # a new loop (a restarted server): a new worker
    assert runs == [(["a"], 1), (["b"], 2)]


def test_the_result_cache_keeps_the_most_recently_used():
    cache = ResultCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now the most recent
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    cache.put("a", 10)
    cache.put("d", 4)
    assert list(cache.items) == ["a", "d"] and cache.get("a") == 10


# ----- uploads and URLs -----
class _Upload:
    def __init__(self, data):
        self.data, self.asked = data, None

    async def read(self, size):
        self.asked = size
        return self.data[:size]


def test_uploads_up_to_the_limit_are_read_and_one_byte_more_is_413():
    service = _service(max_upload_bytes=100)
    upload = _Upload(b"x" * 100)
    assert asyncio.run(service.read_upload(upload)) == b"x" * 100 and upload.asked == 101  # never more than that
    with pytest.raises(ImageError) as info:
        asyncio.run(service.read_upload(_Upload(b"x" * 101)))
    assert (str(info.value), status_of(info.value)) == ("upload is larger than 100 bytes", 413)


def test_a_url_must_give_an_image_whatever_its_content_type(image_host, flickr_images):
    service = _service(fetch=FetchPolicy(allow_loopback=True))
    assert asyncio.run(service.fetch(f"{image_host}/photo.jpg")) == flickr_images[0].read_bytes()
    assert asyncio.run(service.fetch(f"{image_host}/no-type.jpg")) == flickr_images[0].read_bytes()  # decodable
    page = asyncio.run(service.fetch(f"{image_host}/page.html"))
    assert page.content_type == "text/html"  # fetched, not decoded: decoding happens once, in caption
    decoded = []
    real = service_module.load_image

    def counting(*args, **kwargs):
        decoded.append(1)
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service_module, "load_image", counting)
        with pytest.raises(FetchError) as info:
            asyncio.run(service.caption(page, CaptionOptions(beam_size=1, max_length=16)))
        assert str(info.value) == "the URL did not return an image (content type 'text/html')"
        assert status_of(info.value) == 415 and decoded == [1]
        with pytest.raises(ImageError) as info:  # the same bytes uploaded: the image's fault, not a URL's
            asyncio.run(service.caption(bytes(page), CaptionOptions(beam_size=1, max_length=16)))
        assert status_of(info.value) == 415 and not isinstance(info.value, FetchError)
    with pytest.raises(FetchError, match="loopback"):
        asyncio.run(_service().fetch(f"{image_host}/photo.jpg"))  # the service's policy is the one applied


def _within(seconds, awaitable):
    """Run `awaitable`, failing (not hanging) if it takes longer than `seconds`."""
    return asyncio.run(asyncio.wait_for(awaitable, seconds))


def test_timings_are_milliseconds_to_a_tenth(monkeypatch):
    import captioner.serving.service as service_module

    ticks = iter([10.0, 10.25006, 10.50012, 10.75018])  # started, decoded, after the batch, answered

    monkeypatch.setattr(service_module, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    answer = _within(10, _service(batch_wait_ms=0).caption(_png(), CaptionOptions(beam_size=1, max_length=16)))
    assert answer["timings_ms"] == {"decode_image": 250.1, "queue": 250.1, "encode": 1.5, "decode": 2.5, "total": 750.2}


def test_counters_count_every_event():
    service = _service(batch_wait_ms=0, max_queue=0)

    async def gone():
        return True

    for _ in range(2):
        with pytest.raises(RequestRefused):
            _within(10, service.caption(_png(), CaptionOptions(beam_size=1, max_length=16)))  # a queue of none: always busy
    service.settings.max_queue = 8
    for _ in range(2):
        with pytest.raises(ClientGone):
            _within(10, service.caption(_png(), CaptionOptions(beam_size=1, max_length=16), disconnected=gone))
    _within(10, service.caption(_png(), CaptionOptions(beam_size=1, max_length=16)))
    for _ in range(2):
        _within(10, service.caption(_png(), CaptionOptions(beam_size=1, max_length=16)))
    assert service.stats == {"computed": 1, "cached": 2, "dropped": 2, "busy": 2}


def test_the_pixel_limit_applies_to_uploads_and_to_urls(image_host):
    service = _service(max_pixels=100, fetch=FetchPolicy(allow_loopback=True))
    with pytest.raises(ImageError) as info:
        _within(10, service.caption(_png(20, 10), CaptionOptions(beam_size=1, max_length=16)))
    assert status_of(info.value) == 413
    fetched = _within(20, service.fetch(f"{image_host}/no-type.jpg"))
    with pytest.raises(ImageError, match="too large") as info:  # an image, but over the limit: the image's 413
        _within(20, service.caption(fetched, CaptionOptions(beam_size=1, max_length=16)))
    assert status_of(info.value) == 413 and not isinstance(info.value, FetchError)
    other = _service(fetch=FetchPolicy(allow_loopback=True))
    with pytest.raises(FetchError) as info:
        _within(20, other.caption(_within(20, other.fetch(f"{image_host}/no-type-text")), CaptionOptions(beam_size=1, max_length=16)))
    assert (str(info.value), status_of(info.value)) == ("the URL did not return an image (content type 'none')", 415)


def test_url_fetches_are_bounded_by_the_service_limiter(monkeypatch):
    import threading
    import time

    import captioner.serving.service as service_module

    running, peak, lock = [0], [0], threading.Lock()

    def slow_fetch(url, policy):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return _png(), "image/png"

    monkeypatch.setattr(service_module, "fetch_image_bytes", slow_fetch)
    service = _service(max_fetches=2)
    assert service.fetch_limiter.total_tokens == 2 and service.picture_limiter.total_tokens == 2

    async def five():
        return await asyncio.gather(*[service.fetch(f"http://example.com/{k}.png") for k in range(5)])

    assert len(_within(10, five())) == 5 and peak[0] == 2  # never more than max_fetches threads at once


def test_a_batch_of_only_gone_clients_leaves_the_worker_serving_the_rest():
    batcher, runs, drops = _batcher(max_batch=4, wait_s=0.05)

    async def gone():
        return True

    async def scenario():
        return await asyncio.gather(batcher.submit("b", 1, gone), batcher.submit("c", 2), return_exceptions=True)

    left, other = _within(5, scenario())  # b's batch has no one left to compute for; c's comes next
    assert isinstance(left, ClientGone) and other == "c:2" and runs == [(["c"], 2)] and drops == [1]


def test_a_cancelled_request_leaves_the_queue_at_once_and_does_not_stop_its_batch():
    batcher, runs, _ = _batcher(max_batch=4, wait_s=0.3)

    async def scenario():
        cancelled = asyncio.ensure_future(batcher.submit("c", 1))
        kept = asyncio.ensure_future(batcher.submit("a", 1))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        await asyncio.sleep(0)
        waiting = [job.image for job in batcher.pending]
        return waiting, await kept

    waiting, kept = _within(5, scenario())
    assert waiting == ["a"] and kept == "a:1" and runs == [(["a"], 1)]


def test_a_broken_batch_is_logged(caplog):
    batcher, _, _ = _batcher(fail=True, wait_s=0)
    with caplog.at_level("ERROR", logger="captioner.serving.service"):
        with pytest.raises(RuntimeError):
            _within(5, batcher.submit("a", 1))
    assert [r.getMessage() for r in caplog.records] == ["caption batch failed"]
