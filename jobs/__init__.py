"""The scheduling engine around APScheduler 3.11 and one module per job family.

Nothing in this package imports Textual: the engine publishes events, and
whoever embeds it (the TUI or the headless service) listens to them.
"""
