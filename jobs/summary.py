"""Readable text for a run's summary of counts, in the UI language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.i18n import N_, _

# Labels for the keys jobs commonly report; other keys are shown with their
# underscores turned into spaces.
KEY_LABELS = {
    "examined": N_("examined"),
    "changed": N_("changed"),
    "deleted": N_("deleted"),
    "deleted_messages": N_("messages deleted"),
    "deleted_sessions": N_("sessions deleted"),
    "sent": N_("sent"),
    "failed": N_("failed"),
    "skipped": N_("skipped"),
    "alerts": N_("alerts"),
    "uncertain": N_("uncertain"),
}


def format_summary(summary: Mapping[str, Any] | None, *, dry_run: bool = False) -> str:
    """Render ``{"examined": 3, "deleted": 2}`` as ``examined 3, deleted 2``."""
    if not summary:
        return _("no counts")
    parts = []
    for key, value in summary.items():
        if isinstance(value, dict | list):
            continue
        label = _(KEY_LABELS[key]) if key in KEY_LABELS else key.replace("_", " ")
        parts.append(f"{label} {value}")
    text = ", ".join(parts) if parts else _("no counts")
    return _("dry run, would change: {counts}").format(counts=text) if dry_run else text
