"""Start `genrec serve` as a child process and wait until it answers: for load tests, the
schema tests and anyone scripting the service."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from genrec.errors import GenrecError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(run: str | Path, port: int, threads: int = 1, extra: tuple[str, ...] = (),
                  env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.Popen:
    """`genrec serve --run RUN` on 127.0.0.1:port, returned once GET /health is 200 (the
    caller terminates it). GenrecError with the service's stderr if it does not come up."""
    import httpx

    env = {**os.environ, "GENREC_QUIET": "1", "OMP_NUM_THREADS": str(threads), **(env or {})}
    cmd = [sys.executable, "-m", "genrec.cli", "serve", "--run", str(run), "--host",
           "127.0.0.1", "--port", str(port), "--threads", str(threads), *extra]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise GenrecError(f"service did not start: {proc.stderr.read().decode()[-3000:]}")
