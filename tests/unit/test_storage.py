"""Lakes on object storage: which roots are accepted, and what Spark is told for ``s3a://``.

No JVM: these check the settings and the Spark/Hadoop settings derived from
them; tests/spark/test_s3.py writes real tables on a real S3 server.
"""

from __future__ import annotations

import re

import pytest

from lakehouse.config import load_config
from lakehouse.core.errors import ConfigError, ExitCode
from lakehouse.lake.storage import s3a_conf, s3a_secrets, uses_s3a
from tests.harness.builders import write_conf

S3_ENV = {"S3_ACCESS_KEY": "AKIDLOCAL", "S3_SECRET_KEY": "very-secret-value"}
S3_SECTION = {
    "endpoint": "http://127.0.0.1:9000",
    "region": "us-east-1",
    "path_style": True,
    "access_key": "${S3_ACCESS_KEY}",
    "secret_key": "${S3_SECRET_KEY}",
}


def settings_of(tmp_path, env: dict, environ=None):
    conf = write_conf(tmp_path, envs={"local": env})
    return load_config(None, env="local", conf_dir=conf, environ=environ or {}).settings


def error_of(tmp_path, env: dict, environ=None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        settings_of(tmp_path, env, environ)
    assert info.value.exit_code == ExitCode.USAGE
    assert "\n" not in str(info.value)
    return info.value


@pytest.mark.parametrize(
    ("root", "message"),
    [
        (
            "s3://bucket/lake",
            r"lake_root: s3:// is not Hadoop's S3 connector here: write "
            r"s3a://bucket/lake",
        ),
        ("s3n://bucket/lake", r"write s3a://bucket/lake"),
        ("ftp://host/lake", r"unknown file system scheme ftp:// \(known: file, s3a, hdfs"),
        ("s3a:///lake", r"names no bucket or host"),
        ("s3a://Bad_Bucket/lake", r"invalid S3 bucket name 'Bad_Bucket'"),
    ],
)
def test_a_lake_root_on_an_unknown_or_wrong_file_system_is_refused(tmp_path, root, message):
    err = error_of(tmp_path, {"lake_root": root})
    assert re.search(message, str(err)), str(err)
    assert "local.yaml" in str(err)


def test_the_checkpoint_root_is_checked_the_same_way(tmp_path):
    err = error_of(tmp_path, {"checkpoint_root": "s3://bucket/cp"})
    assert "checkpoint_root: s3:// is not Hadoop's S3 connector" in str(err)


@pytest.mark.parametrize(
    "root",
    [
        "s3a://lake-bucket/prod",
        "hdfs://nn:8020/lake",
        "abfss://c@acct.dfs.core.windows.net/l",
        "gs://bucket/lake",
        "file:/tmp/lake",
    ],
)
def test_known_file_systems_are_accepted_as_they_are(tmp_path, root):
    assert settings_of(tmp_path, {"lake_root": root}).lake_root == root


def test_missing_s3_credentials_name_the_variable(tmp_path):
    env = {"lake_root": "s3a://lake/prod", "s3": S3_SECTION}
    err = error_of(tmp_path, env, environ={"S3_ACCESS_KEY": "AKIDLOCAL"})
    assert "s3.secret_key: environment variable S3_SECRET_KEY is not set" in str(err)


def test_one_key_without_the_other_is_refused(tmp_path):
    section = {k: v for k, v in S3_SECTION.items() if k != "secret_key"}
    err = error_of(tmp_path, {"lake_root": "s3a://lake/prod", "s3": section}, environ=S3_ENV)
    assert "s3.secret_key: set both access_key and secret_key, or neither" in str(err)


def test_an_empty_key_from_the_environment_is_refused(tmp_path):
    env = {"lake_root": "s3a://lake/prod", "s3": S3_SECTION}
    err = error_of(tmp_path, env, environ={**S3_ENV, "S3_SECRET_KEY": " "})
    assert "s3.secret_key: is empty" in str(err)


def test_a_malformed_endpoint_is_refused(tmp_path):
    section = {**S3_SECTION, "endpoint": "127.0.0.1:9000"}
    err = error_of(tmp_path, {"lake_root": "s3a://lake/p", "s3": section}, environ=S3_ENV)
    assert "s3.endpoint: invalid endpoint '127.0.0.1:9000': use http(s)://host[:port]" in str(err)


def test_an_s3a_lake_gets_the_connector_settings_and_the_conditional_store(tmp_path):
    settings = settings_of(tmp_path, {"lake_root": "s3a://lake/prod", "s3": S3_SECTION}, S3_ENV)
    assert uses_s3a(settings)
    conf = s3a_conf(settings)
    assert conf["spark.delta.logStore.s3a.impl"] == "lakehouse.delta.ConditionalPutLogStore"
    assert conf["spark.hadoop.fs.s3a.create.conditional.enabled"] == "true"
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.endpoint.region"] == "us-east-1"
    # the keys are never Spark settings (they would show on a command line and in the UI)
    assert not any(
        S3_ENV["S3_SECRET_KEY"] in v or S3_ENV["S3_ACCESS_KEY"] in v for v in conf.values()
    )
    assert s3a_secrets(settings) == {
        "fs.s3a.access.key": "AKIDLOCAL",
        "fs.s3a.secret.key": "very-secret-value",
    }


def test_without_keys_the_default_credential_chain_answers(tmp_path):
    settings = settings_of(tmp_path, {"lake_root": "s3a://lake/prod"})
    conf = s3a_conf(settings)
    assert "spark.hadoop.fs.s3a.aws.credentials.provider" not in conf
    assert "spark.hadoop.fs.s3a.endpoint" not in conf  # AWS itself
    assert s3a_secrets(settings) == {}


def test_a_local_lake_gets_no_s3_settings(tmp_path):
    settings = settings_of(tmp_path, {})
    assert not uses_s3a(settings)
    assert s3a_conf(settings) == {}


def test_single_writer_mode_leaves_delta_s_own_store(tmp_path):
    env = {"lake_root": "s3a://lake/prod", "s3": {"conditional_commits": False}}
    assert "spark.delta.logStore.s3a.impl" not in s3a_conf(settings_of(tmp_path, env))


# ---------------------------------------------------------------- an unreachable store


def test_an_unreachable_endpoint_is_transient_and_named(tmp_path):
    from lakehouse.core.errors import TransientError
    from lakehouse.lake.storage import probe_store
    from tests.harness.ports import closed_port

    port = closed_port()
    section = {**S3_SECTION, "endpoint": f"http://127.0.0.1:{port}"}
    settings = settings_of(tmp_path, {"lake_root": "s3a://lake/p", "s3": section}, S3_ENV)
    with pytest.raises(TransientError) as info:
        probe_store(settings, timeout=2)
    assert info.value.exit_code == ExitCode.TRANSIENT
    assert str(info.value) == (
        f"object store unreachable at 127.0.0.1:{port} (connection refused) for s3a://lake/p: "
        "is the endpoint up and s3.endpoint right?"
    )


def test_a_listening_endpoint_passes_the_probe(tmp_path):
    import socket

    from lakehouse.lake.storage import probe_store

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        section = {**S3_SECTION, "endpoint": f"http://127.0.0.1:{server.getsockname()[1]}"}
        settings = settings_of(tmp_path, {"lake_root": "s3a://lake/p", "s3": section}, S3_ENV)
        probe_store(settings, timeout=2)  # no error


def test_a_job_on_an_unreachable_store_exits_75_before_spark_with_one_line(
    tmp_path, capsys, monkeypatch
):
    from lakehouse.jobs import batch_load
    from tests.harness.ports import closed_port

    port = closed_port()
    section = {**S3_SECTION, "endpoint": f"http://127.0.0.1:{port}"}
    conf = write_conf(tmp_path, envs={"local": {"lake_root": "s3a://lake/p", "s3": section}})
    for key, value in S3_ENV.items():
        monkeypatch.setenv(key, value)
    code = batch_load.main(
        ["--conf-dir", str(conf), "--pipeline", "orders", "--date", "2026-01-01"]
    )
    assert code == ExitCode.TRANSIENT
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"batch_load: error: object store unreachable at 127.0.0.1:{port} (connection refused) "
        "for s3a://lake/p: is the endpoint up and s3.endpoint right?"
    ]
