#!/usr/bin/env python3
"""A stand-in for spark-submit against YARN in cluster deploy mode.

No YARN cluster can run on the test machine, so this script plays the part
YARN plays for ``./spark-submit.sh``, and nothing more: it takes the exact
command line the launcher built for ``--master yarn --deploy-mode cluster``,
runs the driver the way a YARN container would — in its own working folder
with the ``--archives`` unpacked there, with only the environment that
``spark.yarn.appMasterEnv.*`` gives it, its output in a container log, not
on the submitter's terminal — using the real spark-submit in local mode, and
then, like YARN's client, exits only 0 (application SUCCEEDED) or 1 (FAILED).

Environment: ``REAL_SPARK_SUBMIT`` (the real launcher), ``STANDIN_DIR`` (where
containers and the call log go), ``STANDIN_LOSE_DRIVER=1`` (the application
fails before its driver starts).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

APP_MASTER_ENV = "spark.yarn.appMasterEnv."
KEPT = ("PATH", "HOME", "JAVA_HOME", "PYSPARK_PYTHON", "LANG")


def main(argv: list[str]) -> int:
    base = Path(os.environ["STANDIN_DIR"])
    container = base / f"container-{uuid.uuid4().hex[:8]}"
    container.mkdir(parents=True)
    with (base / "calls.jsonl").open("a") as calls:
        calls.write(json.dumps(argv) + "\n")
    if os.environ.get("STANDIN_LOSE_DRIVER") == "1":
        return 1
    env = {k: os.environ[k] for k in KEPT if k in os.environ}
    args: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        value = argv[i + 1] if i + 1 < len(argv) else ""
        if arg == "--master" and value == "yarn":
            args += ["--master", "local[2]"]
        elif arg == "--deploy-mode" and value == "cluster":
            args += ["--deploy-mode", "client"]
        elif arg == "--archives":
            for item in value.split(","):
                path, _, alias = item.partition("#")
                with zipfile.ZipFile(path) as zf:
                    zf.extractall(container / (alias or Path(path).name))
        elif arg == "--conf" and value.startswith(APP_MASTER_ENV):
            name, _, setting = value[len(APP_MASTER_ENV) :].partition("=")
            env[name] = setting
            args += [arg, value]
        else:
            args.append(arg)
            i += 1
            continue
        i += 2
    with (container / "driver.log").open("w") as log:
        status = subprocess.call(
            [os.environ["REAL_SPARK_SUBMIT"], *args],
            cwd=container,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
