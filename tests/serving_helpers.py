"""Start `genrec serve` as a real process on a free loopback port (tests of the service)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from genrec.serve.launch import free_port, start_service

__all__ = ["free_port", "serve"]


def serve(run: Path, port: int) -> subprocess.Popen:
    """The service on `run`, once /health answers (the caller terminates it)."""
    return start_service(run, port, timeout=120)
