"""The console's screens and modals, one module each, styled by a sibling ``.tcss`` file."""
