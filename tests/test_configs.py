"""Every shipped config parses into one RunConfig and builds a model config."""

from __future__ import annotations

from pathlib import Path

import pytest

from genrec.run import RunConfig

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_parses(path):
    run = RunConfig.from_toml(path)
    assert run.dataset.startswith("amazon2014-") and run.eval.beam >= run.eval.k
    assert RunConfig.from_dict(run.to_dict()) == run  # what a run saves loads back the same


def test_configs_exist():
    assert {p.stem for p in CONFIGS} >= {"beauty", "toys", "quickstart"}
