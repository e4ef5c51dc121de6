"""What a page shows a reader, as text: for the check that a Chinese page has no English left.

Visible text is every text node and the attributes a reader meets (``aria-label``, ``title``,
``placeholder``, ``alt``, a button's ``value``) outside ``<script>``, ``<style>`` and any element
marked ``translate="no"`` (data: names, refs, numbers, codes — HTML's own way of saying "not to
be translated")."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Latin words a Chinese page may show: the product's name and abbreviations Chinese back
# offices write in Latin letters too.
ALLOWED = frozenset({"Arrears", "API", "OpenAPI", "SMS", "CSV", "ID", "IVR", "PTP", "RPC", "DPD"})
WORD = re.compile(r"[A-Za-z]{2,}")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
_READ_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt")


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, hidden from the check)
        self.texts: list[str] = []

    def _hidden(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        hidden = (
            self._hidden()
            or tag in ("script", "style", "template")
            or values.get("translate") == "no"
        )
        if not hidden:
            for name in _READ_ATTRIBUTES:
                if values.get(name):
                    self.texts.append(str(values[name]))
            if (
                tag == "input"
                and values.get("type") in ("submit", "button")
                and values.get("value")
            ):
                self.texts.append(str(values["value"]))
        if tag not in _VOID:
            self.stack.append((tag, hidden))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        if not self._hidden() and data.strip():
            self.texts.append(data.strip())


def visible_texts(html: str) -> list[str]:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.texts


def english_left(html: str) -> list[str]:
    """The visible texts of a page that still hold English words (an untranslated string)."""
    return [
        text
        for text in visible_texts(html)
        if any(word not in ALLOWED for word in WORD.findall(text))
    ]
