"""Key bindings whose descriptions follow the UI language.

``BINDINGS`` are class attributes, built when a module is imported, which
can be before the command line picks the language. Descriptions are
therefore written with ``N_()`` and translated here when a screen is built.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from textual.binding import Binding, BindingsMap
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Footer

from console.i18n import _


def translate_bindings(node: DOMNode) -> None:
    """Replace ``node``'s bindings with copies whose description and tooltip are translated."""
    translated = BindingsMap()
    for bindings in node._bindings.key_to_bindings.values():
        for binding in bindings:
            translated._add_binding(replace(
                binding,
                description=_(binding.description) if binding.description else "",
                tooltip=_(binding.tooltip) if binding.tooltip else "",
            ))
    node._bindings = translated


def with_footer_hidden(bindings: BindingsMap, binding_ids: Iterable[str]) -> BindingsMap:
    """Return a copy of ``bindings`` in which the bindings with ``binding_ids`` are left out of the footer.

    The keys still work; :func:`shown_bindings` lists them when given the full map.
    """
    hidden = set(binding_ids)
    copy = BindingsMap()
    for key_bindings in bindings.key_to_bindings.values():
        for binding in key_bindings:
            copy._add_binding(replace(binding, show=False) if binding.id in hidden else binding)
    return copy


def shown_bindings(node: DOMNode, bindings: BindingsMap | None = None) -> list[Binding]:
    """Return the footer bindings of ``node`` (or of ``bindings``), first key of each action only.

    Bindings whose action ``node.check_action`` hides (a read-only console's run keys) are left out.
    """
    seen: set[str] = set()
    result: list[Binding] = []
    for bindings_of_key in (bindings or node._bindings).key_to_bindings.values():
        for binding in bindings_of_key:
            if binding.show and binding.action not in seen and node.check_action(binding.action, ()) is not False:
                seen.add(binding.action)
                result.append(binding)
    return result


def fit_footer(screen: Screen[Any], all_bindings: BindingsMap, hidden_when_narrow: Iterable[str],
               narrow_width: int) -> None:
    """Make ``screen``'s footer compact below ``narrow_width`` columns, without ctrl+p and ``hidden_when_narrow``.

    ``all_bindings`` is the screen's full map, which the footer shows again at
    ``narrow_width`` columns and wider. The hidden keys and ctrl+p still work
    when pressed. The command palette lists the hidden keys when the screen
    stores the full map as ``all_bindings``, and the help screen lists them
    when the screen passes them to ``open_help``. Call this from the screen's
    ``on_mount`` and ``on_resize``.
    """
    narrow = screen.size.width < narrow_width
    footer = screen.query_one(Footer)
    # The footer's compact flag records which map the screen has, so the bindings are swapped only on a change.
    if footer.compact == narrow:
        return
    screen._bindings = with_footer_hidden(all_bindings, hidden_when_narrow) if narrow else all_bindings
    footer.compact = narrow
    footer.show_command_palette = not narrow
    screen.refresh_bindings()


# Screen actions that change something. A read-only console hides their keys.
CHANGING_ACTIONS = frozenset({"run_job", "dry_run", "toggle_pause", "edit_schedule", "acknowledge", "acknowledge_all"})


def allowed(read_only: bool, action: str) -> bool:
    """Return whether a screen offers ``action``: a read-only console offers none that changes something."""
    return not (read_only and action in CHANGING_ACTIONS)
