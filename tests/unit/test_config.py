"""The config loader: typed values, overlays, interpolation, and every validation error."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from lakehouse.config import ProcessingTime, load_config, load_pipeline, load_settings
from lakehouse.config.typed import as_plain
from lakehouse.core.durations import Duration
from lakehouse.core.errors import ConfigError, ExitCode
from tests.harness.builders import base_yaml, pipeline_yaml, write_conf

ROOT = Path(__file__).resolve().parents[2]
NO_ENV: dict[str, str] = {}


def load(conf: Path, pipeline: str | None = "orders", env: str = "local", environ=None):
    return load_config(
        pipeline, env=env, conf_dir=conf, environ=NO_ENV if environ is None else environ
    )


def error_of(conf: Path, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(conf, **kwargs)
    assert info.value.exit_code == ExitCode.USAGE
    assert "\n" not in str(info.value), "config errors are one line"
    return info.value


# ---------------------------------------------------------------- the real files


def test_repository_config_loads_into_typed_frozen_objects():
    cfg = load_config("orders", env="local", conf_dir=ROOT / "conf", environ=NO_ENV)
    p = cfg.pipeline
    assert cfg.settings.lake_root == str(ROOT / ".lake")
    assert cfg.settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert p.keys == ("order_id",)
    assert p.stream.watermark == Duration(3600, "1 hour")
    assert p.source.kafka.bootstrap_servers == "127.0.0.1:9092"  # inherited from the env
    assert p.source.kafka.max_offsets_per_trigger == 200000
    assert p.quality[1].min == 0.0 and p.quality[1].on_fail == "quarantine"
    assert p.freshness["bronze.orders"].from_ == "commit"
    assert p.sla["batch_load"].deadline == "06:00"
    assert p.alerts[0].on == ("failure", "sla_miss", "stale", "quality")
    assert not p.alerts[0].active  # ALERT_WEBHOOK_URL unset: the webhook stays quiet
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.settings.spark.conf["spark.master"] = "x"  # type: ignore[index]


def test_cluster_example_needs_its_lake_root_from_the_environment():
    with pytest.raises(
        ConfigError,
        match=r"cluster\.yaml: lake_root: environment variable "
        r"LAKEHOUSE_LAKE_ROOT is not set",
    ):
        load_settings("cluster", ROOT / "conf", environ=NO_ENV)
    settings = load_settings(
        "cluster",
        ROOT / "conf",
        environ={"LAKEHOUSE_LAKE_ROOT": "s3a://bucket/lake", "KAFKA_BOOTSTRAP_SERVERS": "k:9092"},
    )
    assert settings.lake_root == "s3a://bucket/lake"
    assert settings.spark.master == "spark://127.0.0.1:7077"
    assert settings.table_path("silver.orders") == "s3a://bucket/lake/silver/orders"


# ---------------------------------------------------------------- overlays, paths, env


def test_env_overlay_merges_mappings_and_replaces_scalars(tmp_path):
    conf = write_conf(
        tmp_path,
        envs={"local": {}, "big": {"spark": {"master": "local[4]", "conf": {"spark.x": 1}}}},
    )
    settings = load(conf, pipeline=None, env="big").settings
    assert settings.spark.master == "local[4]"
    assert settings.spark.conf["spark.x"] == "1"
    assert settings.spark.conf["spark.sql.shuffle.partitions"] == "1"  # kept from base
    assert settings.env == "big"


def test_relative_lake_root_is_relative_to_the_folder_holding_conf(tmp_path):
    conf = write_conf(tmp_path)
    assert load(conf, pipeline=None).settings.lake_root == str(tmp_path / "lake")
    env = {"LAKEHOUSE_LAKE_ROOT": str(tmp_path / "elsewhere")}
    assert load(conf, pipeline=None, environ=env).settings.lake_root == str(tmp_path / "elsewhere")


def test_lake_paths_follow_table_names(tmp_path):
    settings = load(write_conf(tmp_path), pipeline=None).settings
    lake = str(tmp_path / "lake")
    assert settings.table_path("bronze.orders") == f"{lake}/bronze/orders"
    assert settings.ledger_path == f"{lake}/_ops/runs"
    assert settings.quarantine_path("orders") == f"{lake}/quarantine/orders"
    assert settings.checkpoint_path("orders", "stream_ingest") == (
        f"{lake}/_checkpoints/orders/stream_ingest"
    )


def test_conf_dir_flag_wins_over_environment_variable(tmp_path):
    flag = write_conf(tmp_path / "a", pipelines={"alpha": pipeline_yaml("alpha")})
    from_env = write_conf(tmp_path / "b", pipelines={"beta": pipeline_yaml("beta")})
    environ = {"LAKEHOUSE_CONF_DIR": str(from_env)}
    assert load_config("beta", environ=environ).pipeline.name == "beta"
    assert load_config("alpha", conf_dir=flag, environ=environ).pipeline.name == "alpha"


def test_env_variable_chooses_the_overlay(tmp_path):
    conf = write_conf(tmp_path, envs={"local": {}, "ci": {"spark": {"master": "local[1]"}}})
    settings = load_config(None, conf_dir=conf, environ={"LAKEHOUSE_ENV": "ci"}).settings
    assert settings.env == "ci" and settings.spark.master == "local[1]"


def test_missing_conf_dir_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"config folder .*nope.* does not exist"):
        load_config(None, conf_dir=tmp_path / "nope", environ=NO_ENV)


# ---------------------------------------------------------------- interpolation


def test_interpolation_fills_variables_defaults_and_escapes(tmp_path):
    pipe = pipeline_yaml(
        description="costs $${NOT_A_VAR} and ${WHO:-nobody}",
        source={
            "kafka": {
                "topic": "${TOPIC}",
                "max_offsets_per_trigger": "${MAX:-500}",
                "fail_on_data_loss": "${FAIL_ON_LOSS:-true}",
            }
        },
    )
    conf = write_conf(tmp_path, pipelines={"orders": pipe})
    p = load(conf, environ={"TOPIC": "shop.orders", "FAIL_ON_LOSS": "false"}).pipeline
    assert p.description == "costs ${NOT_A_VAR} and nobody"
    assert p.source.kafka.topic == "shop.orders"
    assert p.source.kafka.max_offsets_per_trigger == 500  # a number, though it came as text
    assert p.source.kafka.fail_on_data_loss is False


def test_missing_environment_variable_without_default(tmp_path):
    pipe = pipeline_yaml(source={"kafka": {"topic": "${ORDERS_TOPIC}"}})
    err = error_of(write_conf(tmp_path, pipelines={"orders": pipe}))
    assert err.file.endswith("pipelines/orders.yaml")
    assert err.key == "source.kafka.topic"
    assert "environment variable ORDERS_TOPIC is not set" in str(err)


def test_unterminated_reference_is_an_error(tmp_path):
    conf = write_conf(tmp_path, pipelines={"orders": pipeline_yaml(description="${OOPS")})
    assert "malformed ${...}" in str(error_of(conf))


def test_interpolated_text_is_not_a_number_where_a_number_is_needed(tmp_path):
    pipe = pipeline_yaml(source={"kafka": {"topic": "t", "max_offsets_per_trigger": "${M}"}})
    err = error_of(write_conf(tmp_path, pipelines={"orders": pipe}), environ={"M": "lots"})
    assert err.key == "source.kafka.max_offsets_per_trigger"
    assert "must be an integer" in str(err)


# ---------------------------------------------------------------- validation errors


def test_unknown_key_names_file_key_path_and_allowed_keys(tmp_path):
    pipe = pipeline_yaml(stream={"watermrk": "1 hour"})
    err = error_of(write_conf(tmp_path, pipelines={"orders": pipe}))
    assert re.fullmatch(
        r".*pipelines/orders\.yaml: stream\.watermrk: unknown key \(allowed here: "
        r"checkpoint, late_events, retry, stop_grace, trigger, watermark\)",
        str(err),
    )


def test_unknown_key_in_the_env_overlay_names_the_overlay_file(tmp_path):
    conf = write_conf(tmp_path, envs={"local": {"spark": {"mastr": "local[1]"}}})
    err = error_of(conf, pipeline=None)
    assert err.file.endswith("local.yaml") and err.key == "spark.mastr"


def test_unknown_top_level_key_in_base(tmp_path):
    err = error_of(write_conf(tmp_path, base=base_yaml(lake="x")), pipeline=None)
    assert err.file.endswith("base.yaml") and err.key == "lake"


def test_missing_required_key(tmp_path):
    pipe = pipeline_yaml()
    del pipe["keys"]
    err = error_of(write_conf(tmp_path, pipelines={"orders": pipe}))
    assert err.key == "keys" and "missing required key" in str(err)


def test_missing_required_key_in_base(tmp_path):
    base = base_yaml()
    del base["lake_root"]
    err = error_of(write_conf(tmp_path, base=base), pipeline=None)
    assert err.key == "lake_root" and err.file.endswith("base.yaml")


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        ({"keys": "order_id"}, "keys", "must be a list of strings, got str 'order_id'"),
        (
            {"source": {"kafka": {"topic": "t", "fail_on_data_loss": "true"}}},
            "source.kafka.fail_on_data_loss",
            "must be true or false, got str 'true'",
        ),
        (
            {"source": {"kafka": {"topic": "t", "max_offsets_per_trigger": 1.5}}},
            "source.kafka.max_offsets_per_trigger",
            "must be an integer",
        ),
        (
            {"silver": {"table": "silver.orders", "mode": "upsert"}},
            "silver.mode",
            "must be one of 'merge' | 'replace_partition' | 'insert_if_absent'",
        ),
        ({"stream": ["watermark"]}, "stream", "must be a mapping, got a list"),
        (
            {"bronze": {"table": "bronze.orders", "keep_raw": "yes"}},
            "bronze.keep_raw",
            "must be true or false, got str 'yes'",
        ),
        ({"stream": {"trigger": "every_minute"}}, "stream.trigger", "must be"),
    ],
)
def test_wrong_types_name_the_key(tmp_path, overrides, key, message):
    err = error_of(write_conf(tmp_path, pipelines={"orders": pipeline_yaml(**overrides)}))
    assert err.key == key
    assert message in str(err)


@pytest.mark.parametrize("bad", ["1 fortnight", "soon", "-5m", "0s", "15"])
def test_bad_duration(tmp_path, bad):
    pipe = pipeline_yaml(stream={"watermark": bad})
    err = error_of(write_conf(tmp_path, pipelines={"orders": pipe}))
    assert err.key == "stream.watermark"
    assert "bad duration" in str(err)


def test_processing_time_trigger_and_durations(tmp_path):
    pipe = pipeline_yaml(
        stream={"watermark": "1h30m", "trigger": {"processing_time": "30 seconds"}}
    )
    stream = load(write_conf(tmp_path, pipelines={"orders": pipe})).pipeline.stream
    assert stream.watermark.seconds == 5400
    assert stream.trigger == ProcessingTime(Duration(30, "30 seconds"))
    assert stream.watermark.spark() == "5400 seconds"


def test_malformed_yaml_names_file_and_line(tmp_path):
    conf = write_conf(tmp_path, pipelines={"orders": "name: orders\nkeys: [order_id\nschema: x\n"})
    err = error_of(conf)
    assert err.file.endswith("pipelines/orders.yaml")
    assert re.search(r"malformed YAML: line \d+, column \d+", str(err))


def test_duplicate_keys_are_refused(tmp_path):
    text = "name: orders\nname: other\n"
    err = error_of(write_conf(tmp_path, pipelines={"orders": text}))
    assert "duplicate key 'name'" in str(err)


def test_top_level_must_be_a_mapping(tmp_path):
    err = error_of(write_conf(tmp_path, pipelines={"orders": "- a\n- b\n"}))
    assert "top level must be a mapping" in str(err)


def test_yaml_on_and_no_stay_strings(tmp_path):
    pipe = pipeline_yaml(
        alerts=[{"sink": "log", "on": ["failure"]}],
        quality=[{"rule": "accepted_values", "column": "status", "values": ["no", "yes", "on"]}],
    )
    p = load(write_conf(tmp_path, pipelines={"orders": pipe})).pipeline
    assert p.alerts[0].on == ("failure",)
    assert p.quality[0].values == ("no", "yes", "on")


@pytest.mark.parametrize(
    ("section", "value", "key"),
    [
        ("bronze", {"table": "bronze.or-ders"}, "bronze.table"),
        ("silver", {"table": "silver..orders"}, "silver.table"),
        ("silver", {"table": "silver.orders; DROP TABLE x"}, "silver.table"),
    ],
)
def test_invalid_identifier_in_a_table_name(tmp_path, section, value, key):
    err = error_of(write_conf(tmp_path, pipelines={"orders": pipeline_yaml(**{section: value})}))
    assert err.key == key and "invalid table name" in str(err)


def test_invalid_kafka_topic(tmp_path):
    pipe = pipeline_yaml(source={"kafka": {"topic": "orders/../x"}})
    err = error_of(write_conf(tmp_path, pipelines={"orders": pipe}))
    assert err.key == "source.kafka.topic" and "invalid Kafka topic" in str(err)


def test_unknown_pipeline_lists_the_known_ones(tmp_path):
    err = error_of(write_conf(tmp_path), pipeline="payments")
    assert "unknown pipeline 'payments'" in str(err) and "orders" in str(err)


@pytest.mark.parametrize("name", ["../orders", "orders.yaml", "", "a b"])
def test_invalid_pipeline_name(tmp_path, name):
    assert "invalid pipeline name" in str(error_of(write_conf(tmp_path), pipeline=name))


def test_pipeline_name_must_match_its_file(tmp_path):
    conf = write_conf(tmp_path, pipelines={"orders": pipeline_yaml("payments")})
    err = error_of(conf)
    assert err.key == "name" and "orders.yaml" in str(err)


def test_unknown_env_lists_the_known_ones(tmp_path):
    err = error_of(write_conf(tmp_path), pipeline=None, env="prod")
    assert "unknown environment 'prod'" in str(err) and "local" in str(err)


# ---------------------------------------------------------------- cross-field checks


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        ({"keys": ["order_id", "oops"]}, "keys[1]", "'oops' is not a column of the schema"),
        ({"event_time": "status"}, "event_time", "must be a TIMESTAMP column"),
        ({"event_time": "when"}, "event_time", "not a column of the schema"),
        ({"schema": "a STRING, b WHATEVER"}, "schema", "unknown type 'WHATEVER'"),
        ({"schema": "a STRING,, b INT"}, "schema", "expected a column name"),
        ({"schema": "a STRING, A INT"}, "schema", "appears twice"),
        ({"silver": {"table": "silver.orders", "order_by": "nope"}}, "silver.order_by", "nope"),
        ({"silver": {"table": "silver.orders", "apply": "fast"}}, "silver.apply", "must be one of"),
        (
            {"silver": {"table": "silver.orders", "mode": "replace_partition", "apply": "merge"}},
            "silver.apply",
            "only applies to `mode: merge`",
        ),
        ({"partition_by": "status"}, "partition_by", "is not a DATE"),
        (
            {"source": {"kafka": {"topic": "a", "pattern": "b.*"}}},
            "source.kafka",
            "exactly one of `topic` and `pattern`",
        ),
        (
            {
                "source": {
                    "kafka": {"topic": "a", "options": {"group.id": "g", "auto.offset.reset": "x"}}
                }
            },
            "source.kafka.options[auto.offset.reset]",
            "starting_offsets",
        ),
        (
            {"source": {"kafka": {"topic": "a", "starting_offsets": "yesterday"}}},
            "source.kafka.starting_offsets",
            "earliest, latest or a JSON",
        ),
        ({"source": {}}, "source", "needs `kafka` or `files`"),
        ({"quality": [{"rule": "range", "column": "amount"}]}, "quality[0]", "needs `min`, `max`"),
        (
            {"quality": [{"rule": "accepted_values", "column": "status"}]},
            "quality[0].values",
            "missing required key",
        ),
        ({"quality": [{"rule": "not_null", "column": "nope"}]}, "quality[0]", "'nope'"),
        (
            {"quality": [{"rule": "not_null", "column": "status", "max": 3}]},
            "quality[0].max",
            "not a key of rule 'not_null'",
        ),
        (
            {"quality": [{"rule": "regex", "column": "status", "pattern": "(["}]},
            "quality[0].pattern",
            "not a valid regular expression",
        ),
        ({"quality": [{"rule": "sometimes"}]}, "quality[0].rule", "must be one of"),
        (
            {"quality": [{"rule": "expression", "name": "x", "expr": "statuz <> 'paid'"}]},
            "quality[0].expr",
            "unknown column(s) statuz",
        ),
        (
            {"quality": [{"rule": "expression", "name": "x", "expr": "status <> 'paid' OR OR"}]},
            "quality[0].expr",
            "not a valid SQL expression",
        ),
        (
            {"quality": [{"rule": "expression", "name": "x", "expr": "amount > 0; drop table t"}]},
            "quality[0].expr",
            "one SQL expression",
        ),
        (
            {"quality": [{"rule": "expression", "name": "x", "expr": "(select 1) = 1"}]},
            "quality[0].expr",
            "not a statement or a query",
        ),
        (
            {
                "quality": [
                    {
                        "rule": "expression",
                        "name": "x",
                        "expr": "java_method('java.lang.System', 'exit', 0) IS NULL",
                    }
                ]
            },
            "quality[0].expr",
            "java_method may not be used",
        ),
        (
            {"quality": [{"rule": "row_count", "min": 1, "on_fail": "quarantine"}]},
            "quality[0].on_fail",
            "can `warn` or `fail`",
        ),
        (
            {"quality": [{"rule": "not_null", "column": "status"}] * 2},
            "quality[1]",
            "'not_null_status' is already used by quality[0]",
        ),
        (
            {"quality": [{"rule": "schema", "expected": {"amount": "DECIMAL(12,"}}]},
            "quality[0].expected.amount",
            "not a Spark type",
        ),
        (
            {"quality": [{"rule": "freshness_of_source", "max_age": "1h", "column": "nope"}]},
            "quality[0]",
            "'nope'",
        ),
        (
            {"freshness": {"gold.orders": {"from": "commit", "warn_after": "1h"}}},
            "freshness[gold.orders]",
            "not a table of this pipeline",
        ),
        (
            {"freshness": {"bronze.orders": {"from": "commit"}}},
            "freshness[bronze.orders]",
            "set `warn_after`",
        ),
        (
            {"freshness": {"bronze.orders": {"from": "kafka_lag", "warn_after": "1h"}}},
            "freshness[bronze.orders].warn_after",
            "message counts",
        ),
        (
            {"sla": {"batch_load": {"deadline": "25:00"}}},
            "sla.batch_load.deadline",
            "invalid time of day",
        ),
        ({"alerts": [{"sink": "file"}]}, "alerts[0]", "a file sink needs `path`"),
        (
            {"stream": {"watermark": "1h"}, "source": {"files": {"path": "x"}}},
            "stream",
            "needs `source.kafka`",
        ),
        (
            {"schema": "order_id STRING, kafka_offset BIGINT, event_time TIMESTAMP"},
            "schema",
            "'kafka_offset' is reserved",
        ),
        ({"partition_by": "ingested_at"}, "partition_by", "reserved"),
        ({"stream": {"retry": {"attempts": 0}}}, "stream.retry.attempts", "at least 1"),
        ({"stream": {"stop_grace": "a while"}}, "stream.stop_grace", "bad duration"),
        (
            {"maintenance": {"vacuum_retention": "2h"}},
            "maintenance.vacuum_retention",
            "shorter than maintenance.longest_job (6h)",
        ),
        (
            {"maintenance": {"closed_after": "1h"}},
            "maintenance.closed_after",
            "not longer than what the stream may still write",
        ),
        (
            {"maintenance": {"log_retention": "3d"}},
            "maintenance.log_retention",
            "shorter than maintenance.vacuum_retention (7d)",
        ),
        (
            {"maintenance": {"zorder_by": {"silver.orders": ["nope"]}}},
            "maintenance.zorder_by[silver.orders]",
            "'nope' is not a column",
        ),
        ({"maintenance": {"vacuum": "sometimes"}}, "maintenance.vacuum", ""),
    ],
)
def test_pipeline_consistency_errors(tmp_path, overrides, key, message):
    err = error_of(write_conf(tmp_path, pipelines={"orders": pipeline_yaml(**overrides)}))
    assert err.key == key, str(err)
    assert message in str(err)


# ---------------------------------------------------------------- derived values


def test_fingerprint_follows_what_shapes_data_only(tmp_path):
    def fingerprint(**overrides):
        conf = write_conf(
            tmp_path / str(len(list(tmp_path.iterdir()))),
            pipelines={"orders": pipeline_yaml(**overrides)},
        )
        return load(conf).pipeline.fingerprint()

    same = fingerprint()
    assert fingerprint(description="new words") == same
    assert fingerprint(sla={"batch_load": {"max_duration": "1h"}}) == same
    assert fingerprint(keys=["order_id", "status"]) != same
    assert fingerprint(silver={"table": "silver.orders", "mode": "replace_partition"}) != same


def test_fingerprint_leaves_out_every_run_only_setting(tmp_path):
    def fingerprint(**overrides):
        conf = write_conf(
            tmp_path / str(len(list(tmp_path.iterdir()))),
            pipelines={"orders": pipeline_yaml(**overrides)},
        )
        return load(conf).pipeline.fingerprint()

    same = fingerprint()
    retry = {"attempts": 9, "base_delay": "2s", "max_delay": "1m"}
    assert fingerprint(backfill={"parallel": 4, "group_days": 3}) == same
    assert (
        fingerprint(freshness={"silver.orders": {"column": "event_time", "warn_after": "1h"}})
        == same
    )
    assert fingerprint(alerts=[{"sink": "log", "on": ["failure"]}]) == same
    # silver reads bronze's declared columns only: keeping the raw value shapes no data
    assert fingerprint(bronze={"table": "bronze.orders", "keep_raw": True}) == same
    assert fingerprint(stream={"watermark": "1 hour", "retry": retry, "stop_grace": "5s"}) == same
    assert (
        fingerprint(silver={"table": "silver.orders", "order_by": "event_time", "retry": retry})
        == same
    )
    assert (
        fingerprint(silver={"table": "silver.orders", "order_by": "event_time", "apply": "rewrite"})
        == same
    )
    assert fingerprint(stream={"watermark": "2 hours"}) != same


def test_the_demo_pipelines_fingerprint_is_stable():
    # Checkpoints and every loaded date are keyed by it: a refactor of the
    # config model that changes it would make every stream refuse its
    # checkpoint and every backfill load everything again.
    pipeline = load_config("orders", conf_dir=ROOT / "conf", environ=NO_ENV).pipeline
    assert pipeline.fingerprint() == "cfede32e687b8ca7"


def test_secrets_are_masked_in_plain_output(tmp_path):
    pipe = pipeline_yaml(
        source={
            "kafka": {
                "topic": "t",
                "options": {"sasl.jaas.config": "${JAAS}", "security.protocol": "SASL_SSL"},
            }
        },
        alerts=[{"sink": "webhook", "url": "${HOOK}"}],
    )
    env = {"JAAS": "user=u password=hunter2", "HOOK": "https://hooks.example/T000/secret"}
    p = load(write_conf(tmp_path, pipelines={"orders": pipe}), environ=env).pipeline
    assert p.source.kafka.options["sasl.jaas.config"] == "user=u password=hunter2"
    text = str(as_plain(p))
    assert "hunter2" not in text and "T000" not in text
    assert "SASL_SSL" in text
    assert as_plain(p, secrets=True)["alerts"][0]["url"] == env["HOOK"]


def test_load_pipeline_uses_the_settings_folder(tmp_path):
    conf = write_conf(tmp_path)
    settings = load(conf, pipeline=None).settings
    assert load_pipeline("orders", settings, environ=NO_ENV).bronze.table == "bronze.orders"
