"""The single translation entry point, ``_()``, backed by gettext catalogues.

English is the source language. Romanian comes from
``console/locale/ro/LC_MESSAGES/cron_console.po``, compiled to ``.mo`` by
``make``. The language is chosen by ``CRON_LANGUAGE`` (``en`` or ``ro``), else
by the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``), else English.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

DOMAIN = "cron_console"
LOCALE_DIR = Path(__file__).with_name("locale")
SUPPORTED_LANGUAGES = ("en", "ro")

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (for module-level constants)."""
    return message


def _(message: str) -> str:
    """Translate ``message`` into the current language."""
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """Translate a message whose form depends on ``count``."""
    return _translation.ngettext(singular, plural, count)


def current_language() -> str:
    return _language


def language_from_locale(environ: dict[str, str] | None = None) -> str:
    """Return ``ro`` or ``en`` from the POSIX locale variables."""
    environ = dict(os.environ) if environ is None else environ
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(variable, "")
        if value:
            code = value.split(".")[0].split("_")[0].lower()
            return code if code in SUPPORTED_LANGUAGES else "en"
    return "en"


def set_language(language: str | None) -> str:
    """Switch every later ``_()`` call to ``language``; ``None`` picks it from the locale.

    Returns the language in force. A language without a compiled catalogue
    falls back to the English source strings.
    """
    global _translation, _language
    chosen = (language or language_from_locale()).lower()
    if chosen not in SUPPORTED_LANGUAGES:
        chosen = "en"
    if chosen == "en":
        _translation = gettext.NullTranslations()
    else:
        _translation = gettext.translation(
            DOMAIN, localedir=str(LOCALE_DIR), languages=[chosen], fallback=True
        )
    _language = chosen
    return chosen
