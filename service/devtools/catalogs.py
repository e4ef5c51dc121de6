"""The pages' catalogs kept complete: every string the pages can show (extracted from
templates/web and service/web/ui as ``pybabel extract`` would) must be in both locales'
catalogs, with a Chinese translation. ``python scripts/i18n.py check|add AREA`` runs this.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "_l": None,
}
CATALOG_LOCALES = ("en", "zh_CN")


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    msgid: str
    plural: str | None
    where: str  # file:line of its first use


def extracted() -> dict[str, Message]:
    """Every translatable string of the pages, by msgid."""
    found: dict[str, Message] = {}
    sources: tuple[tuple[Path, list[tuple[str, str]], dict[str, str]], ...] = (
        (ROOT / "templates" / "web", [("**.html", "jinja2")], {"extensions": "jinja2.ext.i18n"}),
        (ROOT / "service" / "web" / "ui", [("**.py", "python")], {}),
    )
    for folder, method_map, options in sources:
        messages = extract_from_dir(
            str(folder),
            method_map=method_map,
            options_map={pattern: options for pattern, _ in method_map},
            keywords=KEYWORDS,
        )
        for filename, line, message, _comments, _context in messages:
            if isinstance(message, tuple):
                msgid, plural = message[0], message[1]
            else:
                msgid, plural = message, None
            if not msgid:
                continue
            where = f"{folder.relative_to(ROOT)}/{filename}:{line}"
            found.setdefault(msgid, Message(msgid, plural, where))
    return found


def catalog_folder(locale: str) -> Path:
    return Path(str(resources.files("templates").joinpath("locale", locale, "LC_MESSAGES")))


def read_catalogs(locale: str) -> dict[str, tuple[str, Path]]:
    """msgid → (its translation, the area file holding it), over every area of ``locale``."""
    return {msgid: found[-1] for msgid, found in _entries(locale).items()}


def _entries(locale: str) -> dict[str, list[tuple[str, Path]]]:
    """msgid → every (translation, area file) of it in ``locale``, in file order."""
    entries: dict[str, list[tuple[str, Path]]] = {}
    for path in sorted(catalog_folder(locale).glob("*.po")):
        with path.open("rb") as source:
            catalog = read_po(source, locale=locale)
        for message in catalog:
            if not message.id:
                continue
            msgid = str(message.id[0] if isinstance(message.id, (tuple, list)) else message.id)
            text = message.string
            translated = " ".join(text) if isinstance(text, tuple) and all(text) else ""
            if isinstance(text, str):
                translated = text
            entries.setdefault(msgid, []).append((translated, path))
    return entries


def problems() -> Iterator[str]:
    """What is missing: a string with no entry in a locale, or no Chinese translation."""
    wanted = extracted()
    for locale in CATALOG_LOCALES:
        known = read_catalogs(locale)
        for msgid, message in sorted(wanted.items()):
            if msgid not in known:
                yield f"{locale}: no entry for {msgid!r} ({message.where})"
            elif locale != "en" and not known[msgid][0].strip():
                yield f"{locale}: no translation of {msgid!r} ({message.where})"
        # The areas' files are one namespace when merged: a msgid in two of them must read
        # the same in both, or one area's pages silently show the other's wording.
        for msgid, found in sorted(_entries(locale).items()):
            if len({translation for translation, _ in found}) > 1:
                where = ", ".join(f"{path.name}: {text!r}" for text, path in found)
                yield f"{locale}: {msgid!r} is translated differently ({where})"


def add_missing(area: str) -> int:
    """Append the strings no catalog has to ``<area>.po`` of each locale (English filled in
    with the msgid, Chinese left empty for a translator); returns how many were added."""
    wanted = extracted()
    added = 0
    for locale in CATALOG_LOCALES:
        known = read_catalogs(locale)
        path = catalog_folder(locale) / f"{area}.po"
        if path.exists():
            with path.open("rb") as source:
                catalog = read_po(source, locale=locale)
        else:
            catalog = Catalog(
                locale=locale,
                project="Arrears",
                domain=area,
                copyright_holder="the Arrears contributors",
                fuzzy=False,
            )
        for msgid, message in sorted(wanted.items()):
            if msgid in known:
                continue
            english: str | tuple[str, str] = msgid if locale == "en" else ""
            key: str | tuple[str, str] = msgid
            if message.plural:
                key = (msgid, message.plural)
                english = (msgid, message.plural) if locale == "en" else ("", "")
            catalog.add(key, english, locations=[(message.where.rsplit(":", 1)[0], 0)])
            added += 1
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as target:
            write_po(target, catalog, width=100, omit_header=False, sort_output=True)
    return added
