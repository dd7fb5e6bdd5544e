"""End to end in headless Chromium: load the page, upload a Flickr8k photo, see its caption."""

import os
import shutil
import threading
from pathlib import Path

import httpx
import pytest

from captioner.serving.app import create_app
from tests.conftest import needs, running_server

ARTIFACTS = Path(os.environ.get("CAPTIONER_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def live_server():
    from captioner.serving.settings import ServeSettings
    from captioner.runtime.data.fetch import FetchPolicy

    settings = ServeSettings(fetch=FetchPolicy(allow_loopback=True))  # the tests' image host is on loopback
    with running_server(create_app(settings=settings)) as port:
        yield f"http://127.0.0.1:{port}"


def test_concurrent_requests_over_real_http(live_server, flickr_images):
    """Eight uploads at once all succeed, and the health check answers while they run."""
    results, errors = [], []

    def upload(path):
        try:
            r = httpx.post(f"{live_server}/api/caption", files={"file": (path.name, path.read_bytes())}, timeout=60)
            results.append((path, r.status_code, r.json()["caption"]))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(p,)) for p in flickr_images[:4] * 2]
    for t in threads:
        t.start()
    health = httpx.get(f"{live_server}/api/health", timeout=10)
    for t in threads:
        t.join()
    assert health.status_code == 200 and not errors
    assert all(status == 200 and caption for _, status, caption in results) and len(results) == 8
    by_image = {}
    for path, _, caption in results:
        by_image.setdefault(path, set()).add(caption)
    assert all(len(captions) == 1 for captions in by_image.values())  # same image, same caption


@pytest.mark.browser
def test_upload_in_headless_chromium(live_server, image_host, flickr_images, coco_dev):
    needs(CHROMIUM is not None, "Debian's chromium")
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 900, "height": 1000})
        console_errors = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.goto(live_server + "/")
        assert page.title().startswith("captioner")
        page.set_input_files("#file", str(flickr_images[1]))  # the change event submits
        page.wait_for_selector("#result:not([hidden])", timeout=30_000)
        caption = page.inner_text("#caption").strip()
        assert len(caption.split()) >= 3
        assert page.get_attribute("#preview", "alt") == caption
        assert page.locator("#alternatives tbody tr").count() == 5
        page.set_input_files("#file", str(coco_dev / "images" / "000000000285.jpg"))  # a grizzly bear
        expect(page.locator("#caption")).to_contain_text("bear", timeout=30_000)
        assert page.locator("#concept-list li.required").first.inner_text().startswith("bear")
        words = page.inner_text("#caption").split()
        assert page.locator("#heatmap-list canvas").count() == len(words)
        page.set_input_files("#file", str(coco_dev / "images" / "000000000724.jpg"))  # a stop sign (the README's picture)
        expect(page.locator("#caption")).to_contain_text("stop sign", timeout=30_000)
        expect(page.locator("#concept-rules")).to_contain_text("written by the decoder that has also seen COCO")
        expect(page.locator(".legend")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "web-page.png"), full_page=True)
        # a file is chosen; then a URL typed and Enter pressed captions the URL, and its photo shows under the CSP
        page.fill("#url", f"{image_host}/photo.jpg")
        page.press("#url", "Enter")
        expect(page.locator("#preview")).to_have_attribute("src", f"{image_host}/photo.jpg", timeout=30_000)
        page.wait_for_function("document.getElementById('preview').naturalWidth > 0", timeout=30_000)
        expect(page.locator("#caption")).not_to_contain_text("bear", timeout=30_000)
        assert page.locator("#heatmap-list canvas").count() == len(page.inner_text("#caption").split())
        page.fill("#url", "http://10.1.2.3/secret.jpg")
        page.set_input_files("#file", [])
        page.click("#submit")
        page.wait_for_selector("#status .error", timeout=30_000)
        assert "private" in page.inner_text("#status")
        assert not [e for e in console_errors if "Content Security Policy" in e]  # the page works under its CSP
        browser.close()
    assert (ARTIFACTS / "web-page.png").stat().st_size > 10_000
