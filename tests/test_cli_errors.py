"""Every user mistake the CLI meets ends in one line on stderr that names the file or option,
a non-zero exit code, and no traceback."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import pytest
from conftest import genrec_cli

pytestmark = pytest.mark.slow


def _one_line_error(done, *names: str) -> str:
    assert done.returncode != 0, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and lines[0].startswith("error: ")
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


@pytest.mark.parametrize("config, key", [
    ("[train]\nepochs = 3\n", "dataset"),  # no data: used to train on Beauty silently
    ('dataset = "movielens-100k"\n[train]\nepochs = "ten"\n', "train.epochs"),
    ('dataset = "movielens-100k"\n[train]\nbatch_size = 0\n', "train.batch_size"),
    ('dataset = "movielens-100k"\n[index]\nlevels = 0\n', "index.levels"),
    ('dataset = "movielens-100k"\n[index]\ncodebook_size = 0\n', "index.codebook_size"),
    ('dataset = "movielens-100k"\n[eval]\nbeam = 0\n', "eval.beam"),
    ('dataset = "movielens-100k"\n[model]\npreset = "huge"\n', "model.preset"),
    ('dataset = "movielens-100k"\n[model]\nd_modl = 64\n', "d_modl"),
    ('dataset = "movielens-100k"\n[train\n', "not valid TOML"),
])
def test_bad_configs_fail_before_any_work(tmp_path, config, key):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(config)
    start = time.perf_counter()
    done = genrec_cli("run", "--config", str(cfg), "--out", str(tmp_path / "run"))
    _one_line_error(done, key, str(cfg))
    assert not (tmp_path / "run").exists()  # nothing built: the index would take minutes
    assert time.perf_counter() - start < 30


@pytest.mark.parametrize("key", ["generated_levels", "loss_levels"])
def test_model_levels_beyond_the_index_are_named(tmp_path, data_root, key):
    """Checked once the index says how many levels there are (random codes: seconds)."""
    cfg = tmp_path / "levels.toml"
    cfg.write_text('dataset = "movielens-100k"\n[index]\nmethod = "random"\ncodebook_size = 16\n'
                   f"[model]\nitem_loss = 1.0\n{key} = 9\n")
    done = genrec_cli("run", "--config", str(cfg), "--out", str(tmp_path / "run"),
                      "--data-dir", str(data_root))
    _one_line_error(done, f"model.{key}")


@pytest.mark.parametrize("args, names", [
    (("recommend", "--history", "1", "-k", "0"), ("-k",)),
    (("recommend", "--history", "1", "--beam", "0"), ("--beam",)),
    (("index", "--dataset", "movielens-100k", "--out", "{tmp}/i", "--codebook-size", "0"),
     ("--codebook-size",)),
    (("index", "--dataset", "movielens-100k", "--out", "{tmp}/i", "--levels", "0"),
     ("--levels",)),
    (("recommend", "--history", "1"), ("--run",)),
    (("stats", "--interactions", "{tmp}/missing.csv"), ("missing.csv",)),
    (("run", "--interactions", "{tmp}/missing.csv", "--out", "{tmp}/r"), ("missing.csv",)),
    (("frobnicate",), ("frobnicate",)),
])
def test_bad_options_name_the_option(tmp_path, args, names):
    done = genrec_cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    _one_line_error(done, *names)


def test_a_missing_run_says_so(tmp_path):
    for command in (("recommend", "--history", "1"), ("explain", "--item", "1"),
                    ("evaluate",), ("serve",), ("items", "--search", "x")):
        done = genrec_cli(command[0], "--run", str(tmp_path / "nope"), *command[1:])
        _one_line_error(done, f"no run at {tmp_path / 'nope'}")


@pytest.mark.parametrize("name", ["config.json", "model.json", "index/index.json",
                                  "items.json"])
def test_a_corrupt_run_file_is_named(own_run, tmp_path, name):
    run = tmp_path / "run"
    shutil.copytree(own_run[0], run)
    (run / name).write_text('{"oops": ')
    done = genrec_cli("recommend", "--run", str(run), "--history", "1,2")
    _one_line_error(done, str(run / name))


def test_explain_unknown_item_without_stray_quotes(own_run):
    line = _one_line_error(genrec_cli("explain", "--run", str(own_run[0]), "--item", "999999"),
                           "--item", "'999999'")
    assert line.startswith("error: --item")


def test_user_mistakes_on_a_run(own_run, tmp_path):
    run = own_run[0]
    _one_line_error(genrec_cli("recommend", "--run", str(run), "--history", "1,nope"), "nope")
    _one_line_error(genrec_cli("recommend", "--run", str(run), "--user", "no-such-user"),
                    "--user", "no-such-user")
    _one_line_error(genrec_cli("recommend", "--run", str(run), "--history", "1", "--user",
                               "196"), "--history", "--user")
    _one_line_error(genrec_cli("remove-items", "--run", str(run), "--ids", "nope"), "nope")


def test_index_will_not_overwrite_an_index_or_a_file(own_run, tmp_path):
    done = genrec_cli("index", "--dataset", "movielens-100k", "--out", str(own_run[0] / "index"))
    _one_line_error(done, "--out", "already holds an index")
    done = genrec_cli("index", "--dataset", "movielens-100k", "--out",
                      str(own_run[0] / "items.json"))
    _one_line_error(done, "--out", "is a file")


def test_add_items_checks_its_file_before_loading_the_encoder(own_run, tmp_path):
    bad = tmp_path / "new.jsonl"
    for text, name in (('{"id": "x", "title": "ok"}\n{"id": "y", "title": ', "not JSON"),
                       ('{"id": "x"}\n', "title"), ('[{"id": "1", "title": "again"}]', "'1'")):
        bad.write_text(text)
        start = time.perf_counter()
        done = genrec_cli("add-items", "--run", str(own_run[0]), "--items", str(bad))
        _one_line_error(done, name)
        assert time.perf_counter() - start < 25  # the text encoder alone takes longer cold
    assert not (own_run[0] / "catalog.sqlite").exists()


def test_a_busy_port_is_named_before_serving(own_run):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = genrec_cli("serve", "--run", str(own_run[0]), "--port", str(port), timeout=120)
    _one_line_error(done, f"--port {port}")
    assert "serving" not in done.stdout


def test_version_and_quiet_everywhere():
    done = genrec_cli("--version")
    assert done.returncode == 0 and done.stdout.startswith("genrec ")
    for command in ("index", "embed", "download", "stats", "train", "evaluate", "recommend",
                    "explain", "items", "add-items", "remove-items", "serve", "run", "baseline"):
        helped = genrec_cli(command, "--help", env={"COLUMNS": "200"})
        assert helped.returncode == 0 and "--quiet" in helped.stdout, command


def test_files_follow_the_umask(own_run):
    run = Path(own_run[0])
    for name in ("config.json", "items.json", "metrics.json", "index/index.json"):
        assert (run / name).stat().st_mode & 0o044 == 0o044 or _umask_hides_it(), name
    assert json.loads((run / "config.json").read_text())["data"]["interactions"]


def _umask_hides_it() -> bool:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return bool(mask & 0o044)
