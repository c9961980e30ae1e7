"""Pick up the embedded services' URLs written by ``python -m config.devservices up``.

Variables already in the environment win, so DATABASE_URL / REDIS_URL point at real servers.
"""

from pathlib import Path

import environ

SERVICES_ENV = Path(__file__).resolve().parent.parent.parent / "var" / "services.env"
if SERVICES_ENV.exists():
    environ.Env.read_env(str(SERVICES_ENV), overwrite=False)
