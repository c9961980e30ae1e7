"""`make test`: start the embedded services unless real ones are configured, run pytest,
and stop only what this command started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from config import devservices

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    already_running = devservices.ENV_FILE.exists() and devservices.running()
    devservices.up()
    try:
        cmd = [sys.executable, "-m", "pytest", *sys.argv[1:]]
        return subprocess.run(cmd, cwd=ROOT, check=False).returncode  # noqa: S603
    finally:
        if not already_running:
            devservices.down()


if __name__ == "__main__":
    sys.exit(main())
