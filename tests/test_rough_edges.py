"""Small things a new user meets first: one-line reprs, quiet plots, files with the umask."""

from __future__ import annotations

import logging
import os

import numpy as np

from genrec.data import Dataset
from genrec.io import write_json


def test_dataset_repr_is_one_line():
    ds = Dataset("toy", ["a", "b", "c"], ["u1", "u2"],
                 [np.array([0, 1, 2]), np.array([2, 1, 0])], [])
    assert repr(ds) == "Dataset('toy', users=2, items=3, interactions=6, text=False)"


def test_index_plot_logs_no_categorical_units(tmp_path, caplog):
    from genrec.semantic_ids import IndexConfig, build_index, plot_index

    rng = np.random.default_rng(0)
    index = build_index(IndexConfig(method="random", codebook_size=4, levels=2),
                        [str(i) for i in range(200)], vectors=rng.normal(size=(200, 8)))
    with caplog.at_level(logging.INFO):
        plot_index(index, tmp_path / "index.png")
    assert (tmp_path / "index.png").stat().st_size > 1000
    assert not [r for r in caplog.records if "categorical units" in r.getMessage()]


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~old
