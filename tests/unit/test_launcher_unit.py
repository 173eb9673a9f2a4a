"""The launcher's pure parts: its command line, the output relay, the logging option."""

from __future__ import annotations

import io

import pytest

from lakehouse.core.errors import UsageError
from lakehouse.launch import launcher
from lakehouse.launch.launcher import (
    FRAGMENT_MARK,
    LOG4J_FILE,
    STDERR_MARK,
    job_names,
    log_args,
    parse,
    relay_lines,
)
from lakehouse.runtime.job import _MarkedStderr

JOBS = ["backfill", "batch_load", "doctor", "health", "maintain", "stream_ingest"]


def test_the_jobs_are_the_package_modules():
    assert job_names() == JOBS


def test_options_before_the_job_and_job_args_after(monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_ENV", raising=False)
    monkeypatch.delenv("LAKEHOUSE_CONF_DIR", raising=False)
    launch = parse(
        [
            "--env=prod",
            "--conf",
            "spark.executor.memory=8g",
            "--conf=spark.sql.shuffle.partitions=64",
            "--master",
            "local[4]",
            "batch_load",
            "--pipeline",
            "orders",
            "--conf",
            "not-for-the-launcher",
        ]
    )
    assert launch is not None
    assert launch.env == "prod" and launch.master == "local[4]"
    assert launch.confs == {
        "spark.executor.memory": "8g",
        "spark.sql.shuffle.partitions": "64",
    }
    assert launch.job == "batch_load"
    assert launch.job_args == ["--pipeline", "orders", "--conf", "not-for-the-launcher"]


def test_a_conf_value_may_hold_equals_signs():
    launch = parse(["--conf", "spark.driver.extraJavaOptions=-Da=b -Dc=d", "doctor"])
    assert launch is not None
    assert launch.confs == {"spark.driver.extraJavaOptions": "-Da=b -Dc=d"}


def test_env_variables_are_the_defaults(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_ENV", "cluster")
    monkeypatch.setenv("LAKEHOUSE_CONF_DIR", "/etc/lakehouse")
    launch = parse(["doctor"])
    assert launch is not None and (launch.env, launch.conf_dir) == ("cluster", "/etc/lakehouse")


def test_help_anywhere_before_the_job():
    assert parse(["--env", "x", "--help"]) is None
    assert parse(["-h"]) is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "no job given (jobs: backfill,batch_load,doctor,health,maintain,stream_ingest)"),
        (["batch_lod"], "unknown job 'batch_lod' (did you mean 'batch_load'?)"),
        (["../lib/cli"], "unknown job '../lib/cli'"),
        (["__init__"], "unknown job '__init__'"),
        (["--frobnicate", "doctor"], "unknown option --frobnicate"),
        (["--env"], "--env needs a value"),
        (["--conf", "spark.x", "doctor"], "--conf takes KEY=VALUE, not 'spark.x'"),
        (["--conf", "=1", "doctor"], "--conf takes KEY=VALUE"),
        (["--conf", " k=1", "doctor"], "--conf takes KEY=VALUE"),
        (["--master", "", "doctor"], "--master needs a value"),
    ],
)
def test_bad_command_lines(argv, message):
    with pytest.raises(UsageError) as caught:
        parse(argv)
    assert message in str(caught.value)


def test_help_shows_options_jobs_and_the_exit_codes():
    text = launcher.usage("lakehouse run")
    for part in ("--conf KEY=VALUE", "--master M", "stream_ingest", "LAKEHOUSE_SPARK_LOG"):
        assert part in text
    assert "  4   stale" in text and "  75  transient" in text


def test_the_shipped_log4j_file_is_used_in_client_mode(monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_SPARK_LOG", raising=False)
    assert LOG4J_FILE.is_file()
    option = f"-Dlog4j2.configurationFile=file:{LOG4J_FILE}"
    assert log_args("client", None) == ["--conf", f"spark.driver.defaultJavaOptions={option}"]
    assert log_args("client", "-Dteam=1") == [
        "--conf",
        f"spark.driver.defaultJavaOptions={option} -Dteam=1",
    ]
    # cluster mode: the file is not on the cluster; the team's options stay
    assert log_args("cluster", "-Dteam=1") == ["--conf", "spark.driver.defaultJavaOptions=-Dteam=1"]
    assert log_args("cluster", None) == []
    monkeypatch.setenv("LAKEHOUSE_SPARK_LOG", "spark")
    assert log_args("client", None) == []


def test_the_log4j_level_follows_the_variable():
    text = LOG4J_FILE.read_text()
    assert "rootLogger.level = ${env:LAKEHOUSE_SPARK_LOG:-WARN}" in text


def test_relay_sends_marked_lines_to_stderr_and_fragments_without_a_break():
    source = io.BytesIO(
        b"report line\n"
        + STDERR_MARK
        + b"a log line\n"
        + FRAGMENT_MARK
        + b"\r[#.] 1/2\n"
        + FRAGMENT_MARK
        + b"\r[##] 2/2\n"
        + STDERR_MARK
        + b"\n"
        + b'{"run_id": "x"}\n'
    )
    out, err = io.BytesIO(), io.BytesIO()
    relay_lines(source, out, err)
    assert out.getvalue() == b'report line\n{"run_id": "x"}\n'
    assert err.getvalue() == b"a log line\n\r[#.] 1/2\r[##] 2/2\n"


def test_marked_stderr_sends_whole_lines_and_flushed_fragments():
    out = io.StringIO()
    marked = _MarkedStderr("\x1f", out, "\x1e", terminal=True)
    marked.write("one\ntw")
    assert out.getvalue() == "\x1fone\n"  # a piece is held until flushed or ended
    marked.write("o\n")
    marked.write("\r[#.] 1/2")
    marked.flush()
    marked.write("\r[##] 2/2")
    marked.flush()
    assert out.getvalue() == "\x1fone\n\x1ftwo\n\x1e\r[#.] 1/2\n\x1e\r[##] 2/2\n"
    assert marked.isatty()
    assert not _MarkedStderr("\x1f", io.StringIO()).isatty()


def test_relay_of_a_marked_stderr_gives_back_what_was_written():
    written = io.StringIO()
    marked = _MarkedStderr(STDERR_MARK.decode(), written, FRAGMENT_MARK.decode())
    for piece in ("log 1\n", "\r[#.] 1/2", None, "\r[##] 2/2", None, "\n", "log 2\n"):
        if piece is None:
            marked.flush()
        else:
            marked.write(piece)
    out, err = io.BytesIO(), io.BytesIO()
    relay_lines(io.BytesIO(written.getvalue().encode()), out, err)
    assert err.getvalue() == b"log 1\n\r[#.] 1/2\r[##] 2/2\nlog 2\n" and out.getvalue() == b""
