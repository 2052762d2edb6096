"""WhatsApp's text formatting as HTML, built from escaped text so a message can never
inject markup: `*bold*`, `_italic_`, `~strike~`, ```` ```mono``` ```` and http(s) links."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_MONO = re.compile(r"```(.+?)```", re.DOTALL)
# A marker hugs its text (no space inside) and is not glued to a word outside, like
# WhatsApp: snake_case_names and 2*3*4 stay as they are.
_STYLES = (
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])"), "strong"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])"), "em"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])"), "s"),
)
# Only http(s): a `javascript:` or `data:` "link" stays text. Runs on escaped text, so the
# URL cannot contain a raw quote or angle bracket.
_LINK = re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


def _links(escaped: str) -> str:
    return _LINK.sub(
        lambda m: (
            f'<a href="{m.group(0)}" target="_blank" rel="noopener noreferrer">{m.group(0)}</a>'
        ),
        escaped,
    )


def whatsapp_html(text: str | None) -> Markup:
    if not text:
        return Markup("")
    escaped = str(escape(text))
    parts: list[str] = []
    last = 0
    for match in _MONO.finditer(escaped):
        parts.append(_inline(escaped[last : match.start()]))
        parts.append(f"<code>{match.group(1)}</code>")
        last = match.end()
    parts.append(_inline(escaped[last:]))
    # Safe: every piece is escaped text plus the tags added above.
    return Markup("".join(parts).replace("\n", "<br>"))  # noqa: S704


def _inline(escaped: str) -> str:
    for pattern, tag in _STYLES:
        escaped = pattern.sub(rf"<{tag}>\1</{tag}>", escaped)
    return _links(escaped)
