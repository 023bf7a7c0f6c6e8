"""The error base class shared by the engine, the storage layer and the command line."""

from __future__ import annotations

from console.i18n import N_


class CronConsoleError(Exception):
    """An error an operator can act on: a short title and a message that names the bad value.

    The command line prints it to stderr and exits with status 2; the TUI shows
    it as an error notification. The message never contains a secret.
    """

    title = N_("Error")

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class ConfigError(CronConsoleError):
    """A setting from the environment or the env file is invalid."""

    title = N_("Invalid configuration")


class CronExpressionError(CronConsoleError):
    """A cron expression is malformed or can never fire."""

    title = N_("Invalid cron expression")

    def __init__(self, expression: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.expression = expression
        self.field = field


class JobNotFoundError(CronConsoleError):
    title = N_("Unknown job")


class JobBusyError(CronConsoleError):
    """A manual run was requested while the same job is already running."""

    title = N_("Job already running")


class ReadOnlyError(CronConsoleError):
    title = N_("Read-only console")
