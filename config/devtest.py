"""`make test`: start the embedded services unless real ones are configured, run pytest,
and stop only what this command started.

pytest runs on every core (pytest-xdist's ``-n auto``, tests handed out by work stealing, each
worker on its own database, cache, channel layer and Celery queue: config/settings/test.py)
unless the arguments choose ``-n`` themselves (``-n 0``: one process). Outside CI it keeps the
test databases between runs (``--reuse-db``; ``--create-db`` rebuilds them); under CI
(``CI`` set) every run builds them afresh."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from config import devservices

ROOT = Path(__file__).resolve().parent.parent


def default_options(args: list[str]) -> list[str]:
    """The options `make test` adds to the caller's pytest arguments."""
    options: list[str] = []
    chooses_workers = any(
        a == "-n" or a.startswith(("-n", "--numprocesses", "--dist")) or a == "no:xdist"
        for a in args
    )
    if not chooses_workers:
        options += ["-n", "auto", "--dist", "worksteal"]
    in_ci = os.environ.get("CI", "").lower() not in ("", "0", "false")
    if not in_ci and "--create-db" not in args:
        options.append("--reuse-db")
    return options


def main() -> int:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    already_running = devservices.ENV_FILE.exists() and devservices.running()
    devservices.up()
    try:
        cmd = [sys.executable, "-m", "pytest", *default_options(sys.argv[1:]), *sys.argv[1:]]
        return subprocess.run(cmd, cwd=ROOT, check=False).returncode  # noqa: S603
    finally:
        if not already_running:
            devservices.down()


if __name__ == "__main__":
    sys.exit(main())
