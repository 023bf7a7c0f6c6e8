"""The scheduling engine around APScheduler 3.11 and one module per job family.

Nothing in this package imports Textual. The engine publishes events, and the
TUI or the headless service that embeds it subscribes to them.
"""
