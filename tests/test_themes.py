"""Themes: WCAG contrast on save, the generated stylesheet, staff-only custom CSS, logos, CSP."""

from __future__ import annotations

import hashlib
import re
import struct
import zlib

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from templates_app.models import Template, ThemeLogo
from templates_app.theme import check_custom_css, contrast_ratio, parse_theme, relative_luminance

from .conftest import assert_accessible
from .editor_helpers import editor_post

pytestmark = pytest.mark.django_db

GOOD_THEME = {
    "primary": "#0b5394",
    "primary_text": "#ffffff",
    "background": "#fffdf5",
    "text": "#222222",
    "font": "serif",
    "radius": 12,
    "dark": {"primary": "#9fc5e8", "primary_text": "#0b1220", "background": "#101418", "text": "#eeeeee"},
}


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


# --- The WCAG formula -------------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "two", "expected"),
    [
        ("#000000", "#ffffff", 21.0),  # the maximum
        ("#ffffff", "#ffffff", 1.0),  # the minimum
        ("#767676", "#ffffff", 4.54),  # the lightest grey that passes AA on white
        ("#777777", "#ffffff", 4.48),  # one step lighter fails
        ("#ff0000", "#ffffff", 4.0),
        ("#0000ff", "#ffffff", 8.59),
        ("#00ff00", "#000000", 15.3),
        ("#fff", "#000", 21.0),  # short form
    ],
)
def test_contrast_ratio_matches_known_pairs(one: str, two: str, expected: float) -> None:
    assert contrast_ratio(one, two) == pytest.approx(expected, abs=0.01)
    assert contrast_ratio(two, one) == contrast_ratio(one, two)


def test_relative_luminance_of_primaries() -> None:
    assert relative_luminance("#ffffff") == pytest.approx(1.0)
    assert relative_luminance("#000000") == 0
    assert relative_luminance("#ff0000") == pytest.approx(0.2126)
    assert relative_luminance("#00ff00") == pytest.approx(0.7152)
    assert relative_luminance("#0000ff") == pytest.approx(0.0722)


# --- Refused on save --------------------------------------------------------------


def test_low_contrast_text_is_refused_with_the_measured_ratio(make_template) -> None:
    template = make_template()
    with pytest.raises(ValidationError) as caught:
        template.create_version(
            body="Hi {{ topic }} {{ count }}",
            parameters=template.published_version.parameters,
            theme={"text": "#777777", "background": "#ffffff"},
        )
    message = " ".join(caught.value.message_dict["theme"])
    assert "Text colour #777777 on background #ffffff" in message
    assert "4.47:1" in message and "4.5:1" in message
    assert template.versions.count() == 1


def test_low_contrast_button_is_refused_with_the_measured_ratio() -> None:
    with pytest.raises(ValueError, match=r"Button text colour #ffffff on button colour #ffcc00.*1\.\d\d:1"):
        parse_theme({"primary": "#ffcc00", "primary_text": "#ffffff", "text": "#000000"})


def test_the_dark_palette_is_checked_too() -> None:
    with pytest.raises(ValueError, match=r"\(dark\) has a contrast of"):
        parse_theme({"dark": {"background": "#101418", "text": "#333333"}})


def test_a_bad_font_and_radius_are_refused_by_name() -> None:
    with pytest.raises(ValueError) as caught:
        parse_theme({"font": "Arial; } body { color: red", "radius": 99, "colour": "#fff"})
    text = str(caught.value)
    assert "Font" in text and "Corner radius" in text and "colour" in text


def test_a_colour_or_logo_with_a_trailing_newline_is_refused() -> None:
    # "$" in a pattern matches before a final newline: "#1d4ed8\n" was stored as a colour.
    with pytest.raises(ValueError) as caught:
        parse_theme({"primary": "#1d4ed8\n", "logo": "a" * 64 + "\n"})
    text = str(caught.value)
    assert "Primary colour" in text and "Logo" in text


def test_a_font_stack_of_family_names_is_accepted() -> None:
    theme = parse_theme({"font": '"Source Serif Pro", Georgia'})
    assert theme is not None and theme.font == '"Source Serif Pro", Georgia, sans-serif'


@pytest.mark.parametrize(
    "css",
    [
        "} body { display: none }",
        "p { color: red } }",
        "p { color: red",
        "@import 'x.css';",
        "p { background: url(https://evil.example/x.png) }",
        "p { background: u\\rl(x) }",
        "p::before { content: '} body {\n }",  # a string never closed
        "/* open comment",
        # "/*" and "*/" inside strings are not comments: these close @scope early.
        'a{content:"/*"} } body{display:none} header{background:url(x)} a{content:"*/"}',
        "a{content:'/*'} } body{display:none} a{content:'*/'}",
        'a{content:"/*"} } body{display:none} a{content:"*/"}',
        'a{content:"/*"} @import \'x.css\'; a{content:"*/"}',
        "a { color: red } /* } */ }",
        "p { background: url/**/(x) }",
    ],
)
def test_custom_css_that_could_escape_its_scope_or_load_things_is_refused(css: str) -> None:
    assert check_custom_css(css), css


def test_harmless_custom_css_passes() -> None:
    assert check_custom_css("h1 { letter-spacing: 0.02em; }\n.field { margin-bottom: 2rem }") == []
    assert check_custom_css("p::before { content: '{not a brace}' }") == []
    assert check_custom_css(".choices > div { gap: 1rem }") == []
    assert check_custom_css("/* a comment with a quote ' and } */ p { color: red }") == []
    assert check_custom_css('p::before { content: "/* not a comment */" }') == []


# --- Staff-only custom CSS --------------------------------------------------------


def test_non_staff_cannot_set_custom_css(make_template, owner) -> None:
    template = make_template(owner=owner)
    version = template.published_version
    with pytest.raises(ValidationError) as caught:
        template.create_version(
            author=owner,
            body=version.body,
            parameters=version.parameters,
            theme={"custom_css": "h1 { color: red }"},
        )
    assert "Only staff can add or change custom CSS." in caught.value.message_dict["theme"]


def test_staff_can_set_custom_css_and_the_owner_may_keep_it(make_template, owner, staff) -> None:
    template = make_template(owner=owner)
    version = template.published_version
    theme = {**GOOD_THEME, "custom_css": "h1 { letter-spacing: 0.05em }"}
    template.create_version(author=staff, body=version.body, parameters=version.parameters, theme=theme)
    # The owner's next edit carries the staff CSS unchanged: allowed.
    body = "Changed {{ topic }} {{ count }}"
    kept = template.create_version(author=owner, body=body, parameters=version.parameters)
    assert kept.theme["custom_css"] == "h1 { letter-spacing: 0.05em }"


def test_the_editor_hides_custom_css_from_a_non_staff_owner_and_ignores_it(
    client: Client, make_template, owner, staff
) -> None:
    template = make_template(owner=owner)
    client.force_login(owner)
    assert 'name="editor-custom_css"' not in client.get(f"/t/{template.slug}/edit/").content.decode()
    data = editor_post(template, **{"editor-custom_css": "h1 { color: red }"})
    client.post(f"/t/{template.slug}/edit/", data)
    assert template.versions.count() == 1  # nothing else changed: no version, no CSS
    client.force_login(staff)
    assert 'name="editor-custom_css"' in client.get(f"/t/{template.slug}/edit/").content.decode()


def test_every_door_applies_one_staff_only_rule_for_custom_css(
    client: Client, make_template, owner, staff
) -> None:
    """The owner of staff's CSS may keep it or remove it, in the editor as through the model,
    but not change it; an import by someone other than staff drops it."""
    template = make_template(owner=owner)
    version = template.published_version
    theme = {**GOOD_THEME, "custom_css": "h1 { letter-spacing: 0.05em }"}
    template.create_version(author=staff, body=version.body, parameters=version.parameters, theme=theme)
    client.force_login(owner)
    changed = editor_post(template, **{"editor-custom_css": "h1 { color: red }"})
    response = client.post(f"/t/{template.slug}/edit/", changed)
    assert (
        response.status_code == 200
        and "Only staff can add or change custom CSS." in response.content.decode()
    )
    # Kept with white space around it (as a browser may send it back): still the same CSS.
    kept = editor_post(template, **{"editor-custom_css": "\r\nh1 { letter-spacing: 0.05em }\r\n  "})
    assert client.post(f"/t/{template.slug}/edit/", kept | {"editor-radius": "6"}).status_code == 302
    assert template.latest_version.theme["custom_css"] == "h1 { letter-spacing: 0.05em }"
    removed = editor_post(template, **{"editor-custom_css": ""})
    assert client.post(f"/t/{template.slug}/edit/", removed).status_code == 302
    assert "custom_css" not in template.latest_version.theme
    assert template.versions.count() == 4


def test_the_editor_shows_the_contrast_ratio(client: Client, make_template, owner) -> None:
    template = make_template(owner=owner)
    client.force_login(owner)
    low = {"editor-text": "#999999", "editor-background": "#ffffff"}
    response = client.post(f"/t/{template.slug}/edit/", editor_post(template, **low))
    assert response.status_code == 200
    assert "has a contrast of 2.84:1; WCAG AA needs at least 4.5:1" in response.content.decode()
    assert template.versions.count() == 1


# --- Served -----------------------------------------------------------------------


def themed(make_template, owner, staff, theme: dict) -> Template:
    template = make_template(owner=owner)
    version = template.published_version
    template.create_version(author=staff, body=version.body, parameters=version.parameters, theme=theme)
    return template


def test_the_form_page_links_its_versions_stylesheet_and_keeps_the_csp(
    client: Client, make_template, owner, staff
) -> None:
    theme = {**GOOD_THEME, "custom_css": "h1 { letter-spacing: 0.05em }"}
    template = themed(make_template, owner, staff, theme)
    response = client.get(template.get_absolute_url())
    html = response.content.decode()
    csp = response["Content-Security-Policy"]
    assert "style-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, "an inline script"
    assert "<style" not in html and " style=" not in html and " on" + "click=" not in html
    link = re.search(r'<link rel="stylesheet" href="(/t/haiku/v2/theme\.css\?v=([0-9a-f]{16}))">', html)
    assert link, "no theme stylesheet"
    assert 'class="theme-root theme-root--themed"' in html

    css = client.get(link.group(1))
    assert css.status_code == 200 and css["Content-Type"].startswith("text/css")
    assert "immutable" in css["Cache-Control"] and "max-age=31536000" in css["Cache-Control"]
    body = css.content.decode()
    # The address names the content it serves for a year: a changed stylesheet is a new URL.
    assert link.group(2) == hashlib.sha256(css.content).hexdigest()[:16]
    assert "--color-primary: #0b5394;" in body and "--radius: 12px;" in body and "Charter" in body
    assert "@media (prefers-color-scheme: dark)" in body and "--color-bg: #101418;" in body
    assert "@scope (.theme-root) {\nh1 { letter-spacing: 0.05em }\n}" in body


def test_an_unthemed_form_has_no_theme_stylesheet(client: Client, make_template) -> None:
    template = make_template()
    assert "theme.css" not in client.get(template.get_absolute_url()).content.decode()
    assert client.get("/t/haiku/v1/theme.css").status_code == 404


def test_a_private_templates_stylesheet_is_404_to_others(client: Client, make_template, owner, staff) -> None:
    template = themed(make_template, owner, staff, GOOD_THEME)
    template.visibility = "private"
    template.save()
    assert client.get("/t/haiku/v2/theme.css").status_code == 404
    client.force_login(owner)
    response = client.get("/t/haiku/v2/theme.css")
    assert response.status_code == 200 and "private" in response["Cache-Control"]


def test_a_logo_is_uploaded_and_served_by_its_digest(client: Client, make_template, owner) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    template = make_template(owner=owner)
    client.force_login(owner)
    data = editor_post(template)
    data["editor-logo"] = SimpleUploadedFile("logo.png", tiny_png(), content_type="image/png")
    response = client.post(f"/t/{template.slug}/edit/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    template.refresh_from_db()
    digest = template.published_version.theme["logo"]
    assert ThemeLogo.objects.get().digest == digest
    page = client.get(template.get_absolute_url()).content.decode()
    assert f'src="/theme-logos/{digest}"' in page
    logo = client.get(f"/theme-logos/{digest}")
    assert logo["Content-Type"] == "image/png" and "immutable" in logo["Cache-Control"]
    assert logo.content == tiny_png()


def test_an_svg_logo_is_refused(client: Client, make_template, owner) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    template = make_template(owner=owner)
    client.force_login(owner)
    data = editor_post(template)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    data["editor-logo"] = SimpleUploadedFile("logo.svg", svg, content_type="image/svg+xml")
    response = client.post(f"/t/{template.slug}/edit/", data)
    assert response.status_code == 200
    assert "Logo must be a PNG, JPEG or WebP image (SVG is not accepted)." in response.content.decode()
    assert ThemeLogo.objects.count() == 0 and template.versions.count() == 1


def test_a_new_version_without_a_theme_keeps_the_latest_one(make_template, owner, staff) -> None:
    template = themed(make_template, owner, staff, GOOD_THEME)
    version = template.create_version(author=owner, body="New {{ topic }} {{ count }}", parameters=[
        {"name": "topic", "type": "string"}, {"name": "count", "type": "integer"}])  # fmt: skip
    assert version.theme == GOOD_THEME


# --- In Chromium ------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_themed_pages_apply_the_theme_under_the_csp_and_pass_axe(
    signed_in_page, live_server_url: str, make_template, owner, staff, locale: str
) -> None:
    theme = {**GOOD_THEME, "custom_css": "h1 { letter-spacing: 0.05em }"}
    template = themed(make_template, owner, staff, theme)
    add_draft = template.create_version(
        author=owner,
        publish=False,
        body="Draft {{ topic }} {{ count }}",
        parameters=template.published_version.parameters,
    )
    background = "() => getComputedStyle(document.querySelector('.theme-root')).backgroundColor"
    spacing = "() => getComputedStyle(document.querySelector('.theme-root h1')).letterSpacing"

    light = signed_in_page(None, locale, color_scheme="light")
    light.goto(f"{live_server_url}{template.get_absolute_url()}")
    assert light.evaluate(background) == "rgb(255, 253, 245)"
    assert light.evaluate(spacing) != "normal"  # the scoped custom CSS applies
    assert (
        light.evaluate("() => getComputedStyle(document.querySelector('header h1, .brand')).letterSpacing")
        == "normal"
    )
    assert_accessible(light)
    light.locator("form.parameter-form button[type=submit]").click()  # empty: the error state
    light.wait_for_load_state()
    assert light.title().startswith(("Error:", "Erro:"))
    assert_accessible(light)

    dark = signed_in_page(owner, locale, color_scheme="dark")
    dark.goto(f"{live_server_url}{template.get_absolute_url()}")
    assert dark.evaluate(background) == "rgb(16, 20, 24)"
    assert_accessible(dark)
    for path in (f"/t/{template.slug}/history/", f"/t/{template.slug}/v{add_draft.number}/preview/"):
        dark.goto(f"{live_server_url}{path}")
        assert_accessible(dark)
        light_owner = signed_in_page(owner, locale, color_scheme="light")
        light_owner.goto(f"{live_server_url}{path}")
        assert_accessible(light_owner)


def test_a_logo_is_stored_only_when_a_version_is_saved(client: Client, make_template, owner) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    template = make_template(owner=owner)
    client.force_login(owner)
    # A save refused for another reason leaves no logo behind ...
    data = editor_post(template, **{"editor-body": "{{ nope }}"})
    data["editor-logo"] = SimpleUploadedFile("logo.png", tiny_png(), content_type="image/png")
    assert client.post(f"/t/{template.slug}/edit/", data).status_code == 200
    # ... nor does a live preview.
    preview = {"prefix": "editor", "editor-schema_format": "yaml", "editor-schema": ""}
    preview["editor-logo"] = SimpleUploadedFile("logo.png", tiny_png(), content_type="image/png")
    client.post("/editor/preview/", preview, headers={"HX-Request": "true"})
    assert ThemeLogo.objects.count() == 0 and template.versions.count() == 1


def test_a_theme_may_not_name_another_templates_logo(make_template, owner, other_user) -> None:
    theirs = make_template(slug="theirs", owner=other_user)
    from templates_app.theme import logo_digest

    digest = logo_digest(tiny_png())
    theirs.create_version(body="x", parameters=[], theme={"logo": digest}, author=other_user, logo=tiny_png())
    mine = make_template(slug="mine", owner=owner)
    with pytest.raises(ValidationError, match="Logo must be an uploaded image"):
        mine.create_version(body="x", parameters=[], theme={"logo": digest}, author=owner)
    # The template that uses it keeps it in later versions.
    theirs.create_version(body="y", parameters=[], theme={"logo": digest}, author=other_user)


def test_an_oversized_logo_is_refused_before_it_is_read(client: Client, make_template, owner) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from templates_app.theme import MAX_LOGO_BYTES

    template = make_template(owner=owner)
    client.force_login(owner)
    data = editor_post(template)
    data["editor-logo"] = SimpleUploadedFile("logo.png", tiny_png() + b"\0" * MAX_LOGO_BYTES)
    response = client.post(f"/t/{template.slug}/edit/", data)
    assert response.status_code == 200 and "Logo must be at most" in response.content.decode()
    assert ThemeLogo.objects.count() == 0
