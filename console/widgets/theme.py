"""Rich styles taken from the app's theme, for text that widgets build with Rich rather than CSS."""

from __future__ import annotations

from rich.style import Style
from textual.app import App
from textual.color import Color


def theme_style(app: App[object], variable: str, *, background: str = "surface", bold: bool = False) -> Style:
    """Return a Rich style coloured with the theme ``variable`` (e.g. ``error``), blended onto ``background``.

    Use colour variables (``foreground-muted``, not ``text-muted``, whose value
    is ``auto 60%``). Theme colours may carry an alpha, which Rich cannot draw,
    so the colour is first blended onto the background it will sit on.
    """
    variables = app.theme_variables or app.get_css_variables()
    base = Color.parse(variables.get(background, "black"))
    colour = base + Color.parse(variables.get(variable, "white"))
    return Style(color=colour.rich_color, bold=bold)
