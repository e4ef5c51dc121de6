"""Rendering what we send: SMS text, call scripts (TwiML) and letters (HTML, and PDF from it).

Templates live in ``templates/{sms,voice,letters}/LOCALE/`` (zh-CN and en). The SMS footer is
the compliance profile's and is passed in by the caller; the guard checks the rendered text
for it, so a template that drops it is blocked rather than sent.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
LOCALES = ("zh-CN", "en")
# PDF readers carry these CJK fonts; a letter needs no font file of ours (xhtml2pdf/ReportLab).
FONTS = {"zh-CN": "STSong-Light", "en": "Helvetica"}


def locale_for(locale: str | None) -> str:
    """The template locale for a borrower's locale: zh-* → zh-CN, anything else → en."""
    return "zh-CN" if (locale or "").lower().startswith("zh") else "en"


@cache
def _environment(kind: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR / kind),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


def has_template(kind: str, template: str, locale: str) -> bool:
    suffix = {"sms": "txt", "voice": "xml", "letters": "html"}[kind]
    return (TEMPLATES_DIR / kind / locale_for(locale) / f"{template}.{suffix}").is_file()


def render_sms(template: str, locale: str, context: Mapping[str, Any]) -> str:
    return _environment("sms").get_template(f"{locale_for(locale)}/{template}.txt").render(context)


def render_voice(template: str, locale: str, context: Mapping[str, Any]) -> str:
    name = f"{locale_for(locale)}/{template}.xml"
    return _environment("voice").get_template(name).render(context)


def render_letter(template: str, locale: str, context: Mapping[str, Any]) -> str:
    chosen = locale_for(locale)
    page = _environment("letters").get_template(f"{chosen}/{template}.html")
    return page.render({**context, "locale": chosen, "font": FONTS[chosen]})


def letter_pdf(html: str) -> bytes:
    """The letter as PDF (A4). Raises ValueError when the HTML cannot be laid out."""
    from xhtml2pdf import pisa

    out = io.BytesIO()
    status = pisa.CreatePDF(html, dest=out, encoding="utf-8")
    if status.err:
        raise ValueError(f"the letter could not be rendered as PDF ({status.err} errors)")
    return out.getvalue()
