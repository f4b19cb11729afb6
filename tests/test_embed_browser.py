"""An embedded form in Chromium, inside a page of another site (a second local server),
with third-party cookies blocked: it submits, streams its answer and sizes its frame; a
site not on the allowlist can't frame it. Keyboard only, both languages, axe-core on
the embedded pages."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jobs.models import Job

from .conftest import CHROMIUM_ARGS, assert_accessible, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TERMINAL = (
    "() => ['succeeded', 'failed', 'cancelled'].includes("
    "document.querySelector('#job-summary')?.dataset.jobStatus)"
)
TEXT = {
    "en-US": {"generate": "Generate", "succeeded": "Succeeded"},
    "pt-BR": {"generate": "Gerar", "succeeded": "Concluído"},
}
# Set from the frame's document: only a browser that lets a third-party frame keep
# cookies keeps it (SameSite=None needs Secure, which loopback http allows).
COOKIE_PROBE = (
    "() => { document.cookie = 'probe=1; SameSite=None; Secure; Path=/'; "
    "return document.cookie.includes('probe=1'); }"
)


@dataclass
class HostSite:
    """Another site's server: it serves the pages put in ``pages``, by path."""

    port: int
    pages: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def host_site() -> Iterator[HostSite]:
    site = HostSite(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = site.pages.get(self.path.split("?")[0])
            if body is None:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def cookieless_context(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Chromium profile whose setting blocks third-party cookies: the preference behind
    chrome://settings/cookies' "Block third-party cookies" (``profile.cookie_controls_mode``
    1, and the older ``profile.block_third_party_cookies``), written in the profile's
    Preferences file before Chromium starts, as a person's choice is stored."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    (profile / "Default").mkdir()
    (profile / "Default" / "Preferences").write_text(
        '{"profile": {"cookie_controls_mode": 1, "block_third_party_cookies": true}}'
    )
    # "localhost" as the host site's name, resolved to the loopback address its server
    # listens on: a site other than 127.0.0.1 (the frame's), so the frame is third-party.
    args = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP localhost 127.0.0.1"]
    context = browser.browser_type.launch_persistent_context(
        str(profile), executable_path=shutil.which("chromium"), args=args, headless=True
    )
    yield context
    context.close()


def host_page(live_server_url: str, slug: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Another site</title><link rel="icon" href="data:,"></head>
<body><main><h1>A shop</h1>
<iframe id="embed" src="{live_server_url}/t/{slug}/embed/?topic=trams" title="Haiku form"
  data-promptlab-embed style="width: 100%; height: 150px; border: 0"
  onload="window.frameLoads = (window.frameLoads || 0) + 1"></iframe>
<script src="{live_server_url}/static/js/embed-parent.js" async></script>
</main></body></html>"""


BODY_HEIGHT = "() => Math.ceil(document.body.getBoundingClientRect().height)"


def frame_height(page: Any) -> float:
    return page.evaluate("() => document.getElementById('embed').getBoundingClientRect().height")


def embedded_frame(page: Any, live_server_url: str) -> Any:
    return wait_until(lambda: next((f for f in page.frames if f.url.startswith(live_server_url)), None))


def tab_into_frame(page: Any, frame: Any, matches: str, *, limit: int = 30) -> None:
    """Press Tab (on the host page) until the frame's focused element satisfies ``matches``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if frame.evaluate(
            "() => { const el = document.activeElement; "
            f"return document.hasFocus() && !!el && ({matches}); }}"
        ):
            return
    raise AssertionError(f"Tab never reached an element where {matches}")


@pytest.fixture
def embeddable_template(make_template: Any, host_site: HostSite) -> Any:
    template = make_template()
    template.embed_origins = [f"http://localhost:{host_site.port}"]
    template.save()
    return template


def test_third_party_cookies_are_really_blocked_in_the_frame(
    cookieless_context: Any, host_site: HostSite, live_server_url: str, embeddable_template: Any
) -> None:
    """The control: the same page keeps the cookie when it is the top-level page (first
    party), not inside the other site's page. (With ``cookie_controls_mode`` 0 instead, the
    framed page keeps it too: the preference is what blocks it.)"""
    host_site.pages["/host.html"] = host_page(live_server_url, embeddable_template.slug)
    page = cookieless_context.new_page()
    try:
        page.goto(f"{live_server_url}/t/{embeddable_template.slug}/embed/")
        assert page.evaluate(COOKIE_PROBE) is True
        cookieless_context.clear_cookies()
        page.goto(f"http://localhost:{host_site.port}/host.html")
        assert embedded_frame(page, live_server_url).evaluate(COOKIE_PROBE) is False
    finally:
        page.close()


def submit_in_frame(page: Any, frame: Any, text: dict[str, str]) -> None:
    """By keyboard from the host page: add to the topic the link filled, then Generate."""
    tab_into_frame(page, frame, "el.id === 'id_topic'")
    page.keyboard.press("End")  # Tab selected the link's value: add to it
    page.keyboard.type(" and buses")
    tab_into_frame(page, frame, f"el.type === 'submit' && el.textContent.trim() === {text['generate']!r}")
    page.keyboard.press("Enter")
    frame.wait_for_url("**/jobs/embedded/**")
    frame.wait_for_function(TERMINAL)
    assert frame.get_attribute("#job-summary", "data-job-status") == "succeeded"
    assert text["succeeded"] in frame.text_content("#job-summary")
    assert "trams and buses" in frame.text_content("#job-output")


def test_an_embedded_form_runs_and_streams_without_cookies(
    cookieless_context: Any, host_site: HostSite, live_server_url: str, embeddable_template: Any
) -> None:
    host_site.pages["/host.html"] = host_page(live_server_url, embeddable_template.slug)
    page = cookieless_context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda response: response.status >= 400 and errors.append(f"{response.status} {response.url}"),
    )
    try:
        page.goto(f"http://localhost:{host_site.port}/host.html")
        frame = embedded_frame(page, live_server_url)
        frame.wait_for_selector("[data-embed-form]")
        assert frame.evaluate(COOKIE_PROBE) is False  # no cookie, session or CSRF, reaches the frame
        assert_accessible(frame)
        assert frame.input_value("#id_topic") == "trams"  # filled from the frame's link
        # The frame takes its content's height (embed.js → postMessage → embed-parent.js).
        wait_until(lambda: abs(frame_height(page) - frame.evaluate(BODY_HEIGHT)) <= 1)

        submit_in_frame(page, frame, TEXT["en-US"])  # streamed from the provider
        assert_accessible(frame)
        job = Job.objects.get()
        assert job.owner is None and job.session_key == "" and job.inputs["topic"] == "trams and buses"
        assert not cookieless_context.cookies(live_server_url), "the frame was given a cookie"
        # The job page sized its frame too: as tall as its content.
        wait_until(lambda: abs(frame_height(page) - frame.evaluate(BODY_HEIGHT)) <= 1)

        # In Portuguese (the frame follows the browser's languages: it has no cookie to
        # remember a choice); the same inputs are answered from the first run's result.
        page.set_extra_http_headers({"Accept-Language": "pt-BR"})
        page.reload()
        frame = embedded_frame(page, live_server_url)
        frame.wait_for_selector("[data-embed-form]")
        assert frame.evaluate("() => document.documentElement.lang") == "pt-br"
        assert_accessible(frame)
        submit_in_frame(page, frame, TEXT["pt-BR"])
        assert "Respondido" in frame.text_content("#job-summary")
        assert_accessible(frame)
    finally:
        page.close()
    assert not errors, f"browser console errors: {errors}"


def test_a_site_not_on_the_allowlist_cannot_frame_the_form(
    cookieless_context: Any, host_site: HostSite, live_server_url: str, embeddable_template: Any
) -> None:
    host_site.pages["/host.html"] = host_page(live_server_url, embeddable_template.slug)
    page = cookieless_context.new_page()
    refusals: list[str] = []
    page.on("console", lambda message: "frame-ancestors" in message.text and refusals.append(message.text))
    try:
        # The same page from another origin (127.0.0.1:port is not http://localhost:port).
        page.goto(f"http://127.0.0.1:{host_site.port}/host.html")
        wait_until(lambda: page.evaluate("() => window.frameLoads || 0") >= 1)
        frame = page.frames[1]
        assert not frame.evaluate("() => !!document.querySelector('[data-embed-form]')")
        wait_until(lambda: refusals)
        assert f"frame-ancestors http://localhost:{host_site.port}" in refusals[0]
        assert page.evaluate("() => document.getElementById('embed').style.height") == "150px"
    finally:
        page.close()
