"""The pages' languages: Babel catalogs, the locale of a request, and Babel's formatting of
dates, money and numbers for it.

Catalogs live in ``templates/locale/<locale>/LC_MESSAGES/<area>.po`` (one file per area of the
UI, so areas grow without touching each other's files) and are compiled in memory when first
used: there is no ``.mo`` build step to forget. English is the source language (the msgid); the
``en`` catalog exists so that a string is known to be meant for the pages, and may reword one.

``gettext`` reads the locale of the page being rendered from a context variable that
:func:`activate` sets, so Python code that builds a message for a page (a form error, a KPI's
definition) translates it the same way a template does.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from babel import dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy, Translations

# The pages' languages: the web's spelling (BCP 47) and Babel's (the catalog folder).
LOCALES: dict[str, str] = {"en": "en", "zh-CN": "zh_CN"}
DEFAULT_LOCALE = "en"
COOKIE = "arrears_lang"  # an anonymous visitor's choice (the login page)

_current: contextvars.ContextVar[str] = contextvars.ContextVar("ui_locale", default=DEFAULT_LOCALE)


def catalog_files(locale: str) -> Iterator[Any]:
    """The ``.po`` files of one locale (Babel's spelling), every area's."""
    folder = resources.files("templates").joinpath("locale", locale, "LC_MESSAGES")
    if folder.is_dir():
        yield from sorted(
            (entry for entry in folder.iterdir() if entry.name.endswith(".po")),
            key=lambda entry: entry.name,
        )


@cache
def translations(locale: str) -> Translations:
    """Every area's catalog of ``locale`` (the web's spelling) merged, compiled in memory."""
    merged = Translations()
    for entry in catalog_files(LOCALES[locale]):
        with entry.open("rb") as source:
            catalog = read_po(source, locale=LOCALES[locale])
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        merged.merge(Translations(compiled))
    return merged


def negotiate(chosen: str | None, cookie: str | None, accept_language: str) -> str:
    """The page language: the user's saved choice, else the visitor's cookie, else the best
    match of the browser's Accept-Language, else English."""
    for candidate in (chosen, cookie):
        if candidate in LOCALES:
            return candidate
    wanted = []
    for position, part in enumerate(accept_language.split(",")[:32]):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        if tag and tag != "*":
            wanted.append((-weight, position, tag.lower().replace("_", "-")))
    # The browser's order by weight; a language we have in another script or region (zh-TW,
    # en-GB) is nearer to its reader than the default.
    for _, _, tag in sorted(wanted):
        for web_name in LOCALES:
            if tag == web_name.lower():
                return web_name
        for web_name in LOCALES:
            if tag.split("-")[0] == web_name.lower().split("-")[0]:
                return web_name
    return DEFAULT_LOCALE


def activate(locale: str) -> contextvars.Token[str]:
    """Make ``locale`` the language of what is rendered from now on in this context."""
    return _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def deactivate(token: contextvars.Token[str]) -> None:
    _current.reset(token)


def current_locale() -> str:
    return _current.get()


def gettext(message: str, **variables: Any) -> str:
    """``message`` in the current page's language; ``%(name)s`` placeholders filled in."""
    text = translations(_current.get()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, count: int, **variables: Any) -> str:
    text = translations(_current.get()).ngettext(singular, plural, count)
    return text % {"num": count, **variables}


def lazy_gettext(message: str) -> LazyProxy:
    """A module-level message (a label, a definition) translated when it is shown."""
    return LazyProxy(gettext, message, enable_cache=False)


def _babel_locale() -> str:
    return LOCALES[_current.get()]


def format_money(amount: Decimal | int | None, currency: str = "CNY") -> str:
    if amount is None:
        return "—"
    return numbers.format_currency(Decimal(amount), currency, locale=_babel_locale())


def format_number(value: Decimal | int | float | None, places: int | None = None) -> str:
    if value is None:
        return "—"
    if places is None:
        return numbers.format_decimal(value, locale=_babel_locale())
    pattern = "#,##0." + "0" * places if places else "#,##0"
    return numbers.format_decimal(value, format=pattern, locale=_babel_locale())


def format_percent(rate: Decimal | float | None, places: int = 1) -> str:
    """A rate (0.1234) as a percentage; unknown (no whole to divide by) as a dash."""
    if rate is None:
        return "—"
    pattern = "#,##0." + "0" * places + "%" if places else "#,##0%"
    return numbers.format_percent(rate, format=pattern, locale=_babel_locale())


def format_date(day: dt.date | None, form: str = "medium") -> str:
    if day is None:
        return "—"
    return dates.format_date(day, form, locale=_babel_locale())


def format_datetime(moment: dt.datetime | None, zone: str, form: str = "short") -> str:
    """A stored (UTC) moment as the clock on the lender's wall shows it."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:  # SQLite hands back naive UTC in raw reads
        moment = moment.replace(tzinfo=dt.UTC)
    return dates.format_datetime(moment, form, tzinfo=ZoneInfo(zone), locale=_babel_locale())


def format_time(moment: dt.datetime | None, zone: str) -> str:
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return dates.format_time(moment, "short", tzinfo=ZoneInfo(zone), locale=_babel_locale())


# Each language's name in itself, as a language switcher shows it.
LANGUAGE_NAMES = {"en": "English", "zh-CN": "简体中文"}


def language_name(locale: str) -> str:
    return LANGUAGE_NAMES.get(locale, locale)
