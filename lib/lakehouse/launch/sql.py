"""``lakehouse sql``: Spark's SQL shell with the project's session settings.

The shell gets what a job's session gets (Delta, UTC, jars, the object
store, the catalog) from the environment's config, so with a catalog an
analyst types ``SELECT * FROM silver.orders`` or ``SELECT * FROM
gold.daily_revenue``; without one, tables are read by path
(``SELECT * FROM delta.`/lake/silver/orders```).

Settings travel in a properties file readable by the caller only, removed
when the shell ends, so S3 keys never appear on a command line or in ``ps``.
``--print-command`` shows the command line with the settings inlined and
secrets masked.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from lakehouse.config import load_config
from lakehouse.core.errors import ConfigError, ExitCode, LakehouseError, exit_code_for, one_line
from lakehouse.lake.storage import s3a_secrets


def shell_settings(settings_env: str | None, conf_dir: str | None) -> tuple[str, dict[str, str]]:
    """The master and every Spark setting of the environment, secrets included."""
    from lakehouse.lake.catalog import probe_metastore
    from lakehouse.lake.session import spark_conf
    from lakehouse.lake.storage import probe_store

    settings = load_config(None, env=settings_env, conf_dir=conf_dir).settings
    probe_store(settings)
    probe_metastore(settings)
    conf = spark_conf(settings)
    conf.update({f"spark.hadoop.{k}": v for k, v in s3a_secrets(settings).items()})
    conf.setdefault("spark.app.name", "lakehouse-jobs:sql")
    from lakehouse.launch.launcher import DEFAULT_JAVA_OPTIONS, log_args

    logging = log_args("client", conf.get(DEFAULT_JAVA_OPTIONS))
    if logging:  # the jobs' quiet console logging, unless LAKEHOUSE_SPARK_LOG=spark
        conf[DEFAULT_JAVA_OPTIONS] = logging[1].split("=", 1)[1]
    return settings.spark.master, conf


def spark_home() -> str:
    """``$SPARK_HOME``, else the pyspark package (it ships ``bin/spark-sql`` and the jars)."""
    home = os.environ.get("SPARK_HOME")
    if home:
        return home
    import pyspark

    return os.path.dirname(os.path.abspath(pyspark.__file__))


def spark_sql_binary(home: str) -> str:
    """``<home>/bin/spark-sql``."""
    found = Path(home) / "bin" / "spark-sql"
    if not os.access(found, os.X_OK):
        raise LakehouseError(
            f"spark-sql not found in {found.parent}: install pyspark or set SPARK_HOME"
        )
    return str(found)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="lakehouse sql",
        description="Spark's SQL shell with the project's settings (Delta, catalog, storage).",
        epilog="""examples:
  lakehouse sql                                        an interactive shell
  lakehouse sql -e "SELECT * FROM gold.daily_revenue"  one statement, then exit
  lakehouse sql -f report.sql --env cluster

Other spark-sql options go after `--`.""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = top.add_mutually_exclusive_group()
    what.add_argument("-e", dest="execute", metavar="SQL", help="run these statements and exit")
    what.add_argument("-f", dest="file", metavar="FILE", help="run the statements of a file")
    top.add_argument("--env", help="environment (default: $LAKEHOUSE_ENV or local)")
    top.add_argument("--conf-dir", help="config folder (default: $LAKEHOUSE_CONF_DIR or ./conf)")
    top.add_argument(
        "--print-command", action="store_true", help="print the command (secrets masked) and exit"
    )
    top.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return top


def main(argv: list[str]) -> int:
    """Run the shell; its exit code (2 bad arguments or config, 75 a store or metastore down)."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        if args.file and not Path(args.file).is_file():
            raise ConfigError(f"no such SQL file: {args.file}")
        master, conf = shell_settings(args.env, args.conf_dir)
        home = spark_home()
        binary = spark_sql_binary(home)
    except Exception as exc:
        code = exit_code_for(exc)
        print(f"lakehouse sql: error: {one_line(exc)}", file=sys.stderr)
        return code
    tail = ["-S"] if args.execute is not None or args.file else []  # rows only, no timings
    tail += ["-e", args.execute] if args.execute is not None else []
    tail += ["-f", args.file] if args.file else []
    tail += [a for a in args.rest if a != "--"]
    if args.print_command:
        from lakehouse.launch.submit import printable_command

        inline = [x for k, v in conf.items() for x in ("--conf", f"{k}={v}")]
        print(printable_command([binary, "--master", master, *inline, *tail]))
        return ExitCode.OK
    with tempfile.NamedTemporaryFile("w", prefix="lakehouse-sql-", suffix=".conf") as props:
        os.chmod(props.name, 0o600)
        for key, value in conf.items():
            props.write(f"{key} {_escape(value)}\n")
        props.flush()
        command = [binary, "--master", master, "--properties-file", props.name, *tail]
        env = {**os.environ, "TZ": "UTC", "SPARK_HOME": home}
        env.setdefault("PYSPARK_PYTHON", sys.executable)
        try:
            return subprocess.call(command, env=env)
        except KeyboardInterrupt:
            return 130


def _escape(value: str) -> str:
    """A value as java.util.Properties reads it back (backslashes and line breaks escaped)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
