"""ConstraintIndex: CSR tables against a Python dict trie, item_of, active masks, 1M build."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genrec.decode import ConstraintIndex


@st.composite
def catalogues(draw: st.DrawFn) -> tuple[np.ndarray, list[int]]:
    n_levels = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 7), min_size=n_levels, max_size=n_levels))
    total = math.prod(sizes)
    flat = draw(
        st.lists(st.integers(0, total - 1), min_size=1, max_size=min(80, total), unique=True)
    )
    strides = [math.prod(sizes[i + 1 :]) for i in range(n_levels)]
    codes = [[(f // s) % v for s, v in zip(strides, sizes, strict=True)] for f in flat]
    return np.array(codes, dtype=np.int64), sizes


def dict_trie(codes: np.ndarray) -> dict[tuple[int, ...], set[int]]:
    """prefix -> set of next tokens (the obviously-correct trie)."""
    trie: dict[tuple[int, ...], set[int]] = {}
    for row in codes.tolist():
        for lvl in range(len(row)):
            trie.setdefault(tuple(row[:lvl]), set()).add(row[lvl])
    return trie


@settings(max_examples=80, deadline=None)
@given(catalogues(), st.integers(0, 2**31 - 1), st.booleans())
def test_csr_matches_dict_trie(cat: tuple[np.ndarray, list[int]], seed: int, dense: bool) -> None:
    codes, sizes = cat
    active = np.random.default_rng(seed).random(len(codes)) < 0.7
    index = ConstraintIndex.build(codes, sizes, active=active, dense_limit=2**22 * dense)
    trie = dict_trie(codes)
    rows = codes.tolist()
    for lvl in range(len(sizes)):
        # prefix of each node, read back from item_node; parents likewise (root for level 0).
        prefix = {int(index.item_node[lvl][i]): tuple(r[: lvl + 1]) for i, r in enumerate(rows)}
        assert sorted(prefix) == list(range(index.n_nodes[lvl]))
        parents = (
            {0: ()}
            if lvl == 0
            else {int(index.item_node[lvl - 1][i]): tuple(r[:lvl]) for i, r in enumerate(rows)}
        )
        ptr, tok = index.row_ptr[lvl], index.child_token[lvl]
        assert len(ptr) == len(parents) + 1
        for p, pre in parents.items():
            kids = range(ptr[p], ptr[p + 1])
            assert [int(tok[e]) for e in kids] == sorted(trie[pre])  # sorted, exact child set
            assert all(prefix[int(index.child_node(lvl)[e])] == (*pre, int(tok[e])) for e in kids)
        assert index.max_children[lvl] == max(len(trie[pre]) for pre in parents.values())
        for node, pre in prefix.items():
            under = [a for r, a in zip(rows, active, strict=True) if tuple(r[: lvl + 1]) == pre]
            want = sum(bool(a) for a in under)
            assert index.subtree_items[lvl][node] == want
        if index.dense[lvl] is not None:
            for p, pre in parents.items():
                for t in range(sizes[lvl]):
                    want = next((n for n, q in prefix.items() if q == (*pre, t)), -1)
                    assert index.dense[lvl][p, t] == want
    assert [int(index.leaf_item[index.item_node[-1][i]]) for i in range(len(rows))] == list(
        range(len(rows))
    )


@settings(max_examples=80, deadline=None)
@given(catalogues(), st.integers(0, 2**31 - 1))
def test_item_of_round_trip_and_invalid(cat: tuple[np.ndarray, list[int]], seed: int) -> None:
    codes, sizes = cat
    active = np.random.default_rng(seed).random(len(codes)) < 0.5
    index = ConstraintIndex.build(codes, sizes, active=active)
    assert index.item_of(torch.from_numpy(codes)).tolist() == list(range(len(codes)))
    on = index.item_of(torch.from_numpy(codes), active_only=True).tolist()
    assert on == [i if a else -1 for i, a in enumerate(active)]
    lookup = {tuple(r): i for i, r in enumerate(codes.tolist())}
    rng = np.random.default_rng(seed)
    probe = rng.integers(-1, np.array(sizes) + 1, size=(7, 5, len(sizes)))  # some out of range
    got = index.item_of(torch.from_numpy(probe))
    assert got.shape == (7, 5)
    want = [lookup.get(tuple(t), -1) for t in probe.reshape(-1, len(sizes)).tolist()]
    assert got.flatten().tolist() == want


def test_with_active_recounts_without_rebuilding() -> None:
    codes = np.array([[0, 0], [0, 1], [1, 0]], dtype=np.int64)
    index = ConstraintIndex.build(codes, [2, 2])
    off = index.with_active(np.array([True, False, False]))
    assert off.subtree_items[0].tolist() == [1, 0] and index.subtree_items[0].tolist() == [2, 1]
    assert off.row_ptr is index.row_ptr  # tables are shared
    with pytest.raises(ValueError, match="active"):
        index.with_active(np.ones(2, dtype=bool))


def test_build_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="items 1 and 3"):
        ConstraintIndex.build(np.array([[0, 1], [1, 1], [0, 0], [1, 1]]), [2, 2])
    with pytest.raises(ValueError, match="item 1: token 5 at level 1"):
        ConstraintIndex.build(np.array([[0, 1], [1, 5]]), [2, 2])
    with pytest.raises(ValueError, match="level sizes"):
        ConstraintIndex.build(np.array([[0, 1]]), [2])


def test_wide_levels_use_lexsort_fallback() -> None:
    sizes = [2**30, 2**30, 2**30]  # 90 bits: no packed sort key
    rng = np.random.default_rng(1)
    codes = np.unique(rng.integers(0, 3, size=(40, 3)) * (2**29 - 1), axis=0)
    index = ConstraintIndex.build(codes, sizes)
    assert index.dense == [None, None, None]
    assert index.item_of(torch.from_numpy(codes)).tolist() == list(range(len(codes)))
    order = sorted(range(len(codes)), key=lambda i: codes[i].tolist())
    assert index.leaf_item.tolist() == order
    with pytest.raises(ValueError, match="level sizes"):
        ConstraintIndex.build(codes, [2**31] * 3)


def test_build_one_million_tuples() -> None:
    n, rng = 1_000_000, np.random.default_rng(0)
    raw = rng.integers(0, 256, size=(n, 3))
    key = (raw[:, 0] << 16) | (raw[:, 1] << 8) | raw[:, 2]
    order = np.argsort(key, kind="stable")
    first = np.r_[True, key[order][1:] != key[order][:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    disamb = np.empty(n, dtype=np.int64)
    disamb[order] = np.arange(n) - start  # 0, 1, 2, ... within items sharing a raw code
    codes = np.column_stack([raw, disamb])
    sizes = [256, 256, 256, int(disamb.max()) + 1]
    t0 = time.perf_counter()
    index = ConstraintIndex.build(codes, sizes)
    seconds = time.perf_counter() - t0
    print(
        f"\n1M x 4 build: {seconds:.2f} s, nbytes {index.nbytes / 2**20:.1f} MiB, "
        f"nodes {index.n_nodes}, max_children {index.max_children}"
    )
    assert seconds < 10 and index.nbytes < 200 * 2**20
    assert index.n_nodes[-1] == n and index.subtree_items[0].sum() == n
    probe = rng.integers(0, n, size=1000)
    assert torch.equal(index.item_of(torch.from_numpy(codes[probe])), torch.from_numpy(probe))
