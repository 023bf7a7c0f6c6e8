"""Reusable widgets of the console: the job table, the resource gauges and the log pane."""
