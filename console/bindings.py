"""Key bindings whose descriptions follow the UI language.

``BINDINGS`` are class attributes, built when a module is imported, which
can be before the command line picks the language. Descriptions are
therefore written with ``N_()`` and translated here when a screen is built.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    """Return the footer bindings of ``node`` (or of ``bindings``), first key of each action only."""
    seen: set[str] = set()
    result: list[Binding] = []
    for bindings_of_key in (bindings or node._bindings).key_to_bindings.values():
        for binding in bindings_of_key:
            if binding.show and binding.action not in seen:
                seen.add(binding.action)
                result.append(binding)
    return result
