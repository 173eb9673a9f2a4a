"""A second test broker with a SASL listener: scripts/kafka.sh with ``KAFKA_SASL_PORT``.

Its own ports (in 39100-39199: PLAINTEXT, controller, SASL_PLAINTEXT in a
row) and data folder, so it never meets the shared test broker. The
PLAINTEXT listener is there for the broker itself and for producing test
events; the jobs under test read through the SCRAM-SHA-512 one.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.env import ROOT

PORTS = range(39100, 39200)
USER = "ingest"
SCRIPT = str(ROOT / "scripts" / "kafka.sh")


def free_port_run(count: int, ports: range = PORTS) -> int:
    """The first port p of ``ports`` with p .. p + count - 1 all free on 127.0.0.1."""
    for first in range(ports.start, ports.stop - count + 1, count):
        if all(_free(port) for port in range(first, first + count)):
            return first
    raise RuntimeError(f"no {count} free ports in a row in {ports.start}-{ports.stop - 1}")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def sasl_options(user_var: str, password_var: str) -> dict[str, str]:
    """A pipeline's ``source.kafka.options`` for SCRAM-SHA-512, credentials from ``${VAR}``."""
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="${{{user_var}}}" password="${{{password_var}}}";'
        ),
    }


@dataclass
class SaslBroker:
    """One broker started by scripts/kafka.sh with a SCRAM-SHA-512 user."""

    folder: Path
    port: int  # PLAINTEXT; the controller listens on port + 1, SASL_PLAINTEXT on port + 2
    user: str = USER
    # unique per run: "the password is in no output" then means something
    password: str = field(default_factory=lambda: f"pw-{secrets.token_hex(12)}")
    started: subprocess.CompletedProcess | None = None  # what `kafka.sh start` printed

    @property
    def plaintext(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl(self) -> str:
        return f"127.0.0.1:{self.port + 2}"

    def env(self) -> dict[str, str]:
        """What scripts/kafka.sh reads, for this broker."""
        return {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.port + 1),
            "KAFKA_SASL_PORT": str(self.port + 2),
            "KAFKA_SASL_USER": self.user,
            "KAFKA_SASL_PASSWORD": self.password,
            "LAKEHOUSE_KAFKA_DIR": str(self.folder),
        }

    def script(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            [SCRIPT, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> None:
        """Start it (kafka.sh waits until it answers); raises if it did not come up."""
        self.started = self.script("start")
        if self.started.returncode != 0:
            raise RuntimeError(
                f"SASL broker did not start:\n{self.started.stdout}\n{self.started.stderr}"
            )

    def stop(self) -> None:
        self.script("stop")
