"""A message's HTML made safe to show in the webmail's reading view (nh3, the Python binding of
the Rust ammonia sanitiser), with remote images held back until the reader asks for them.

What stays: the formatting mail uses (text, lists, tables with their layout attributes, fonts,
colours, links, images), inline ``style`` attributes filtered to properties that cannot fetch
anything (no ``url()``-taking property: background, list-style-image, border-image, content,
cursor ...). What goes: scripts, event handlers, ``javascript:`` and other active URLs, forms,
frames, objects, ``<style>`` and ``<title>`` with their content (a style sheet may fetch and could
restyle the webmail's own page around it), ``<meta>``/``<base>``/``<link>``, classes and ids.

Images: ``cid:`` references become the part's download URL (``part_url``), ``data:`` images
stay, and remote (http/https) ones are kept only when ``remote_images`` is true; otherwise their
``src`` is dropped and counted, so the page can offer "show images". The reading view's own CSP
(``page_headers``) is the second wall: the sanitised document is shown in a sandboxed frame whose
policy allows remote images only when asked, so even a URL missed here fetches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import nh3

__all__ = ["SafeHtml", "sanitize_message_html"]

_TAGS = frozenset(nh3.ALLOWED_TAGS) | {"font", "center", "big"}
# Removed with their content, not only their tags.
_DROPPED_WITH_CONTENT = frozenset({"script", "style", "title", "template", "textarea", "select", "noembed"})
_LAYOUT = {"align", "valign", "width", "height", "bgcolor", "border", "cellpadding", "cellspacing"}
_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"style", "dir", "lang", "title"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height", "align", "border"},
    "font": {"color", "face", "size"},
    "table": _LAYOUT | {"summary"},
    "td": _LAYOUT | {"colspan", "rowspan", "nowrap"},
    "th": _LAYOUT | {"colspan", "rowspan", "nowrap", "scope"},
    "tr": _LAYOUT,
    "tbody": _LAYOUT,
    "thead": _LAYOUT,
    "tfoot": _LAYOUT,
    "col": _LAYOUT | {"span"},
    "colgroup": _LAYOUT | {"span"},
    "div": {"align"},
    "p": {"align"},
    "hr": {"align", "width", "size", "noshade"},
    "ol": {"start", "type"},
    "ul": {"type"},
    "li": {"value"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"datetime"},
    "ins": {"datetime"},
    "time": {"datetime"},
}
# CSS properties none of whose values loads a resource.
_STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "opacity",
        "font", "font-family", "font-size", "font-style", "font-weight", "font-variant", "line-height",
        "letter-spacing", "word-spacing", "white-space", "word-break", "overflow-wrap", "word-wrap",
        "text-align", "text-decoration", "text-decoration-color", "text-decoration-line",
        "text-decoration-style", "text-indent", "text-transform", "vertical-align", "direction",
        "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
        "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
        "border", "border-top", "border-right", "border-bottom", "border-left", "border-color",
        "border-style", "border-width", "border-radius", "border-collapse", "border-spacing",
        "width", "height", "min-width", "max-width", "min-height", "max-height",
        "display", "float", "clear", "overflow", "table-layout", "list-style-type",
        "list-style-position",
    }
)  # fmt: skip
_LINK_SCHEMES = {"http", "https", "mailto", "tel"}
# The CSS functions a kept declaration may call (colours); any other (url, image-set, expression,
# var ...) drops its declaration.
_CSS_FUNCTION = re.compile(r"([A-Za-z-]*)\s*\(")
_CSS_FUNCTIONS = frozenset({"rgb", "rgba", "hsl", "hsla"})
_DATA_IMAGE = re.compile(r"data:image/(?:png|gif|jpeg|webp|bmp);base64,[A-Za-z0-9+/=\s]*\Z", re.IGNORECASE)


@dataclass(frozen=True)
class SafeHtml:
    html: str
    remote_images: int  # remote images held back (0 when they were allowed)


def sanitize_message_html(
    html: str, *, remote_images: bool = False, part_url: Callable[[str], str | None] = lambda cid: None
) -> SafeHtml:
    """``html`` (a text/html part, decoded) as a safe fragment; ``part_url`` maps a Content-ID
    (without angle brackets) to the URL of that part, None if the message has no such part."""
    held = 0

    def attribute(tag: str, name: str, value: str) -> str | None:
        nonlocal held
        if tag == "img" and name == "src":
            target = value.strip()
            lowered = target.lower()
            if lowered.startswith("cid:"):
                return part_url(target[4:].strip("<>"))
            if lowered.startswith("data:"):
                return target if _DATA_IMAGE.match(target) else None
            if lowered.startswith(("http://", "https://", "//")):
                if remote_images:
                    return target
                held += 1
                return None
            return None  # a relative or other URL: nothing of ours to resolve it against
        if name == "style":
            return _inert_style(value)
        if tag == "a" and name == "href":
            scheme = value.strip().split(":", 1)[0].lower() if ":" in value else ""
            return value if scheme in _LINK_SCHEMES else None
        return value

    cleaned = nh3.clean(
        html,
        tags=set(_TAGS),
        clean_content_tags=set(_DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        attribute_filter=attribute,
        url_schemes=_LINK_SCHEMES | {"cid", "data"},
        filter_style_properties=set(_STYLE_PROPERTIES),
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )
    return SafeHtml(cleaned, held)


def _inert_style(value: str) -> str | None:
    kept = [
        declaration
        for declaration in value.split(";")
        if all(function.lower() in _CSS_FUNCTIONS for function in _CSS_FUNCTION.findall(declaration))
        and "\\" not in declaration  # CSS escapes could spell a function name past the check
    ]
    return ";".join(kept) or None
