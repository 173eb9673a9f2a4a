"""Turn the env config into spark-submit options (used by ``spark-submit.sh``).

Prints one argument per line: ``--master``, ``--deploy-mode``, ``--jars`` or
``--packages``, ``--py-files`` (a fresh zip of ``lib/``) and a ``--conf`` pair
for every setting the in-process session builder would set, so both ways of
starting a job run with the same settings. Exit 2 with one line on stderr
when the config is invalid.

With ``--quote -- ARG...`` it prints those arguments as one shell command
line instead, secret-looking ``--conf`` values and URL passwords masked
(``./spark-submit.sh --print-command``).

Usage: python -m lib.submit --job JOB [--env ENV] [--conf-dir DIR] [--zip PATH]
       python -m lib.submit --quote -- ARG...
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import zipfile
from pathlib import Path

from lib import project_root
from lib.config import load_settings
from lib.errors import LakehouseError, exit_code_for, one_line
from lib.session import jar_settings, spark_conf
from lib.typedconf import SECRET_KEY

LIB_DIR = Path(__file__).resolve().parent


def build_lib_zip(target: Path) -> Path:
    """Zip ``lib/`` (sources only) for ``--py-files``; written atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(LIB_DIR.rglob("*.py")):
            if "__pycache__" not in path.parts:
                zf.write(path, Path("lib") / path.relative_to(LIB_DIR))
    tmp.replace(target)
    return target


def submit_args(job: str, env: str | None, conf_dir: str | None, zip_path: Path) -> list[str]:
    """spark-submit options (everything before the application file)."""
    settings = load_settings(env, conf_dir)
    args = ["--master", settings.spark.master, "--deploy-mode", settings.spark.deploy_mode]
    args += ["--name", f"lakehouse-jobs:{job}"]
    jars = jar_settings(settings)
    if "spark.jars.packages" in jars:
        args += ["--packages", jars.pop("spark.jars.packages")]
    if "spark.jars.repositories" in jars:
        args += ["--repositories", jars.pop("spark.jars.repositories")]
    if "spark.jars" in jars:
        args += ["--jars", jars.pop("spark.jars")]
    for key, value in {**jars, **spark_conf(settings, with_jars=False)}.items():
        args += ["--conf", f"{key}={value}"]
    args += ["--py-files", str(build_lib_zip(zip_path))]
    return args


_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def printable_command(argv: list[str]) -> str:
    """``argv`` as one shell-quoted line, with secrets masked.

    Masked: the value of a ``--conf key=value`` or ``KEY=value`` whose key
    looks secret (password, token, secret, jaas, credential, api key, url)
    and the ``user:password@`` part of any URL.
    """
    shown: list[str] = []
    after_conf = False
    for arg in argv:
        text = _USERINFO.sub("****@", arg)
        key, sep, _ = text.partition("=")
        if (
            sep
            and (after_conf or re.fullmatch(r"[A-Z_][A-Z0-9_]*", key))
            and SECRET_KEY.search(key)
        ):
            text = f"{key}=****"
        after_conf = arg == "--conf"
        shown.append(text)
    return shlex.join(shown)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["--quote", "--"]:
        print(printable_command(argv[2:]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m lib.submit")
    parser.add_argument("--job", required=True)
    parser.add_argument("--env")
    parser.add_argument("--conf-dir")
    parser.add_argument("--zip", default=str(project_root() / ".build" / "lib.zip"))
    args = parser.parse_args(argv)
    try:
        out = submit_args(args.job, args.env, args.conf_dir, Path(args.zip))
    except LakehouseError as exc:
        print(f"spark-submit.sh: error: {one_line(exc)}", file=sys.stderr)
        return int(exit_code_for(exc))
    for arg in out:
        if "\n" in arg:
            print(f"spark-submit.sh: error: argument with a line break: {arg!r}", file=sys.stderr)
            return 2
        print(arg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
