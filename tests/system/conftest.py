"""Fixtures of the system tier: a broker of its own with a SASL listener."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.sasl import SaslBroker, free_port_run


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory) -> Iterator[SaslBroker]:
    """A separate broker (PLAINTEXT + SASL_PLAINTEXT/SCRAM-SHA-512), started once per module."""
    broker = SaslBroker(tmp_path_factory.mktemp("kafka-sasl"), free_port_run(3))
    broker.start()
    yield broker
    broker.stop()
