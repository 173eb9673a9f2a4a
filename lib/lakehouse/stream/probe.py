"""Is a Kafka broker answering? A stdlib-only probe speaking the Kafka protocol.

It sends ``ApiVersions`` (v0) and ``Metadata`` (v0) requests and reads the
answers, so it proves a real broker is up and has registered itself, not just
that a port is open. It speaks PLAINTEXT (or TLS without a client
certificate) only, no SASL.

Kept as the readiness probe of ``scripts/kafka.sh`` (and of the test
fixtures that start that broker): it waits for the broker the script started
on its PLAINTEXT listener, in a second, with no JVM and no Kafka client
library. The jobs and ``doctor`` do not use it: they check brokers with the
real Kafka client and the pipeline's security options
(:func:`lakehouse.stream.kafka_meta.check_brokers`).

Usage: python -m lakehouse.stream.probe HOST:PORT[,HOST:PORT...] [--wait SECONDS] [--tls]
"""

from __future__ import annotations

import argparse
import socket
import ssl
import struct
import sys
import time
from dataclasses import dataclass

_API_METADATA = 3
_API_VERSIONS = 18
_CLIENT_ID = b"lakehouse-probe"


@dataclass(frozen=True)
class ProbeResult:
    """What one bootstrap server answered."""

    server: str
    ok: bool
    detail: str
    brokers: int = 0


def parse_bootstrap(servers: str) -> list[tuple[str, int]]:
    """``"a:9092,b:9093"`` -> ``[("a", 9092), ("b", 9093)]``; raises ValueError."""
    result = []
    for item in (s.strip() for s in servers.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bad bootstrap server {item!r}: use host:port")
        result.append((host.strip("[]"), int(port)))
    if not result:
        raise ValueError("no bootstrap servers given")
    return result


def _request(sock: socket.socket, api_key: int, correlation: int, body: bytes = b"") -> bytes:
    header = struct.pack(">hhih", api_key, 0, correlation, len(_CLIENT_ID)) + _CLIENT_ID
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", _read(sock, 4))[0]
    data = _read(sock, size)
    if struct.unpack(">i", data[:4])[0] != correlation:
        raise ConnectionError("answer does not match the request (not a Kafka broker?)")
    return data[4:]


def _read(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed by the server")
        chunks += chunk
    return bytes(chunks)


def probe_server(host: str, port: int, timeout: float = 3.0, tls: bool = False) -> ProbeResult:
    """Probe one server; never raises, the result says what happened."""
    name = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            raw.settimeout(timeout)
            sock: socket.socket = raw
            if tls:
                # reachability only: whether the certificate is trusted is the
                # job's business (it has the truststore), not the probe's
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(raw, server_hostname=host)
            answer = _request(sock, _API_VERSIONS, 1)
            error_code = struct.unpack(">h", answer[:2])[0]
            if error_code != 0:
                return ProbeResult(name, False, f"ApiVersions error code {error_code}")
            answer = _request(sock, _API_METADATA, 2, struct.pack(">i", 0))
            brokers = struct.unpack(">i", answer[:4])[0]
    except (OSError, ConnectionError, struct.error) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return ProbeResult(name, False, reason.lower() if reason else "no answer")
    if brokers < 1:
        return ProbeResult(name, False, "broker answers but has not registered yet")
    return ProbeResult(
        name, True, f"Kafka broker answers ({brokers} broker(s) in the cluster)", brokers
    )


def probe(servers: str, timeout: float = 3.0, tls: bool = False) -> ProbeResult:
    """The first bootstrap server that answers, or the last failure."""
    result = ProbeResult(servers, False, "no servers")
    for host, port in parse_bootstrap(servers):
        result = probe_server(host, port, timeout, tls)
        if result.ok:
            return result
    return result


def wait_until_ready(servers: str, wait: float, tls: bool = False) -> ProbeResult:
    """Probe every half second until a broker answers or ``wait`` seconds pass."""
    deadline = time.monotonic() + wait
    while True:
        result = probe(servers, timeout=min(3.0, max(wait, 0.5)), tls=tls)
        if result.ok or time.monotonic() >= deadline:
            return result
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakehouse.stream.probe", description=__doc__)
    parser.add_argument("servers", help="bootstrap servers, host:port[,host:port]")
    parser.add_argument("--wait", type=float, default=0.0, help="keep trying for this long")
    parser.add_argument("--tls", action="store_true", help="the listener speaks TLS")
    args = parser.parse_args(argv)
    try:
        result = wait_until_ready(args.servers, args.wait, args.tls)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{result.server}: {result.detail}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
