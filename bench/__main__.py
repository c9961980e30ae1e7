"""Run every benchmark: ``python -m bench`` (all) or ``python -m bench audit_log`` (some).

Uses DJANGO_SETTINGS_MODULE (default ``config.settings.local``: the embedded PostgreSQL that
``python -m config.devservices up`` starts) and prints the machine it ran on first.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys
import time
from pathlib import Path


def _machine() -> list[str]:
    from django.db import connection

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    total = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    # Benchmarks switch to scratch databases by name; a connection pool opened here would keep
    # handing out connections to this one.
    connection.close()
    if hasattr(connection, "close_pool"):
        connection.close_pool()
    return [
        f"cpus (nproc): {os.cpu_count()}",
        f"memory: {total}",
        f"cpu model: {cpu}",
        f"postgresql: {pg}",
        f"python: {platform.python_version()}",
    ]


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()

    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    wanted = argv or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(names)}")
        return 2
    print("== machine")
    for line in _machine():
        print(f"  {line}")
    started = time.perf_counter()
    for name in wanted:
        print(f"\n== bench.{name}")
        module = importlib.import_module(f"bench.{name}")
        module.run()
    print(f"\nall benchmarks done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
