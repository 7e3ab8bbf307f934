"""The seed's COPY batching, without a database."""

from __future__ import annotations

from daemon.seed import loader


def test_rebatch_regroups_lines():
    blocks = iter([["a"] * 5, ["b"] * 3, [], ["c"] * 9])
    assert [len(b) for b in loader.rebatch(blocks, 4)] == [4, 4, 4, 4, 1]
    assert [len(b) for b in loader.rebatch(iter([["x"] * 4, ["y"] * 4]), 4)] == [4, 4]
    assert "".join(sum(loader.rebatch(iter([list("abc"), list("de")]), 2), [])) == "abcde"
