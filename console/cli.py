"""The ``cron-console`` command line: the TUI, the headless service and one-shot commands.

Exit status: 0 on success, 1 when a job run fails, 2 for invalid input or
configuration (the message names the value and the fix), 130 on Ctrl+C.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from console.format import decimal
from console.i18n import N_, _, ngettext, set_language
from jobs.errors import CronConsoleError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEMO_DATABASE = Path("var/demo.db")


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def _pre_select_language(argv: Sequence[str]) -> None:
    """Choose the language before argparse builds its help, from --language or CRON_LANGUAGE."""
    language = os.environ.get("CRON_LANGUAGE") or None
    for index, argument in enumerate(argv):
        if argument == "--language" and index + 1 < len(argv):
            language = argv[index + 1]
        elif argument.startswith("--language="):
            language = argument.split("=", 1)[1]
    set_language(language)
    _translate_argparse()


# argparse's own msgids (Python 3.11), listed so that message extraction keeps
# them in the catalogue.
ARGPARSE_MESSAGES = (
    N_("%(prog)s: error: %(message)s\n"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("expected at least one argument"),
    N_("expected at most one argument"),
    N_("expected one argument"),
    N_("invalid %(type)s value: %(value)r"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("not allowed with argument %s"),
    N_("one of the arguments %s is required"),
    N_("options"),
    N_("positional arguments"),
    N_("show this help message and exit"),
    N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"),
    N_("usage: "),
)


def _translate_argparse() -> None:
    """Route argparse's own words (usage, options, its error messages) through our catalogue.

    argparse looks up its module-level ``_`` and ``ngettext`` on every call, so
    rebinding them is enough; its msgids are in the Romanian catalogue too.
    """
    argparse._ = _  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env-file", type=Path, default=argparse.SUPPRESS,
                        help=_("read settings from this env file (default: ./cron.env when present)"))
    common.add_argument("--database", default=argparse.SUPPRESS, metavar="URL",
                        help=_("database URL; overrides CRON_DATABASE_URL"))
    common.add_argument("--language", choices=("en", "ro"), default=argparse.SUPPRESS,
                        help=_("language of screens and messages; overrides CRON_LANGUAGE"))
    common.add_argument("--log-level", default=argparse.SUPPRESS,
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"), type=str.upper,
                        help=_("lowest level of the log records shown (default: INFO)"))

    parser = argparse.ArgumentParser(
        prog="cron-console", parents=[common],
        description=_("Operations console for the scheduled maintenance jobs of the AI agent. "
                      "Without a command it opens the terminal console."),
    )
    parser.add_argument("--no-ui", action="store_true", help=_("run the scheduler headless, logging to stdout"))
    parser.add_argument("--log-format", choices=("plain", "json"), default="plain",
                        help=_("format of headless logs: plain text or JSON lines"))
    parser.add_argument("--read-only", action="store_true",
                        help=_("open a console that only watches: nothing can be run or changed"))
    commands = parser.add_subparsers(dest="command", metavar=_("COMMAND"))

    jobs_parser = commands.add_parser("jobs", parents=[common], help=_("list the jobs with schedules and next runs"))
    jobs_parser.add_argument("--json", action="store_true", help=_("print JSON instead of a table"))

    run_parser = commands.add_parser("run", parents=[common], help=_("run one job once and print its summary"))
    run_parser.add_argument("job", metavar="JOB", help=_("job id, e.g. cleanup-sessions"))
    run_parser.add_argument("--dry-run", action="store_true", help=_("count what would change, change nothing"))
    run_parser.add_argument("--json", action="store_true", help=_("print the run as JSON"))

    next_parser = commands.add_parser("next", parents=[common], help=_("print the next fire times of a job"))
    next_parser.add_argument("job", metavar="JOB", help=_("job id, e.g. backup-data"))
    next_parser.add_argument("--count", type=int, default=5, help=_("how many fire times (default: 5)"))
    next_parser.add_argument("--after", metavar="ISO-8601",
                             help=_("start after this instant; without an offset it is read in CRON_TIMEZONE"))

    history_parser = commands.add_parser("history", parents=[common], help=_("print the recent runs of a job"))
    history_parser.add_argument("job", metavar="JOB", help=_("job id, e.g. backup-data"))
    history_parser.add_argument("--limit", type=int, default=20, help=_("how many runs (default: 20)"))
    history_parser.add_argument("--json", action="store_true", help=_("print JSON instead of a table"))

    demo_data_parser = commands.add_parser("demo-data", parents=[common],
                                           help=_("fill the database with a realistic demo data set"))
    demo_data_parser.add_argument("--sessions", type=int, default=30_000, help=_("number of sessions (default: 30000)"))
    demo_data_parser.add_argument("--businesses", type=int, default=40, help=_("number of businesses (default: 40)"))
    demo_data_parser.add_argument("--messages-per-session", type=int, default=10,
                                  help=_("average messages per session (default: 10)"))
    demo_data_parser.add_argument("--seed", type=int, default=7, help=_("random seed; the same seed gives the same data"))
    demo_data_parser.add_argument("--replace", action="store_true",
                                  help=_("empty the agent tables first instead of refusing a filled database"))

    commands.add_parser("check-config", parents=[common],
                        help=_("print the effective settings and where each came from"))

    demo_parser = commands.add_parser(
        "demo", parents=[common],
        help=_("open the console on var/demo.db with demo data and a local provider simulator"))
    demo_parser.add_argument("--no-ui", action="store_true", help=_("run the demo headless"))
    demo_parser.add_argument("--log-format", choices=("plain", "json"), default="plain",
                             help=_("format of headless logs: plain text or JSON lines"))
    return parser


def _settings_from(args: argparse.Namespace, **extra: Any) -> Any:
    from jobs.settings import load_settings

    overrides: dict[str, Any] = dict(extra)
    if getattr(args, "database", None):
        overrides["database_url"] = args.database
    if getattr(args, "language", None):
        overrides["language"] = args.language
    settings = load_settings(getattr(args, "env_file", None), **overrides)
    set_language(settings.language)
    args.cli_fields = frozenset(overrides)
    return settings


def _print_error(error: CronConsoleError) -> None:
    print(f"{_(error.title)}: {error.message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    _pre_select_language(arguments)
    parser = build_parser()
    args = parser.parse_args(arguments)
    from sqlalchemy.exc import OperationalError

    try:
        return _dispatch(args)
    except CronConsoleError as error:
        _print_error(error)
        return EXIT_USAGE
    except OperationalError as error:
        print(_database_error_text(error), file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader of stdout went away (e.g. `| head`); nothing more to print.
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _database_error_text(error: Exception) -> str:
    """Return the driver's first line (psycopg and sqlite3 name the host, port or file, never a password)."""
    detail = str(getattr(error, "orig", error)).strip()
    first_line = detail.splitlines()[0] if detail else type(error).__name__
    return _("Database error: {detail}. Check CRON_DATABASE_URL (or --database) and that the "
             "database server is running.").format(detail=first_line.rstrip("."))


def _dispatch(args: argparse.Namespace) -> int:
    from console.logsetup import configure_logging

    command = args.command
    log_level = getattr(args, "log_level", "INFO")
    if command is None:
        settings = _settings_from(args)
        if args.no_ui:
            configure_logging(log_level, log_format=args.log_format)
            return _run_headless(settings)
        configure_logging(log_level, log_dir=settings.log_dir)
        return _run_tui(settings, read_only=args.read_only)
    if command == "demo":
        return _run_demo(args, log_level)

    # One-shot commands log warnings and errors on stderr, so stdout stays parseable.
    configure_logging(log_level if "log_level" in args else "WARNING", stream=sys.stderr)
    settings = _settings_from(args)
    if command == "check-config":
        return _check_config(args, settings)
    if command == "demo-data":
        return _demo_data(args, settings)
    if command == "jobs":
        return _list_jobs(args, settings)
    if command == "run":
        return _run_one(args, settings)
    if command == "next":
        return _next_times(args, settings)
    if command == "history":
        return _history(args, settings)
    raise AssertionError(f"unhandled command {command!r}")


# --- Long-running faces -------------------------------------------------------


def _run_headless(settings: Any) -> int:
    from console.headless import serve

    return asyncio.run(serve(settings))


def _run_tui(settings: Any, *, read_only: bool) -> int:
    try:
        from console.app import build_app
    except ImportError as error:
        raise CronConsoleError(_("The terminal console is not available ({error}); use --no-ui.").format(
            error=error)) from None
    app = build_app(settings, read_only=read_only)
    result = app.run()
    return int(result) if isinstance(result, int) else EXIT_OK


def _run_demo(args: argparse.Namespace, log_level: str) -> int:
    """Open the console on var/demo.db, creating the demo data on first use, with the simulator."""
    from console.logsetup import configure_logging
    from jobs.clock import SystemClock
    from storage.db import Database

    database_url = getattr(args, "database", None) or f"sqlite:///{DEMO_DATABASE}"
    if args.no_ui:
        configure_logging(log_level, log_format=args.log_format)
    else:
        configure_logging(log_level, log_dir=Path("var/log"))

    simulator = _start_simulator()
    extra: dict[str, Any] = {"database_url": database_url}
    if simulator is not None:
        extra["meta_graph_url"] = simulator.base_url
        extra["twilio_api_url"] = simulator.base_url
    try:
        settings = _settings_from(args, **extra)
        database = Database(settings.database_url)
        database.create_schema()
        if _count_sessions(database) == 0:
            from storage.demo import generate_demo_data

            print(_("Creating the demo data in {database} (first use)…").format(database=database.display_name),
                  file=sys.stderr)
            generate_demo_data(database, now=SystemClock().now())
        database.dispose()
        if args.no_ui:
            return _run_headless(settings)
        return _run_tui(settings, read_only=False)
    finally:
        if simulator is not None:
            simulator.stop()


def _start_simulator() -> Any:
    try:
        from jobs.providers.simulator import SimulatorServer  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    server = SimulatorServer()
    server.start()
    return server


def _count_sessions(database: Any) -> int:
    from sqlalchemy import func
    from sqlmodel import select

    from storage.models import ChatSession

    with database.session() as session:
        return int(session.exec(select(func.count()).select_from(ChatSession)).one())


# --- One-shot commands --------------------------------------------------------


def _engine(settings: Any) -> Any:
    from jobs.engine import Engine

    engine = Engine(settings)
    engine.open()
    return engine


def _check_config(args: argparse.Namespace, settings: Any) -> int:
    from jobs.settings import describe_origins, unknown_variables

    env_file = getattr(args, "env_file", None)
    origins = describe_origins(settings, env_file, getattr(args, "cli_fields", frozenset()))
    width = max(len(origin.variable) for origin in origins)
    value_width = min(48, max(len(origin.value) for origin in origins))
    print(_("Configuration is valid."))
    for origin in origins:
        print(f"{origin.variable:<{width}}  {origin.value:<{value_width}}  ({origin.source})")
    for name in unknown_variables(env_file):
        print(_("Warning: {variable} matches no setting and is ignored; check its spelling.").format(variable=name),
              file=sys.stderr)
    return EXIT_OK


def _demo_data(args: argparse.Namespace, settings: Any) -> int:
    from jobs.clock import SystemClock
    from storage.db import Database
    from storage.demo import generate_demo_data

    for option in ("sessions", "businesses", "messages_per_session"):
        value = getattr(args, option)
        if value < 1:
            raise CronConsoleError(_("--{option} {value} is invalid; expected a whole number above 0.").format(
                option=option.replace("_", "-"), value=value))
    database = Database(settings.database_url)
    database.create_schema()
    counts = generate_demo_data(
        database, now=SystemClock().now(), seed=args.seed, sessions=args.sessions,
        businesses=args.businesses, messages_per_session=args.messages_per_session, replace=args.replace,
    )
    print(_("Demo data written to {database}:").format(database=database.display_name))
    for table, count in counts.items():
        print(f"  {table:<16} {count:>9}")
    return EXIT_OK


def _local(instant: datetime | None, zone: Any) -> str:
    return instant.astimezone(zone).isoformat(timespec="seconds") if instant else "-"


def _list_jobs(args: argparse.Namespace, settings: Any) -> int:
    from console.i18n import current_language
    from jobs.cron import describe

    engine = _engine(settings)
    rows = []
    for info in engine.jobs():
        rows.append({
            "id": info.id,
            "schedule": info.schedule,
            "schedule_source": info.schedule_source,
            "description": describe(info.schedule, current_language()),
            "next_run": _local(info.next_run, engine.zone) if info.next_run else None,
            "state": info.state,
            "disabled_by": info.disabled_by,
            "last_status": info.last_run.status if info.last_run else None,
        })
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    headers = (_("ID"), _("SCHEDULE"), _("DESCRIPTION"), _("NEXT RUN"), _("STATE"))
    table = [(row["id"], row["schedule"], row["description"], row["next_run"] or "-",
              _state_label(row["state"], row["disabled_by"])) for row in rows]
    _print_table(headers, table)
    return EXIT_OK


def _state_label(state: str, disabled_by: str | None) -> str:
    labels = {"scheduled": _("scheduled"), "running": _("running"), "paused": _("paused"),
              "manual": _("manual only (CRON_ENABLED=false)"), "disabled": _("disabled")}
    label = labels.get(state, state)
    if state == "disabled" and disabled_by:
        label = _("disabled by {variable}").format(variable=disabled_by)
    return label


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    print("  ".join(header.ljust(width) for header, width in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _run_one(args: argparse.Namespace, settings: Any) -> int:
    from jobs.summary import format_summary

    engine = _engine(settings)

    async def run() -> Any:
        try:
            return await engine.run_job(args.job, dry_run=args.dry_run, trigger="cli", requested_by=_operator())
        finally:
            engine.close()

    record = asyncio.run(run())
    if args.json:
        data = asdict(record)
        data["duration_seconds"] = record.duration_seconds
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        print(_("{job_id}: {status} in {seconds} s").format(
            job_id=record.job_id, status=_status_label(record.status), seconds=decimal(record.duration_seconds or 0.0)))
        print(format_summary(record.summary, dry_run=record.dry_run))
        if record.error:
            print(_error_summary(record.error))
    return EXIT_OK if record.status == "succeeded" else EXIT_FAILED


def _error_summary(error: str) -> str:
    """Return the line of a run's error text an operator needs: the message, not the traceback.

    The engine stores an operator-facing message first and the traceback after
    a blank line; for other exceptions the traceback's last line names the error.
    """
    text = error.strip()
    if not text.startswith("Traceback"):
        return text.split("\n\n", 1)[0]
    return text.splitlines()[-1]


def _status_label(status: str) -> str:
    labels = {"running": _("running"), "succeeded": _("succeeded"), "failed": _("failed"),
              "timed_out": _("timed out"), "cancelled": _("cancelled"), "skipped": _("skipped"),
              "interrupted": _("interrupted"), "missed": _("missed")}
    return labels.get(status, status)


def _parse_after(text: str, zone: Any) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise CronConsoleError(_("--after {value!r} is not an ISO-8601 date and time; expected e.g. "
                                 "2026-03-29T02:00 or 2026-03-29T02:00+02:00.").format(value=text)) from None
    return instant.replace(tzinfo=zone) if instant.tzinfo is None else instant


def _next_times(args: argparse.Namespace, settings: Any) -> int:
    if not 1 <= args.count <= 1000:
        raise CronConsoleError(_("--count {value} is invalid; expected a whole number from 1 to 1000.").format(
            value=args.count))
    engine = _engine(settings)
    after = _parse_after(args.after, engine.zone) if args.after else None
    info = engine.job(args.job)
    for instant in engine.next_fire_times(args.job, args.count, after):
        local = instant.astimezone(engine.zone)
        print(f"{local.isoformat(timespec='seconds')}  {local.tzname()}")
    if info.state in ("paused", "disabled", "manual"):
        print(_("Note: {job_id} is {state}; these times apply once it is scheduled again.").format(
            job_id=args.job, state=_state_label(info.state, info.disabled_by)), file=sys.stderr)
    return EXIT_OK


def _history(args: argparse.Namespace, settings: Any) -> int:
    from jobs.summary import format_counts

    if not 1 <= args.limit <= 10_000:
        raise CronConsoleError(_("--limit {value} is invalid; expected a whole number from 1 to 10000.").format(
            value=args.limit))
    engine = _engine(settings)
    runs = asyncio.run(engine.history(args.job, args.limit))
    if args.json:
        print(json.dumps([asdict(run) | {"duration_seconds": run.duration_seconds} for run in runs],
                         ensure_ascii=False, indent=2, default=str))
        return EXIT_OK
    headers = (_("RUN"), _("STARTED"), _("TRIGGER"), _("STATUS"), _("DURATION"), _("SUMMARY"))
    rows = [(
        str(run.id), _local(run.started_at, engine.zone), run.trigger,
        _status_label(run.status) + (" " + _("(dry run)") if run.dry_run else ""),
        _("{seconds} s").format(seconds=decimal(run.duration_seconds)) if run.duration_seconds is not None else "-",
        format_counts(run.summary, planned=run.dry_run) if run.summary else (run.error or "").strip().splitlines()[0:1][0]
        if run.error else "-",
    ) for run in runs]
    if not rows:
        print(_("{job_id} has no recorded runs yet.").format(job_id=args.job))
        return EXIT_OK
    _print_table(headers, rows)
    return EXIT_OK
