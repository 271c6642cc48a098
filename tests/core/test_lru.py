"""The bounded LRU behind the process's caches: what it keeps, what leaves first."""

from __future__ import annotations

import pytest

from core.lru import LRU


def test_the_least_recently_used_leaves_first_and_get_makes_recent() -> None:
    kept: LRU[str, int] = LRU(2)
    kept.put("a", 1)
    kept.put("b", 2)
    assert kept.get("a") == 1  # now "b" is the least recent
    kept.put("c", 3)
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == (1, None, 3)
    assert len(kept) == 2


def test_weights_bound_the_total_and_a_value_over_the_bound_is_not_kept() -> None:
    kept: LRU[str, str] = LRU(10, len)
    assert kept.put("a", "aaaa")
    assert kept.put("b", "bbbb")
    assert kept.weight == 8
    assert kept.put("c", "cccc")  # 12 > 10: "a" leaves
    assert kept.get("a") is None
    assert kept.weight == 8
    assert not kept.put("b", "x" * 11)  # alone over the bound: dropped, old value too
    assert kept.get("b") is None
    assert kept.weight == 4


def test_replacing_a_key_reweighs_it() -> None:
    kept: LRU[str, str] = LRU(10, len)
    kept.put("a", "aaaaaaaa")
    kept.put("a", "a")
    assert (kept.weight, kept.get("a"), len(kept)) == (1, "a", 1)


def test_pop_items_and_clear() -> None:
    kept: LRU[int, str] = LRU(5)
    for n in range(3):
        kept.put(n, str(n))
    for key, _value in kept.items():  # a snapshot: popping while iterating is safe
        if key % 2 == 0:
            assert kept.pop(key) == str(key)
    assert [key for key, _ in kept.items()] == [1]
    assert kept.pop(7) is None
    kept.clear()
    assert (len(kept), kept.weight) == (0, 0)


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_weight"):
        LRU(0)
