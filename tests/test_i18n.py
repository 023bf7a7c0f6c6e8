"""The Romanian catalogue covers every message in the source, with the same ``.format`` placeholders."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from console.i18n import LOCALE_DIR, _, set_language
from tests import ui_support

ROOT = Path(__file__).resolve().parent.parent
SOURCE_FOLDERS = ("console", "jobs", "storage")
# The keywords `make extract-messages` passes to pybabel.
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
CATALOGUE = LOCALE_DIR / "ro" / "LC_MESSAGES" / "cron_console.po"

Placeholder = tuple[str, str | None, str | None]


def source_messages() -> dict[str, str]:
    """Return every extracted msgid (the singular of a plural) with the file and line it comes from."""
    found: dict[str, str] = {}
    for folder in SOURCE_FOLDERS:
        for filename, line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS,
        ):
            singular = message[0] if isinstance(message, tuple) else message
            if singular:
                found.setdefault(singular, f"{folder}/{filename}:{line}")
    return found


def romanian_catalogue() -> Catalog:
    with CATALOGUE.open("rb") as source:
        return read_po(source, locale="ro")


def placeholders(text: str) -> set[Placeholder]:
    """Return the replacement fields of a ``str.format`` template: (name, conversion, format spec)."""
    return {(name, conversion, spec) for _literal, name, spec, conversion in string.Formatter().parse(text)
            if name is not None}


def test_every_message_translated() -> None:
    catalogue = romanian_catalogue()
    missing = []
    for msgid, where in sorted(source_messages().items()):
        entry = catalogue.get(msgid)
        strings = [] if entry is None else (list(entry.string) if isinstance(entry.string, tuple | list)
                                            else [entry.string])
        if entry is None or not all(strings) or entry.fuzzy:
            missing.append(f"{where}: {msgid!r}")
    assert not missing, "messages without a Romanian translation in {}:\n{}".format(
        CATALOGUE.relative_to(ROOT), "\n".join(missing))


def test_placeholders_match() -> None:
    mismatched = []
    for entry in romanian_catalogue():
        if not entry.id or not entry.string:
            continue
        ids = list(entry.id) if isinstance(entry.id, tuple) else [entry.id]
        strings = list(entry.string) if isinstance(entry.string, tuple | list) else [entry.string]
        # A translation may use the placeholders of any plural form (Romanian has three forms
        # for English's two), and must keep those of the singular.
        allowed = set().union(*(placeholders(text) for text in ids))
        required = placeholders(ids[0])
        for text in strings:
            if text and not required <= placeholders(text) <= allowed:
                mismatched.append(f"{ids[0]!r} -> {text!r}")
    assert not mismatched, "msgstr placeholders differ from the msgid's:\n" + "\n".join(mismatched)


def test_catalogue_has_romanian_diacritics() -> None:
    text = CATALOGUE.read_text(encoding="utf-8")
    for letter in "ăâîșț":
        assert letter in text
    # Cedilla forms are the wrong letters for Romanian; comma-below ș and ț are correct.
    assert "ş" not in text
    assert "ţ" not in text


@pytest.mark.parametrize(("language", "expected"), [("ro", "Rulează"), ("en", "Run")], ids=["ro", "en"])
def test_compiled_catalogue_used(language: str, expected: str) -> None:
    ui_support.ensure_catalogues()
    set_language(language)
    assert _("Run") == expected
