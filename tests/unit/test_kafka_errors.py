"""The Kafka pre-check's verdicts from Java exception classes, and its secrets kept out."""

from __future__ import annotations

import pytest

from lakehouse.core.errors import ConfigError, ExitCode, TransientError, exit_code_for
from lakehouse.stream.kafka_meta import (
    BrokersUnreachable,
    auth_failure,
    classify,
    redact,
    secrets,
)

SERVERS = "broker-1:9093"
PASSWORD = "hunter2-Secret"
OPTIONS = {
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.jaas.config": (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="ingest" password="{PASSWORD}";'
    ),
    "ssl.truststore.location": "/etc/kafka/truststore.jks",
    "ssl.keystore.password": "keystore-pass",
}
EXECUTION = "java.util.concurrent.ExecutionException"


def chain(*links: tuple[str, str]) -> list[tuple[str, str]]:
    """A cause chain as the admin client's future throws it: ExecutionException outermost."""
    return [(EXECUTION, f"{links[0][0]}: {links[0][1]}"), *links]


@pytest.mark.parametrize(
    "java_class",
    [
        "org.apache.kafka.common.errors.SaslAuthenticationException",
        "org.apache.kafka.common.errors.SslAuthenticationException",
        "org.apache.kafka.common.errors.AuthenticationException",
        "org.apache.kafka.common.errors.AuthorizationException",
        "org.apache.kafka.common.errors.ClusterAuthorizationException",
        "org.apache.kafka.common.errors.TopicAuthorizationException",
    ],
)
def test_refused_credentials_are_a_config_error_anywhere_in_the_chain(java_class):
    short = java_class.rsplit(".", 1)[1]
    error = classify(chain((java_class, "refused")), SERVERS, OPTIONS)
    assert isinstance(error, ConfigError) and exit_code_for(error) == ExitCode.USAGE
    assert str(error).startswith(f"Kafka at {SERVERS}: authentication failed ({short}: refused)")
    assert auth_failure([EXECUTION, "java.lang.RuntimeException", java_class]) == short


def test_the_message_is_one_line_without_a_secret():
    detail = f"Authentication failed for user ingest with password {PASSWORD}\n\tat Foo.bar"
    error = classify(
        chain(("org.apache.kafka.common.errors.SaslAuthenticationException", detail)),
        SERVERS,
        OPTIONS,
    )
    text = str(error)
    assert "\n" not in text and PASSWORD not in text and "****" in text


def test_options_the_client_refuses_are_a_config_error():
    error = classify(
        chain(
            ("org.apache.kafka.common.KafkaException", "Failed to create new KafkaAdminClient"),
            (
                "org.apache.kafka.common.config.ConfigException",
                f"Invalid JAAS line: {OPTIONS['sasl.jaas.config']}",
            ),
        ),
        SERVERS,
        OPTIONS,
    )
    assert isinstance(error, ConfigError)
    assert "the client refuses source.kafka.options (Invalid JAAS line: ****)" in str(error)
    assert PASSWORD not in str(error)


def test_a_timeout_is_an_unreachable_broker_worth_retrying():
    error = classify(
        chain(
            (
                "org.apache.kafka.common.errors.TimeoutException",
                "Timed out waiting for a node assignment. Call: listNodes",
            )
        ),
        SERVERS,
        OPTIONS,
    )
    assert isinstance(error, BrokersUnreachable) and isinstance(error, TransientError)
    assert exit_code_for(error) == ExitCode.TRANSIENT
    assert error.reason == "Timed out waiting for a node assignment. Call: listNodes"
    assert str(error) == f"Kafka at {SERVERS} is unreachable ({error.reason})"


def test_without_a_java_chain_the_python_message_is_the_reason():
    error = classify([], SERVERS, {}, fallback="connection reset")
    assert isinstance(error, BrokersUnreachable) and error.reason == "connection reset"


def test_secrets_are_the_password_options_and_the_passwords_in_jaas_lines():
    found = secrets(OPTIONS)
    assert PASSWORD in found and "keystore-pass" in found
    assert OPTIONS["sasl.jaas.config"] in found
    assert "/etc/kafka/truststore.jks" not in found and "SASL_SSL" not in found
    assert redact(f"user ingest, password {PASSWORD}", found) == "user ingest, password ****"
