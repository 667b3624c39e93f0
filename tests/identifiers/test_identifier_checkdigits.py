import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.identifiers.checkdigits import (
    USCC_ALPHABET,
    is_valid_resident_id,
    is_valid_uscc,
    resident_id_check_char,
    uscc_check_char,
)


@pytest.mark.parametrize("value", ["11010519491231002X", "11010519491231002x", "440524188001010014"])
def test_valid_resident_ids(value: str) -> None:
    assert is_valid_resident_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "110105194912310021",  # wrong check character
        "110105194902301235",  # 30 February
        "11010519491231002",  # 17 characters
        "11010519491231002XX",
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width is the normaliser's job, not the checker's
        "",
        None,
        110105194912310020,
    ],
)
def test_invalid_resident_ids(value: object) -> None:
    assert not is_valid_resident_id(value)


def test_resident_id_check_char() -> None:
    assert resident_id_check_char("11010519491231002") == "X"
    assert resident_id_check_char("44052418800101001") == "4"
    with pytest.raises(ValueError):
        resident_id_check_char("1101051949123100")


@pytest.mark.parametrize("value", ["91350100M000100Y43", "91110000600037341L"])
def test_valid_usccs(value: str) -> None:
    assert is_valid_uscc(value)


@pytest.mark.parametrize("value", ["91350100M000100Y44", "91350100m000100y43", "91350100M000100Y4", "", None])
def test_invalid_usccs(value: object) -> None:
    assert not is_valid_uscc(value)


def test_uscc_check_char() -> None:
    assert uscc_check_char("91350100M000100Y4") == "3"
    assert uscc_check_char("91110000600037341") == "L"
    with pytest.raises(ValueError):
        uscc_check_char("91350100I000100Y4")  # I is not in the alphabet


digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31))


@st.composite
def resident_id_bodies(draw: st.DrawFn) -> str:
    area = draw(st.text(alphabet="0123456789", min_size=6, max_size=6))
    sequence = draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    return area + draw(birth_dates).strftime("%Y%m%d") + sequence


@given(resident_id_bodies())
def test_computed_resident_id_is_valid(body: str) -> None:
    assert is_valid_resident_id(body + resident_id_check_char(body))


@given(resident_id_bodies(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_one_changed_character_breaks_a_resident_id(body: str, position: int, replacement: str) -> None:
    valid = body + resident_id_check_char(body)
    if valid[position] == replacement:
        replacement = "X" if replacement != "X" else "0"
    changed = valid[:position] + replacement + valid[position + 1 :]
    assert not is_valid_resident_id(changed)


uscc_bodies = st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17)


@given(uscc_bodies)
def test_computed_uscc_is_valid(body: str) -> None:
    assert is_valid_uscc(body + uscc_check_char(body))


@given(uscc_bodies, st.integers(0, 17), st.sampled_from(USCC_ALPHABET))
def test_one_changed_character_breaks_a_uscc(body: str, position: int, replacement: str) -> None:
    valid = body + uscc_check_char(body)
    if valid[position] == replacement:
        replacement = USCC_ALPHABET[(USCC_ALPHABET.index(replacement) + 1) % len(USCC_ALPHABET)]
    changed = valid[:position] + replacement + valid[position + 1 :]
    assert not is_valid_uscc(changed)


def test_uscc_may_start_with_a_letter() -> None:
    body = "Y1110000600037341"
    assert is_valid_uscc(body + uscc_check_char(body))
