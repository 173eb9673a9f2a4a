"""The ``lakehouse`` console command: run a job, check a config folder, list, scaffold.

``lakehouse run`` is the launcher (the same code as ``./spark-submit.sh``);
the other commands need no JVM and answer in well under two seconds.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from lakehouse import __version__
from lakehouse.config import list_envs, list_pipelines, resolve_conf_dir, validate
from lakehouse.core import EXIT_CODE_TABLE, ConfigError, ExitCode, did_you_mean
from lakehouse.launch.launcher import job_names

EXIT_CODES = EXIT_CODE_TABLE

PIPE_CLOSED = 141  # what a shell reports for a command stopped by SIGPIPE (128 + 13)

TEMPLATES = Path(__file__).resolve().parent / "config" / "templates"


def job_summary(job: str) -> str:
    """A job's one-line description: its module docstring's first line (read, not imported)."""
    spec = importlib.util.find_spec(f"lakehouse.jobs.{job}")
    if spec is None or spec.origin is None:
        return ""
    doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def cmd_run(argv: list[str]) -> int:
    from lakehouse.launch.launcher import main as launch

    return launch(argv)


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        folder = resolve_conf_dir(args.conf_dir, _environ())
        pipelines = None if args.all or not args.pipeline else args.pipeline
        if pipelines:
            known = list_pipelines(folder)
            for name in pipelines:
                if name not in known:
                    raise ConfigError(
                        f"unknown pipeline {name!r}{did_you_mean(name, known)} "
                        f"(pipelines in {folder}: {', '.join(known) or 'none'})"
                    )
        report = validate(folder, env=args.env, pipelines=pipelines, strict_env=args.strict_env)
    except ConfigError as exc:
        print(f"lakehouse validate: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "conf_dir": report.conf_dir,
                    "environments": report.environments,
                    "pipelines": report.pipelines,
                    "problems": [vars(p) for p in report.problems],
                    "unset_variables": report.unset,
                },
                indent=2,
            )
        )
    else:
        for problem in report.problems:
            print(problem, file=sys.stderr)
        checked = (
            f"{len(report.environments)} environment(s) ({', '.join(report.environments)}), "
            f"{len(report.pipelines)} pipeline(s) ({', '.join(report.pipelines) or 'none'})"
        )
        if report.unset:
            names = ", ".join(report.unset)
            print(f"note: set at run time, not here: {names}", file=sys.stderr)
        verdict = "ok" if report.ok else f"{len(report.problems)} problem(s)"
        print(f"{report.conf_dir}: {checked}: {verdict}")
    return ExitCode.OK if report.ok else ExitCode.USAGE


def cmd_list(args: argparse.Namespace) -> int:
    print("jobs:")
    for job in job_names():
        print(f"  {job:<14} {job_summary(job)}")
    try:
        folder = resolve_conf_dir(args.conf_dir, _environ())
    except ConfigError as exc:
        print(f"lakehouse list: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    print(f"pipelines ({folder}):")
    for name in list_pipelines(folder):
        print(f"  {name}")
    print(f"environments ({folder}):")
    for name in list_envs(folder):
        print(f"  {name}")
    return ExitCode.OK


def cmd_init(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        print(f"lakehouse init: {target} exists and is not an empty folder", file=sys.stderr)
        return ExitCode.USAGE
    shutil.copytree(TEMPLATES, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__*"))
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        print(f"created {path}")
    print(f"next: edit {target / 'pipelines' / 'example.yaml'}, then")
    print(f"      lakehouse validate --conf-dir {target}")
    return ExitCode.OK


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="lakehouse",
        description="Kafka to Delta Lake exactly once, idempotent batch loads, checked runs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"""examples:
  lakehouse init my-conf                      scaffold a config folder
  lakehouse validate --conf-dir my-conf       check every file in it, no JVM
  lakehouse list                              jobs, pipelines, environments
  lakehouse run batch_load --pipeline orders --date 2026-03-01
  lakehouse run stream_ingest --env cluster --pipeline orders
  lakehouse sql -e "SELECT * FROM gold.daily_revenue"

{EXIT_CODES}""",
    )
    top.add_argument("--version", action="version", version=f"lakehouse {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser(
        "run",
        help="run a job with spark-submit (lakehouse run --help)",
        add_help=False,
    )
    sub.add_parser(
        "sql",
        help="Spark's SQL shell with the project's settings (lakehouse sql --help)",
        add_help=False,
    )
    check = sub.add_parser(
        "validate",
        help="check settings and pipeline files without a JVM; every problem at once",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"""examples:
  lakehouse validate --all
  lakehouse validate --conf-dir my-conf --pipeline orders --env prod
  lakehouse validate --all --strict-env --json     in CI, with the run's environment

A ${{VAR}} without default that is not set is noted, not a problem
(the scheduler sets it); --strict-env makes it one.

{EXIT_CODES}""",
    )
    which = check.add_mutually_exclusive_group()
    which.add_argument("--pipeline", action="append", metavar="P", help="this pipeline (repeat)")
    which.add_argument("--all", action="store_true", help="every pipeline (the default)")
    check.add_argument("--env", help="this environment only (default: every one)")
    check.add_argument("--conf-dir", help="config folder (default: $LAKEHOUSE_CONF_DIR or ./conf)")
    check.add_argument("--strict-env", action="store_true", help="unset ${VAR}s are problems")
    check.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    listing = sub.add_parser("list", help="jobs (one line each), pipelines, environments")
    listing.add_argument(
        "--conf-dir", help="config folder (default: $LAKEHOUSE_CONF_DIR or ./conf)"
    )
    init = sub.add_parser(
        "init",
        help="scaffold a config folder that validate accepts",
        epilog="example: lakehouse init my-conf && lakehouse validate --conf-dir my-conf",
    )
    init.add_argument("dir", help="the folder to create (new or empty)")
    return top


COMMANDS = {"validate": cmd_validate, "list": cmd_list, "init": cmd_init}


def main(argv: Sequence[str] | None = None) -> int:
    """The console command; its exit code."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:  # the reader went away (`lakehouse list | head`): stop quietly
        sys.stdout = open(os.devnull, "w")  # flushed at exit, never read
        return PIPE_CLOSED


def cmd_sql(argv: list[str]) -> int:
    from lakehouse.launch.sql import main as sql

    return sql(argv)


def _main(argv: list[str]) -> int:
    if argv and argv[0] == "run":
        return cmd_run(argv[1:])
    if argv and argv[0] == "sql":
        return cmd_sql(argv[1:])
    top = parser()
    if argv and not argv[0].startswith("-") and argv[0] not in (*COMMANDS, "run", "sql"):
        hint = did_you_mean(argv[0], [*COMMANDS, "run", "sql"])
        print(f"lakehouse: unknown command {argv[0]!r}{hint} (see --help)", file=sys.stderr)
        return ExitCode.USAGE
    try:
        args = top.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2)
        return int(exc.code or 0)
    if args.command is None:
        top.print_help()
        return ExitCode.OK
    return COMMANDS[args.command](args)
