"""Key bindings whose descriptions follow the UI language.

``BINDINGS`` are class attributes, built when a module is imported, which
can be before the command line picks the language. Descriptions are
therefore written with ``N_()`` and translated here when a screen is built.
"""

from __future__ import annotations

from dataclasses import replace

from textual.binding import Binding, BindingsMap
from textual.dom import DOMNode

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


def shown_bindings(node: DOMNode) -> list[Binding]:
    """Return ``node``'s bindings that appear in the footer, first key of each action only."""
    seen: set[str] = set()
    result: list[Binding] = []
    for bindings in node._bindings.key_to_bindings.values():
        for binding in bindings:
            if binding.show and binding.action not in seen:
                seen.add(binding.action)
                result.append(binding)
    return result
