"""The unit tier runs without a JVM: asking for Spark here is a mistake in the test."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    pytest.fail("tests/unit runs without a JVM: move a test that needs Spark to tests/spark")


@pytest.fixture(autouse=True)
def _no_jvm_started():
    """Fails a unit test that starts a JVM.

    The root conftest runs this tier before the others, so no session exists
    yet; should one exist anyway (a test file named on the command line after a
    Spark one), the check compares against what was there before the test.
    """
    from pyspark import SparkContext

    before = SparkContext._active_spark_context
    yield
    after = SparkContext._active_spark_context
    assert after is None or after is before, "a unit test started a JVM"
