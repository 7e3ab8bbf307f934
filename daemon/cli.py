"""Command line: `python -m daemon [run|init|seed|stream|reset|counts|check|doctor|ledger|verify|dev]`.

Exit codes: 0 ok (including a graceful stop), 1 fatal runtime error, 2 bad configuration or
usage, 128+N when a second signal N forces an immediate exit.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import psycopg2
from loguru import logger

from daemon import __version__, app, commands, logs
from daemon.cdc import doctor, ledger, verify
from daemon.config import Config, load_config
from daemon.errors import ConfigError, DatabaseRejected, SimulatorError, StopRequested
from daemon.pg import connection
from daemon.signals import StopSignal

EXIT_OK, EXIT_FATAL, EXIT_CONFIG = 0, 1, 2
SCRIPT = "hospital-sim"  # the console script pyproject.toml installs: daemon.cli:main


def program_name(argv0: str | None = None) -> str:
    """How the user invoked us, for usage lines: ``hospital-sim`` (the installed script) or ``python -m daemon``."""
    name = Path(sys.argv[0] if argv0 is None else argv0).name
    return SCRIPT if name in (SCRIPT, f"{SCRIPT}.exe") else "python -m daemon"


# Every subcommand and its one-line help (the README's command table lists the same names).
COMMANDS = {
    "run": "bootstrap, seed if empty, then stream until SIGTERM (default)",
    "init": "create schema, indexes and lookup rows (idempotent)",
    "seed": "bootstrap and seed when the tables are empty",
    "stream": "stream changes into an existing schema until SIGTERM",
    "reset": "drop everything, rebuild and seed (asks for confirmation)",
    "counts": "row count of each table",
    "check": "connectivity and server facts; exit 0 if reachable, 1 if not",
    "ledger": "committed changes per table and operation, from the ledger file",
    "doctor": "check what Debezium needs (PASS/WARN/FAIL); exit 0 when nothing fails",
    "verify": "reconcile Debezium change events with the ledger and the tables",
    "dev": "start a local PostgreSQL (when PG_HOST is not set) and run the daemon on it",
}


# Commands whose result goes to stdout: their logs go to stderr, so `counts > file` holds the table only.
RESULT_COMMANDS = ("counts", "check", "doctor", "ledger", "verify")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or program_name(), description="Hospital OLTP simulator for CDC (Debezium) pipelines."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    command = {name: sub.add_parser(name, help=text) for name, text in COMMANDS.items()}
    command["seed"].add_argument(
        "--scale", type=_positive_float, help="multiply every SEED_* volume (overrides SEED_SCALE)"
    )
    for name in RESULT_COMMANDS:
        if name != "verify":
            command[name].add_argument("--json", action="store_true", help="print the result as one JSON document")
    command["doctor"].add_argument(
        "--role", metavar="NAME", help="connector role to check (default: CDC_CONNECTOR_ROLE)"
    )
    command["reset"].add_argument("--yes", action="store_true", help="do not ask (for scripts)")
    command["ledger"].add_argument(
        "--file", type=Path, action="append", help="ledger file, repeatable (default: LEDGER_TABLE, else LEDGER_FILE)"
    )
    ver = command["verify"]
    ver.add_argument("--events", default="-", help="JSON-lines file of change events (default: stdin)")
    ver.add_argument(
        "--ledger",
        type=Path,
        action="append",
        help="ledger file; repeat it to merge the files of several replicas (default: LEDGER_TABLE, else LEDGER_FILE)",
    )
    ver.add_argument("--no-live", action="store_true", help="do not compare final state with the tables")
    ver.add_argument("--strict", action="store_true", help="also fail on duplicated or unexpected events")
    ver.add_argument("--json", action="store_true", help="print the report as one JSON document")
    ver.add_argument(
        "--unavailable-placeholder",
        default=verify.UNAVAILABLE,
        metavar="TEXT",
        help="the connector's unavailable.value.placeholder (default: %(default)s)",
    )
    dev = command["dev"]
    dev.add_argument("--stop", action="store_true", help="stop the local PostgreSQL and exit")
    dev.add_argument(
        "dev_command",
        nargs=argparse.REMAINDER,
        metavar="COMMAND",
        help="subcommand to run against it (default: run), e.g. `dev counts`",
    )
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not 0 < value <= 1000:
        raise argparse.ArgumentTypeError(f"must be > 0 and <= 1000, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    if command == "dev":
        from daemon import dev  # only the dev workflow needs the local-cluster code

        return dev.main(stop_only=args.stop, command=args.dev_command, program=program_name())
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if command == "seed" and args.scale is not None:
        config = dataclasses.replace(config, seed=dataclasses.replace(config.seed, scale=args.scale))
    if command == "doctor" and args.role:
        config = dataclasses.replace(config, cdc=dataclasses.replace(config.cdc, connector_role=args.role))
    stream = sys.stderr if command in RESULT_COMMANDS else None
    for warning in logs.configure(config.log, secret=connection.maskable(config.pg), stream=stream):
        logger.bind(event="log.fallback").warning(warning)
    stop = StopSignal()
    stop.install()
    try:
        if command in SUPERVISED:
            return _supervise(lambda: _dispatch(command, args, config, stop), stop, config)
        return _dispatch(command, args, config, stop)
    except StopRequested:
        if command not in ("run", "stream"):  # the daemon's own teardown already said so
            logger.bind(event="shutdown.interrupted").info(
                "{command} stopped ({reason})", command=command, reason=stop.reason
            )
        return EXIT_OK
    except DatabaseRejected as exc:
        logger.bind(event="fatal.db_rejected").error("database refused us, not retrying: {error}", error=str(exc))
        return EXIT_FATAL
    except SimulatorError as exc:
        logger.bind(event="fatal").error("{error}", error=str(exc))
        return EXIT_FATAL
    except psycopg2.Error as exc:  # e.g. the server went away during `counts`
        logger.bind(event="fatal.db").error("{error}", error=str(connection.classify(exc, config.pg)))
        return EXIT_FATAL
    except Exception as exc:  # noqa: BLE001 - last resort: log, never a raw traceback loop
        logger.bind(event="fatal.bug").opt(exception=exc).error("unexpected error: {error!r}", error=exc)
        return EXIT_FATAL
    finally:
        logs.flush()


SUPERVISED = ("run", "stream", "init", "seed", "reset")  # may block in the database for long


def _supervise(work: Callable[[], int], stop: StopSignal, config: Config) -> int:
    """Run ``work`` in a thread while the main thread only waits for signals.

    A blocking libpq call would delay Python signal handlers until it returns; with the work in
    another thread a SIGTERM is seen at once (and cancels registered blocking work), and a second
    signal exits immediately.
    """
    codes: list[int] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            codes.append(work())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    worker = threading.Thread(target=target, name="lifecycle", daemon=True)
    worker.start()
    while worker.is_alive() and not stop.wait(0.2):
        pass
    if worker.is_alive():
        stop.interrupt()
        worker.join(config.shutdown_timeout_seconds + 5)
        if worker.is_alive():
            logger.bind(event="shutdown.timeout").error(
                "did not stop within {seconds:.0f}s of {reason}; exiting",
                seconds=config.shutdown_timeout_seconds + 5,
                reason=stop.reason,
            )
            return EXIT_FATAL
    worker.join()
    if errors:
        raise errors[0]
    return codes[0]


def _dispatch(command: str, args: argparse.Namespace, config: Config, stop: StopSignal) -> int:
    if command == "run":
        app.run(config, stop)
        return EXIT_OK
    if command == "stream":
        app.run(config, stop, bootstrap=False)
        return EXIT_OK
    if command == "init":
        return commands.init(config, stop)
    if command == "seed":
        return commands.seed_command(config, stop)
    if command == "reset":
        return commands.reset(config, stop, args.yes)
    if command == "counts":
        return commands.counts(config, stop, as_json=args.json)
    if command == "check":
        return commands.check(config, as_json=args.json)
    if command == "ledger":
        return _ledger(args, config)
    if command == "doctor":
        return doctor.doctor(config, as_json=args.json)
    if command == "verify":
        files, table = _ledger_source(args.ledger, config)
        return verify.run_verify(
            config,
            args.events,
            ledger_path=files,
            ledger_table=table,
            live=not args.no_live,
            strict=args.strict,
            as_json=args.json,
            placeholder=args.unavailable_placeholder,
        )
    raise AssertionError(command)


def _ledger_source(files: list[Path] | None, config: Config) -> tuple[list[Path], str | None]:
    """Where the ground truth is read from: the files given, else LEDGER_TABLE, else LEDGER_FILE."""
    if files:
        return files, None
    if config.cdc.ledger_table:
        return [], config.cdc.ledger_table
    return ([config.cdc.ledger_file] if config.cdc.ledger_file else []), None


def _ledger(args: argparse.Namespace, config: Config) -> int:
    paths, table = _ledger_source(args.file, config)
    if table:
        return ledger.print_summary(
            f"table {table}", ledger.ledger_from_table(config, table), sys.stdout, as_json=args.json
        )
    if not paths:
        print("ledger: no ledger: set LEDGER_TABLE or LEDGER_FILE, or pass --file", file=sys.stderr)
        return EXIT_CONFIG
    try:
        entries = ledger.read_ledgers(paths)
    except (OSError, ValueError) as exc:
        print(f"ledger: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return ledger.print_summary(", ".join(map(str, paths)), entries, sys.stdout, as_json=args.json)
