"""schemathesis against the running service's own OpenAPI schema: every built-in check
(no 5xx, responses match the schema, invalid input rejected, valid input accepted, stateful
add -> get -> delete links), with the repository's schemathesis.toml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from serving_helpers import free_port, serve

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = os.environ.get("GENREC_SCHEMA_EXAMPLES", "25")  # per operation


@pytest.mark.slow
def test_schemathesis_finds_nothing(serving_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(serving_run, run)
    port = free_port()
    proc = serve(run, port)
    try:
        st = Path(sys.executable).with_name("schemathesis")
        done = subprocess.run([str(st), "--config-file", str(ROOT / "schemathesis.toml"), "run",
                               f"http://127.0.0.1:{port}/openapi.json", "--checks", "all",
                               "-n", EXAMPLES, "--seed", "1"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=600)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "No issues found" in done.stdout
