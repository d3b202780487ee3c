"""Config checking follows the dataclasses; docs/config.md is generated from them; category
strings and column names of a user's files are read the way people write them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from genrec.config import ConfigError
from genrec.config_docs import reference, sections
from genrec.data.spec import category_paths, guess, normalise_record
from genrec.run import RunConfig

DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def test_docs_config_md_is_generated_from_the_dataclasses():
    assert DOC.read_text(encoding="utf-8") == reference(), (
        "docs/config.md is out of date: python -m genrec.config_docs > docs/config.md")


def test_every_key_is_documented_with_default_and_meaning():
    text = DOC.read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(" `"): line for line in text.splitlines()
            if line.startswith("| `")}
    for _, kind, _ in sections():
        for f in dataclasses.fields(kind):
            if f.name in ("data", "index", "model", "train", "eval", "level_sizes",
                          "shared_vocab", "n_items"):
                continue
            assert f.name in rows, f.name
            assert not rows[f.name].rstrip().endswith("| — |"), f"{f.name}: no meaning"
    assert "preset" in rows


@pytest.mark.parametrize("raw, key", [
    ({}, "dataset"),
    ({"dataset": "x", "train": {"epochs": "ten"}}, "train.epochs"),
    ({"dataset": "x", "train": {"epochs": 2.5}}, "train.epochs"),
    ({"dataset": "x", "train": {"batch_size": 0}}, "train.batch_size"),
    ({"dataset": "x", "train": {"lr": -1.0}}, "train.lr"),
    ({"dataset": "x", "eval": {"exclude_history": "yes"}}, "eval.exclude_history"),
    ({"dataset": "x", "index": {"levels": 0}}, "index.levels"),
    ({"dataset": "x", "index": {"method": "kmeans"}}, "kmeans"),
    ({"dataset": "x", "model": {"dropout": 1.5}}, "model.dropout"),
    ({"dataset": "x", "model": {"prefix_beam": -1}}, "model.prefix_beam"),
    ({"dataset": "x", "model": {"level_sizes": [4, 4]}}, "level_sizes"),  # set by the index
    ({"dataset": "x", "data": {"interactions": "a.csv"}}, "not both"),
    ({"data": {"k_core": -1}}, "data.k_core"),
    ({"dataset": 5}, "dataset"),
    ({"dataset": "x", "threads": "2"}, "threads"),
])
def test_bad_values_name_the_key(raw, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as err:
        RunConfig.from_dict(raw)
    assert "\n" not in str(err.value)


def test_good_values_pass_and_ints_count_as_floats():
    run = RunConfig.from_dict({"dataset": "movielens-100k", "train": {"lr": 1, "epochs": 3},
                               "model": {"preset": "tiger", "d_model": 64}})
    assert run.train.lr == 1.0 and isinstance(run.train.lr, float)
    assert run.model == {"preset": "tiger", "d_model": 64}
    assert RunConfig.from_dict(run.to_dict()) == run


def test_data_paths_are_read_beside_the_config(tmp_path):
    (tmp_path / "inter.csv").write_text("user,item\na,1\n")
    cfg = tmp_path / "run.toml"
    cfg.write_text('[data]\ninteractions = "inter.csv"\nk_core = 0\n')
    run = RunConfig.from_toml(cfg)
    assert run.data.interactions == str((tmp_path / "inter.csv").resolve())
    cfg.write_text('[data]\ninteractions = "nope.csv"\n')
    with pytest.raises(Exception, match="nope.csv"):
        RunConfig.from_toml(cfg)


@pytest.mark.parametrize("value, paths", [
    ("Beauty > Makeup > Lips", [["Beauty", "Makeup", "Lips"]]),
    ("Comedy|Drama", [["Comedy"], ["Drama"]]),
    ("Beauty > Makeup | Beauty > Skin", [["Beauty", "Makeup"], ["Beauty", "Skin"]]),
    ('["Comedy", "Drama"]', [["Comedy"], ["Drama"]]),
    ([["Beauty", "Makeup"]], [["Beauty", "Makeup"]]),
    (["Comedy", "Drama"], [["Comedy"], ["Drama"]]),
    ("", []), (None, []),
])
def test_category_strings_are_paths_or_lists(value, paths):
    assert category_paths(value) == paths


def test_item_records_get_parsed_categories_and_labels_see_words():
    from genrec.explain import _text_of

    rec = normalise_record({"title": "Lip balm", "genres": "Comedy|Drama"})
    assert rec["genres"] == ["Comedy", "Drama"] and rec["categories"] == [["Comedy"], ["Drama"]]
    text = _text_of({"title": "x", "categories": "Beauty > Makeup > Lips"})
    assert text.cats == {"Beauty": 0, "Makeup": 1, "Lips": 2}  # never {"i": .., "l": ..}


def test_columns_are_guessed_case_and_underscore_blind():
    assert guess(["userId", "movieId", "rating", "timestamp"], ("user", "user_id"), "f",
                 "--user-col") == "userId"
    assert guess(["a", "b"], ("time",), "f", None) is None
    with pytest.raises(Exception, match="--item-col"):
        guess(["a", "b"], ("item",), "f", "--item-col")


@pytest.mark.parametrize("train, named", [
    ("ema = 1.0", "ema"), ("ema = -0.1", "ema"), ("compare_ema = [0.0, 1.5]", "ema"),
    ("ema = 0.999\ncompare_ema = [0.9990001]", "ema"),  # same file name: ema0.999
])
def test_impossible_weight_averages_are_refused_by_name(tmp_path: Path, train: str,
                                                         named: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'dataset = "amazon2014-beauty"\n[train]\n{train}\n')
    with pytest.raises(ConfigError, match=rf"train\W.*{named}"):
        RunConfig.from_toml(cfg)
