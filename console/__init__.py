"""The operator's console: Textual app, headless service and command line.

This package's ``__init__`` imports nothing, so that ``jobs`` and ``storage``
can use :mod:`console.i18n` without loading Textual.
"""
