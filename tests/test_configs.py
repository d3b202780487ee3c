"""Every shipped config parses: run configs into one RunConfig, baseline configs (sasrec-*)
into a BaselineConfig."""

from __future__ import annotations

from pathlib import Path

import pytest

from genrec.baselines.run import BaselineConfig
from genrec.run import RunConfig

ROOT = Path(__file__).resolve().parents[1] / "configs"
DATASETS = {"beauty": "amazon2014-beauty", "toys": "amazon2014-toys",
            "sports": "amazon2014-sports", "quickstart": "amazon2014-beauty",
            "ml1m": "movielens-1m", "ml100k": "movielens-100k"}
CONFIGS = sorted(p for p in ROOT.glob("*.toml") if not p.stem.startswith("sasrec-"))
BASELINES = sorted(ROOT.glob("sasrec-*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_parses(path):
    run = RunConfig.from_toml(path)
    assert run.dataset == DATASETS[path.stem] and run.eval.beam >= run.eval.k
    assert RunConfig.from_dict(run.to_dict()) == run  # what a run saves loads back the same


@pytest.mark.parametrize("path", BASELINES, ids=[p.stem for p in BASELINES])
def test_baseline_config_parses(path):
    cfg = BaselineConfig.from_toml(path)
    assert cfg.dataset == DATASETS[path.stem.removeprefix("sasrec-")]
    assert cfg.model.d_model % cfg.model.n_heads == 0 and cfg.train.max_minutes > 0


def test_configs_exist():
    assert {p.stem for p in CONFIGS} >= {"beauty", "toys", "sports", "quickstart", "ml100k"}
    assert {p.stem for p in BASELINES} >= {"sasrec-beauty", "sasrec-toys", "sasrec-sports"}
