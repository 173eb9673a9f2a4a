"""The catalog section and gold views, checked without a JVM.

A view is parsed as Spark SQL (sqlglot) when the pipeline file loads, so bad
SQL, a statement that is not a query and a table the lake does not have are
exit 2 before any Spark work; a metastore that does not answer is exit 75
in well under a second.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.config import load_config
from lakehouse.core.errors import ConfigError, ExitCode, TransientError
from lakehouse.lake.catalog import catalog_conf, probe_metastore, same_location
from tests.harness.builders import pipeline_yaml, write_conf
from tests.harness.ports import closed_port

DAILY = "SELECT event_date, sum(amount) AS revenue FROM silver.orders GROUP BY event_date"


def conf_with(tmp_path: Path, gold=None, catalog=None) -> Path:
    pipe = pipeline_yaml(**({"gold": gold} if gold is not None else {}))
    envs = {"local": {"catalog": catalog} if catalog is not None else {}}
    return write_conf(tmp_path, envs=envs, pipelines={"orders": pipe})


def problem(tmp_path: Path, **kwargs) -> str:
    conf = conf_with(tmp_path, **kwargs)
    with pytest.raises(ConfigError) as info:
        load_config("orders", conf_dir=conf, environ={"LAKEHOUSE_LAKE_ROOT": str(tmp_path)})
    assert info.value.exit_code == ExitCode.USAGE
    assert "\n" not in str(info.value)
    return str(info.value)


def test_views_over_the_lake_and_earlier_views_load(tmp_path):
    gold = [
        {"name": "gold.daily", "sql": DAILY},
        {
            "name": "gold.best_day",
            "sql": "WITH d AS (SELECT * FROM gold.daily) SELECT max(revenue) AS top FROM d "
            "UNION ALL SELECT count(*) FROM quarantine.orders_loads "
            "UNION ALL SELECT count(*) FROM ops.runs r JOIN bronze.orders b ON r.run_id = b.x",
        },
    ]
    conf = conf_with(
        tmp_path, gold=gold, catalog={"type": "hive", "metastore_uri": "thrift://127.0.0.1:9083"}
    )
    cfg = load_config("orders", conf_dir=conf, environ={"LAKEHOUSE_LAKE_ROOT": str(tmp_path)})
    assert [v.name for v in cfg.pipeline.gold] == ["gold.daily", "gold.best_day"]
    assert cfg.settings.catalog.enabled
    assert (
        catalog_conf(cfg.settings)["spark.hadoop.hive.metastore.uris"] == "thrift://127.0.0.1:9083"
    )
    # views change no row of the pipeline's tables: the fingerprint stays
    plain = load_config("orders", conf_dir=conf_with(tmp_path / "b"), environ={}).pipeline
    assert cfg.pipeline.fingerprint() == plain.fingerprint()


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELEC * FROM silver.orders", "gold[0].sql: not valid SQL"),
        ("SELECT 1 FROM silver.orders; DROP TABLE silver.orders", "without `;`"),
        ("DROP TABLE silver.orders", "must be one SELECT query"),
        ("INSERT INTO silver.orders SELECT * FROM bronze.orders", "must be one SELECT query"),
        ("SELECT * FROM silver.orderz", "unknown table(s) silver.orderz"),
        ("SELECT * FROM orders", "unknown table(s) orders"),
        ("SELECT * FROM gold.later", "unknown table(s) gold.later"),
        ("SELECT * FROM delta.`/tmp/elsewhere`", "unknown table(s) delta./tmp/elsewhere"),
        ("SELECT * FROM range(10)", "not a table"),
        ("SELECT reflect('java.lang.Runtime', 'getRuntime') FROM silver.orders", "reflect"),
    ],
)
def test_a_bad_view_is_a_config_error_before_spark(tmp_path, sql, expected):
    gold = [{"name": "gold.v", "sql": sql}, {"name": "gold.later", "sql": DAILY}]
    message = problem(tmp_path, gold=gold)
    assert "pipelines/orders.yaml" in message
    assert expected in message


def test_a_view_may_not_take_a_table_name_or_lack_a_database(tmp_path):
    assert "'silver.orders' is a table of the lake" in problem(
        tmp_path, gold=[{"name": "silver.orders", "sql": DAILY}]
    )
    assert "name a view database.view" in problem(
        tmp_path / "b", gold=[{"name": "daily", "sql": DAILY}]
    )


def test_catalog_settings_are_checked(tmp_path):
    assert "metastore_uri: a hive catalog needs thrift://host:port" in problem(
        tmp_path, catalog={"type": "hive"}
    )
    assert "invalid metastore URI 'http://127.0.0.1:9083'" in problem(
        tmp_path / "b", catalog={"type": "hive", "metastore_uri": "http://127.0.0.1:9083"}
    )
    assert "catalog.type" in problem(tmp_path / "c", catalog={"type": "glue"})


def test_an_unreachable_metastore_is_transient_and_named(tmp_path):
    port = closed_port()
    conf = conf_with(
        tmp_path, catalog={"type": "hive", "metastore_uri": f"thrift://127.0.0.1:{port}"}
    )
    settings = load_config(
        None, conf_dir=conf, environ={"LAKEHOUSE_LAKE_ROOT": str(tmp_path)}
    ).settings
    with pytest.raises(TransientError) as info:
        probe_metastore(settings, timeout=2)
    assert str(info.value) == (
        f"metastore unreachable at 127.0.0.1:{port} (connection refused): is it up "
        "(scripts/metastore.sh start) and catalog.metastore_uri right?"
    )


def test_a_job_with_its_metastore_down_exits_75_before_spark(tmp_path, capsys, monkeypatch):
    from lakehouse.jobs import batch_load

    port = closed_port()
    conf = conf_with(
        tmp_path, catalog={"type": "hive", "metastore_uri": f"thrift://127.0.0.1:{port}"}
    )
    monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(tmp_path / "lake"))
    code = batch_load.main(
        ["--conf-dir", str(conf), "--pipeline", "orders", "--date", "2026-01-01"]
    )
    assert code == ExitCode.TRANSIENT
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"batch_load: error: metastore unreachable at 127.0.0.1:{port} (connection refused): "
        "is it up (scripts/metastore.sh start) and catalog.metastore_uri right?"
    ]
    assert not (tmp_path / "lake" / "_ops").exists()


def test_a_job_with_a_bad_view_exits_2_before_spark(tmp_path, capsys, monkeypatch):
    from lakehouse.jobs import batch_load

    conf = conf_with(tmp_path, gold=[{"name": "gold.v", "sql": "SELECT * FROM silver.nope"}])
    monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(tmp_path / "lake"))
    code = batch_load.main(
        ["--conf-dir", str(conf), "--pipeline", "orders", "--date", "2026-01-01"]
    )
    assert code == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gold[0].sql: unknown table(s) silver.nope" in err[0]


def test_lakehouse_sql_refuses_a_missing_file_and_a_down_metastore(tmp_path, capsys, monkeypatch):
    from lakehouse.cli import main

    port = closed_port()
    conf = conf_with(
        tmp_path, catalog={"type": "hive", "metastore_uri": f"thrift://127.0.0.1:{port}"}
    )
    monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(tmp_path / "lake"))
    assert main(["sql", "--conf-dir", str(conf), "-f", str(tmp_path / "none.sql")]) == 2
    assert main(["sql", "--conf-dir", str(conf), "-e", "SELECT 1"]) == 75
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == f"lakehouse sql: error: no such SQL file: {tmp_path / 'none.sql'}"
    assert err[1].startswith(f"lakehouse sql: error: metastore unreachable at 127.0.0.1:{port}")


def test_lakehouse_sql_print_command_masks_the_s3_keys(tmp_path, capsys, monkeypatch):
    from lakehouse.cli import main

    secret = "s3cr3t-value-for-the-test"
    s3 = {"endpoint": "http://127.0.0.1:9", "access_key": "${K}", "secret_key": "${S}"}
    conf = write_conf(tmp_path, envs={"local": {"lake_root": "s3a://lake/x", "s3": s3}})
    monkeypatch.setenv("K", "AKIATESTKEY")
    monkeypatch.setenv("S", secret)
    monkeypatch.setattr("lakehouse.lake.storage.probe_store", lambda settings: None)
    # the unit tier runs without the jar cache (scripts/test.sh --fast): no jars to list
    monkeypatch.setattr("lakehouse.lake.session.jar_settings", lambda settings: {})
    assert main(["sql", "--conf-dir", str(conf), "--print-command", "-e", "SELECT 1"]) == 0
    out = capsys.readouterr().out
    assert "spark-sql" in out and "fs.s3a.secret.key=****" in out
    assert secret not in out


def test_locations_compare_as_folders():
    assert same_location("file:/lake/silver/orders", "/lake/silver/orders/")
    assert same_location("file:///lake/silver/orders", "file:/lake/silver/orders")
    assert same_location("s3a://b/lake/t", "s3a://b/lake/t/")
    assert not same_location("s3a://b/lake/t", "s3a://c/lake/t")
    assert not same_location("/lake/silver/orders", "/lake/silver/orders2")
