"""Download the JVM jars once into .cache/jars, with Maven.

Two separate sets, because the broker and Spark want different kafka-clients:

- ``spark``: Delta and the Kafka connector for the installed pyspark /
  delta-spark, with their transitive runtime dependencies, minus every
  artifact pyspark already ships in ``pyspark/jars`` (so Spark's own Jackson,
  Hadoop, Parquet, ... win);
- ``kafka``: an Apache Kafka broker (``kafka_2.13``) and Kafka's command-line
  tools, for ``scripts/kafka.sh``.
- ``s3a``: Hadoop's S3A connector (``hadoop-aws`` of the Hadoop pyspark ships)
  with the AWS SDK modules it calls, for lakes on ``s3a://`` (minus what
  pyspark ships, as for ``spark``; the SDK's 690 MB ``bundle`` is replaced by
  the few modules S3A uses);
- ``s3server``: S3Proxy, an S3-compatible server on a local folder, for
  ``scripts/s3.sh`` (tests and the S3 demo).

- ``lakehouse``: the project's own JVM code (``jvm/src``), compiled with the
  JDK's javac against Delta and Spark: the Delta LogStore that makes commits
  to a local-file-system lake safe between processes.

Each folder gets a ``manifest.json`` naming what it was built from (Maven
coordinates, or a hash of the sources); a run with the same inputs does
nothing.

Usage: python scripts/resolve_jars.py [spark|kafka|lakehouse|all] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "lib"), str(ROOT)]

from lakehouse.lake import (  # noqa: E402
    LAKEHOUSE_JAR,
    SCALA_BINARY,
    jars_dir,
    s3a_packages,
    spark_hadoop_version,
    spark_packages,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>lakehouse-jobs</groupId>
  <artifactId>jars-{kind}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencyManagement><dependencies>
{managed}
  </dependencies></dependencyManagement>
  <dependencies>
{dependencies}
  </dependencies>
</project>
"""
_VERSIONED_JAR = re.compile(r"^(?P<artifact>.+?)-\d[\w.\-]*\.jar$")


def jvm_pins() -> dict:
    """The ``[tool.lakehouse-jobs.jvm]`` table of pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["lakehouse-jobs"]["jvm"]


def _dependency(coordinate: str, exclusions: list[str]) -> str:
    group, artifact, version = coordinate.split(":")
    excl = "".join(
        f"<exclusion><groupId>{e.split(':')[0]}</groupId>"
        f"<artifactId>{e.split(':')[1]}</artifactId></exclusion>"
        for e in exclusions
    )
    excl_xml = f"<exclusions>{excl}</exclusions>" if excl else ""
    return (
        f"    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
        f"<version>{version}</version>{excl_xml}</dependency>"
    )


def wanted(kind: str) -> tuple[list[str], dict[str, list[str]]]:
    """Coordinates (and per-coordinate exclusions) of one jar set."""
    if kind == "spark":
        return spark_packages(), {}
    pins = jvm_pins()
    if kind == "s3a":
        return s3a_packages(pins["aws_sdk"]), {
            f"org.apache.hadoop:hadoop-aws:{spark_hadoop_version()}": [
                "software.amazon.awssdk:bundle"
            ]
        }
    if kind == "s3server":
        return [f"org.gaul:s3proxy:{pins['s3proxy']}"], {}
    kafka = pins["kafka_broker"]
    coords = [
        f"org.apache.kafka:kafka_{SCALA_BINARY}:{kafka}",
        f"org.apache.kafka:kafka-tools:{kafka}",
        f"org.apache.logging.log4j:log4j-slf4j-impl:{pins['log4j']}",
    ]
    # the tools pull in Kafka Connect's REST server; the topic tools need none of it
    return coords, {coords[1]: ["org.apache.kafka:connect-runtime"]}


def managed(kind: str) -> list[str]:
    """Versions forced over Maven's nearest-wins choice (``dependencyManagement``)."""
    if kind == "s3server":
        # S3Proxy's Jackson 3 needs the annotations of its own line, not the older
        # 2.x one another dependency drags in (NoClassDefFoundError at start)
        version = jvm_pins()["s3proxy_jackson_annotations"]
        return [f"com.fasterxml.jackson.core:jackson-annotations:{version}"]
    return []


def artifact_of(jar_name: str) -> str:
    """``jackson-core-2.21.2.jar`` -> ``jackson-core``."""
    match = _VERSIONED_JAR.match(jar_name)
    return match.group("artifact") if match else jar_name.removesuffix(".jar")


def spark_provided() -> set[str]:
    """Artifacts pyspark already ships (never add a second copy to the classpath)."""
    import pyspark

    folder = Path(pyspark.__file__).parent / "jars"
    provided = {artifact_of(p.name) for p in folder.glob("*.jar")}
    if "jcl-over-slf4j" in provided:  # Spark's bridge already is commons-logging
        provided.add("commons-logging")
    return provided


def resolve(kind: str, force: bool = False) -> Path:
    """Resolve one jar set into ``<cache>/<kind>``; returns the folder."""
    coords, exclusions = wanted(kind)
    recorded = coords + managed(kind)
    target = jars_dir() / kind
    manifest_path = target / "manifest.json"
    if manifest_path.is_file() and not force:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("coordinates") == recorded and all(
            (target / j).is_file() for j in manifest.get("jars", [])
        ):
            print(f"{kind} jars: up to date in {target}")
            return target
    mvn = shutil.which("mvn")
    if mvn is None:
        sys.exit(
            "error: Maven (mvn) is not on PATH; install it (apt-get install maven) or "
            "fetch the jars with Spark's --packages (see docs/platforms.md, jars and versions)"
        )
    print(f"{kind} jars: resolving {', '.join(coords)} from Maven Central ...", flush=True)
    with tempfile.TemporaryDirectory(prefix=f"lakehouse-jars-{kind}-") as tmp:
        pom = Path(tmp) / "pom.xml"
        deps = "\n".join(_dependency(c, exclusions.get(c, [])) for c in coords)
        pins = "\n".join(_dependency(c, []) for c in managed(kind))
        pom.write_text(_POM.format(kind=kind, dependencies=deps, managed=pins))
        out = Path(tmp) / "jars"
        cmd = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={out}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            sys.exit(f"error: Maven could not resolve the {kind} jars:\n{tail}")
        jars = sorted(p.name for p in out.glob("*.jar"))
        if kind in ("spark", "s3a"):
            provided = spark_provided()
            jars = [j for j in jars if artifact_of(j) not in provided]
        staging = target.with_name(f"{kind}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in jars:
            shutil.copy2(out / name, staging / name)
        (staging / "manifest.json").write_text(
            json.dumps({"coordinates": recorded, "jars": jars}, indent=2) + "\n"
        )
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    print(f"{kind} jars: {len(jars)} jars in {target}")
    return target


def build_lakehouse(force: bool = False) -> Path:
    """Compile jvm/src into <cache>/lakehouse/lakehouse-jvm.jar (needs a JDK, not a JRE)."""
    import pyspark

    sources = sorted((ROOT / "jvm" / "src" / "main" / "java").rglob("*.java"))
    digest = hashlib.sha256()
    for src in sources:
        digest.update(src.relative_to(ROOT).as_posix().encode())
        digest.update(src.read_bytes())
    spark_folder = jars_dir() / "spark"
    classpath = [str(p) for p in sorted(spark_folder.glob("delta-storage-*.jar"))]
    if not classpath:
        sys.exit("error: resolve the spark jars first: python scripts/resolve_jars.py spark")
    digest.update(" ".join(Path(c).name for c in classpath).encode())
    inputs = digest.hexdigest()[:16]
    target = jars_dir() / "lakehouse"
    manifest_path = target / "manifest.json"
    if manifest_path.is_file() and not force:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("sources") == inputs and (target / LAKEHOUSE_JAR).is_file():
            print(f"lakehouse jar: up to date in {target}")
            return target
    java_home = os.environ.get("JAVA_HOME")
    javac = str(Path(java_home) / "bin" / "javac") if java_home else shutil.which("javac")
    jar_tool = str(Path(javac).with_name("jar")) if javac else None
    if not javac or not Path(javac).exists() or not jar_tool or not Path(jar_tool).exists():
        sys.exit("error: javac not found: install a JDK 17 (not only a JRE) or set JAVA_HOME")
    classpath.append(str(Path(pyspark.__file__).parent / "jars" / "*"))
    with tempfile.TemporaryDirectory(prefix="lakehouse-jvm-") as tmp:
        classes = Path(tmp) / "classes"
        cmd = [
            javac,
            "--release",
            "17",
            "-nowarn",
            "-cp",
            os.pathsep.join(classpath),
            "-d",
            str(classes),
            *map(str, sources),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.exit(f"error: compiling jvm/src failed:\n{result.stderr.strip()}")
        staging = target.with_name("lakehouse.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        subprocess.run(
            [jar_tool, "cf", str(staging / LAKEHOUSE_JAR), "-C", str(classes), "."], check=True
        )
        (staging / "manifest.json").write_text(
            json.dumps({"sources": inputs, "jars": [LAKEHOUSE_JAR]}, indent=2) + "\n"
        )
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    print(f"lakehouse jar: built {target / LAKEHOUSE_JAR} from {len(sources)} source file(s)")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "which",
        nargs="?",
        default="all",
        choices=["spark", "kafka", "lakehouse", "s3a", "s3server", "all"],
    )
    parser.add_argument("--force", action="store_true", help="resolve again even if cached")
    args = parser.parse_args(argv)
    every = ("spark", "kafka", "lakehouse", "s3a", "s3server")
    kinds = every if args.which == "all" else (args.which,)
    for kind in kinds:
        if kind == "lakehouse":
            build_lakehouse(force=args.force)
        else:
            resolve(kind, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
