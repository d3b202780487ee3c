"""A user's own files through the CLI only: MovieLens-100k's raw files rewritten as CSV and
Parquet, `genrec run --interactions --items`, then evaluate, recommend, explain, serve and the
two-line Python API on that run (one shared run: conftest.own_run)."""

from __future__ import annotations

import ast
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import genrec_cli

from genrec.explain import SEP

pytestmark = pytest.mark.slow


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_run_on_own_files_in_budget_and_remembers_its_data(own_run, ml100k_files):
    run, seconds = own_run
    assert seconds < 180, f"genrec run took {seconds:.0f} s"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["dataset"] is None
    assert cfg["data"]["interactions"] == str(ml100k_files["interactions"].resolve())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_users"] == 943 and metrics["invalid_rate"] == 0.0
    assert (run / "index" / "labels.json").exists()  # made at training, read later


def test_evaluate_writes_each_users_rank(own_run, tmp_path):
    run, _ = own_run
    ranks = tmp_path / "ranks.csv"
    done = genrec_cli("evaluate", "--run", str(run), "--metrics-file", "metrics_again.json",
                      "--per-user", str(ranks), "-q")
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    rows = list(csv.DictReader(ranks.open()))
    assert len(rows) == 943 and set(rows[0]) == {"user", "target", "rank"}
    hits = [int(r["rank"]) for r in rows if r["rank"]]
    assert all(1 <= h <= 10 for h in hits)
    assert abs(len(hits) / 943 - metrics["recall@10"]) < 1e-4


def test_recommend_json_and_by_user(own_run):
    run, _ = own_run
    done = genrec_cli("recommend", "--run", str(run), "--history", "1,2,3", "-k", "5", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    ids = [it["id"] for it in answer["items"]]
    scores = [it["score"] for it in answer["items"]]
    assert len(ids) == 5 and not set(ids) & {"1", "2", "3"} and scores == sorted(scores)[::-1]
    assert answer["score"].startswith("score: ")
    user = genrec_cli("recommend", "--run", str(run), "--user", "196", "-k", "3")
    lines = user.stdout.strip().splitlines()
    assert user.returncode == 0 and lines[0].split()[:3] == ["rank", "id", "score"]
    assert [line.split()[0] for line in lines[1:4]] == ["1", "2", "3"]
    assert lines[-1].startswith("score: ")


def test_explanations_read_genres_not_characters(own_run):
    run, _ = own_run
    labels = json.loads((run / "index" / "labels.json").read_text())["labels"]
    assert labels and all(len(name) > 1 for name in labels.values())
    genres = {"Action", "Comedy", "Drama", "Thriller", "Romance", "Children's", "Horror",
              "Animation", "Sci-Fi", "War", "Adventure", "Crime", "Documentary", "Musical"}
    assert genres & set(labels.values())  # genre strings became labels
    for item in ("1", "50", "181"):
        done = genrec_cli("explain", "--run", str(run), "--item", item, "--json")
        assert done.returncode == 0, done.stderr
        path = json.loads(done.stdout)["path"].split(SEP)
        assert all(len(part) > 1 for part in path[:-1]) and path[-1].startswith("#")


def test_read_only_commands_write_nothing(own_run, tmp_path):
    run, _ = own_run
    before = _files(run)
    for args in (("explain", "--item", "1"), ("explain", "--item", "1", "--plot",
                                              str(tmp_path / "h.png")),
                 ("recommend", "--history", "1,2", "--explain"),
                 ("items", "--search", "star wars")):
        done = genrec_cli(args[0], "--run", str(run), *args[1:])
        assert done.returncode == 0, done.stderr
    assert _files(run) == before
    found = genrec_cli("items", "--run", str(run), "--search", "star wars", "--json")
    assert {"id": "50", "title": "Star Wars"} in json.loads(found.stdout)


def test_parquet_files_read_like_csv(ml100k_files):
    csv_stats = genrec_cli("stats", "--interactions", str(ml100k_files["interactions"]),
                           "--items", str(ml100k_files["items"]), env={"GENREC_QUIET": "0"})
    pq_stats = genrec_cli("stats", "--interactions", str(ml100k_files["interactions_parquet"]),
                          "--items", str(ml100k_files["items_parquet"]))
    assert csv_stats.returncode == 0 and pq_stats.returncode == 0, pq_stats.stderr
    a, b = json.loads(csv_stats.stdout), json.loads(pq_stats.stdout)
    assert {**a, "name": ""} == {**b, "name": ""} and a["users"] == 943
    assert "5-core filter: dropped 0 of 943 users, 333 of 1682 items" in csv_stats.stderr


def test_a_small_catalogue_gets_a_smaller_codebook(ml100k_files, tmp_path):
    """81 items: the default 256 codes per level cannot be fitted; the index says what it
    used instead of failing in k-means."""
    rows = list(csv.reader(ml100k_files["interactions"].open()))
    keep = {str(i) for i in range(1, 82)}
    small = tmp_path / "small.csv"
    with small.open("w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + [r for r in rows[1:] if r[1] in keep])
    done = genrec_cli("index", "--interactions", str(small), "--items",
                      str(ml100k_files["items"]), "--method", "rkmeans", "--out",
                      str(tmp_path / "idx"))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["n_items"] == 81 and summary["codebook_size"] == 16
    assert "using codebook_size = 16" in done.stderr


def test_python_api_in_two_lines(own_run):
    run, _ = own_run
    code = f"import genrec; r = genrec.load({str(run)!r}); print(r.recommend(['1','2'], k=5))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"GENREC_QUIET": "1", "OMP_NUM_THREADS": "1", "PATH": ""},
                         check=True).stdout
    items = ast.literal_eval(out.strip())
    assert len(items) == 5 and {"id", "title", "score"} <= set(items[0])


def test_cli_and_api_agree_on_the_live_catalogue(own_run, tmp_path):
    """What `genrec recommend` answers, genrec.load(...).recommend answers: a removed item
    never comes back, an added one reads in a history."""
    import genrec

    run = tmp_path / "run"
    shutil.copytree(own_run[0], run)
    top = json.loads(genrec_cli("recommend", "--run", str(run), "--history", "1,2",
                                "--json").stdout)["items"][0]["id"]
    removed = genrec_cli("remove-items", "--run", str(run), "--ids", top)
    assert removed.returncode == 0 and f"removed 1 item(s): {top}" in removed.stdout
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps({"id": "new-1", "title": "Toy Story 3 (2010)",
                               "genres": "Animation|Children's|Comedy"}) + "\n")
    added = genrec_cli("add-items", "--run", str(run), "--items", str(new))
    assert added.returncode == 0, added.stderr
    cli = json.loads(genrec_cli("recommend", "--run", str(run), "--history", "1,2,new-1",
                                "--json").stdout)["items"]
    with genrec.load(run) as rec:
        api = rec.recommend(["1", "2", "new-1"], k=10)
        assert top not in [it["id"] for it in rec.recommend(["1", "2"], k=10)]
        assert rec.explain("new-1").split(SEP)[-1].startswith("#")
    assert [it["id"] for it in api] == [it["id"] for it in cli] and top not in cli
