"""An Input that applies every key in the order it was typed."""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class OrderedInput(Input):
    """An :class:`~textual.widgets.Input` that runs its own key bindings as soon as it receives the key.

    In Textual 8.2, ``Input`` inserts printable characters in its ``_on_key``
    handler, but an editing key such as backspace bubbles up to the app and
    comes back as a binding action. Keys typed quickly reach the input before
    that round trip ends, so a character typed after a backspace can be
    inserted first. For example, ``15 3 * * 1-5``, twelve backspaces and
    ``0 4 * * *`` gave ``10 4 * *``. Running the input's own bindings here
    keeps every key in the input's message queue, which is first in, first out.
    """

    async def _on_key(self, event: events.Key) -> None:
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if binding.priority:
                continue  # the app has already run priority bindings before forwarding the key
            if await self.app.run_action(binding.action, self):
                self._restart_blink()
                event.stop()
                event.prevent_default()
                return
        await super()._on_key(event)
