"""Index-only keys: a handle's parts swapped with no separator, a banned name with a part left out."""

from __future__ import annotations

import pickle

from registry.matching import MatchConfig, NameIndex
from registry.matching.keys import rotation_key


def index(*names: str) -> NameIndex:
    ix = NameIndex(MatchConfig())
    for i, n in enumerate(names):
        ix.add(f"b{i}", n)
    return ix


def test_a_handles_parts_swapped_are_found_whichever_side_has_the_separator():
    ix = index("flowercloud", "cloud_tiger", "luckychunji")
    for query, ban in [
        ("cloud_flower", "b0"),
        ("cloudflower", "b0"),
        ("tigercloud", "b1"),
        ("chunji.lucky", "b2"),
    ]:
        (m,) = ix.search(query, limit=3, min_score=85)
        assert (m.ban_id, m.via) == (ban, "reorder"), query
    assert rotation_key("catsky") == rotation_key("skycat") != rotation_key("kcatsy")
    # Pinyin has its own reorder key (syllables sorted): no cut inside a syllable.
    assert rotation_key("luohao") == ""
    # Short handles have too few rotations to tell people apart.
    assert rotation_key("annab") == ""


def test_a_banned_name_with_a_part_the_search_leaves_out_is_found():
    ix = index("John Die Leng", "Lucy Guang Wang")
    (m,) = ix.search("Die Leng", limit=3, min_score=85)
    assert (m.ban_id, m.via) == ("b0", "part")
    (m,) = ix.search("Guang Wang", limit=3, min_score=85)
    assert (m.ban_id, m.via) == ("b1", "part")


def test_index_only_keys_survive_a_snapshot_and_a_lifted_ban():
    ix = pickle.loads(pickle.dumps(index("flowercloud", "John Die Leng")))
    assert [m.ban_id for m in ix.search("cloud_flower", limit=3, min_score=85)] == ["b0"]
    ix.remove_ban("b0")
    assert ix.search("cloud_flower", limit=3, min_score=85) == []
    assert [m.ban_id for m in ix.search("Die Leng", limit=3, min_score=85)] == ["b1"]
