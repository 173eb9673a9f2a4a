"""The unit tier runs without a JVM: asking for Spark here is a mistake in the test."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    pytest.fail("tests/unit runs without a JVM: move a test that needs Spark to tests/spark")


@pytest.fixture(autouse=True)
def _no_jvm_started():
    yield
    from pyspark import SparkContext

    assert SparkContext._active_spark_context is None, "a unit test started a JVM"
