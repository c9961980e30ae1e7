"""`make run`: start the services, migrate, load the demo once, and serve everything.

The web server (HTTP + WebSockets), a Celery worker and Celery beat run under honcho.
Ctrl-C stops them, then the embedded PostgreSQL and Redis this command started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from config import devservices

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def _manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True)  # noqa: S603


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    devservices.up()
    try:
        _manage("migrate", "--noinput", "-v", "0")
        _manage("seed_demo")
        port = os.environ.get("TANDEM_PORT", "8000")
        print(
            f"\n  Tandem is starting on http://127.0.0.1:{port}  (Ctrl-C stops everything)\n",
            flush=True,
        )
        honcho = subprocess.Popen(  # noqa: S603
            [str(Path(PY).parent / "honcho"), "-f", "Procfile", "start"], cwd=ROOT
        )
        try:
            honcho.wait()
        except KeyboardInterrupt:
            # The terminal sent SIGINT to the whole group; give honcho time to stop its children.
            honcho.send_signal(signal.SIGINT)
            honcho.wait(timeout=30)
    except KeyboardInterrupt:
        pass
    finally:
        devservices.down()


if __name__ == "__main__":
    main()
