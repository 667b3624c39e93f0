"""Account-name rules (账号名称) from the 2022 account-information provisions.

Terms are folded with ``registry.matching.fold.canonical`` on both sides and matched in one
Aho-Corasick pass. Contact details are looked for on a lighter fold of their own, because the
canonical fold turns digits into letters and drops the separators a phone number is hidden behind.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ahocorasick
import phonenumbers

from registry.matching.fold import canonical, is_han

DEFAULT_RULES_PATH = Path(__file__).with_name("default_rules.json")

# The order findings are reported in: most serious first.
CODES: tuple[str, ...] = (
    "impersonation",
    "prohibited_term",
    "contact_in_name",
    "news_word",
    "strict_review_word",
)
FIELDS: tuple[str, ...] = ("username", "display_name")
DECISIONS: tuple[str, ...] = ("review", "deny")
# "off" exists only in configuration: it switches a rule off without editing its term list.
_CONFIG_DECISIONS: tuple[str, ...] = (*DECISIONS, "off")
_CONFIG_KEYS: tuple[str, ...] = ("version", "decisions", "terms", "remove", "allow")

PLATFORM_VERIFIED = "platform_verified"
# The longest name evaluate() reads (the display-name schema's cap).
MAX_NAME_CHARS = 256

# Findings of these codes that sit inside an impersonation or prohibited match are dropped:
# "人民日报" is explained by the impersonation finding, a second "日报" news-word finding is noise.
_SUPPRESSED_INSIDE = frozenset({"news_word", "strict_review_word"})
_SUPPRESSING = frozenset({"impersonation", "prohibited_term"})


@dataclass(frozen=True)
class NameFinding:
    """One rule a name breaks."""

    code: str
    field: str
    rule: str
    term: str
    decision: str


@dataclass(frozen=True)
class _Entry:
    code: str
    rule: str
    term: str
    length: int


# --- personal names -------------------------------------------------------------------------
# 建国, 中华, 国家 and 中国 are all attested given names; a strict-review word that lies wholly inside
# the given name of a surname + one- or two-character given name is a person's name, not a claim to
# speak for the state. Impersonation terms get no such exemption.
_COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 令狐 司徒 夏侯 长孙 宇文 轩辕 独孤 南宫 西门 端木".split()
)
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    "常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季"
    "裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦"
    "戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻"
    "苑迟邝"
)


def _given_name_start(folded: str) -> int | None:
    """Return where the given name starts if the whole name looks like a Chinese personal name."""
    if not 2 <= len(folded) <= 4 or not all(is_han(ch) for ch in folded):
        return None
    if folded[:2] in _COMPOUND_SURNAMES and 1 <= len(folded) - 2 <= 2:
        return 2
    if folded[0] in _SURNAMES and 1 <= len(folded) - 1 <= 2:
        return 1
    return None


# --- contact details --------------------------------------------------------------------------
_CN_NUMERALS = str.maketrans(
    {
        "零": "0", "〇": "0", "○": "0", "洞": "0",
        "一": "1", "壹": "1", "幺": "1", "二": "2", "贰": "2", "貳": "2", "两": "2", "兩": "2",
        "三": "3", "叁": "3", "參": "3", "四": "4", "肆": "4", "五": "5", "伍": "5",
        "六": "6", "陆": "6", "陸": "6", "七": "7", "柒": "7", "拐": "7", "八": "8", "捌": "8",
        "九": "9", "玖": "9", "勾": "9",
    }
)  # fmt: skip
_BETWEEN_DIGITS = re.compile(r"(?<=\d)[\W_]+(?=\d)")
# Letter o / l standing in for 0 / 1 inside what is otherwise a long run of digits.
_DIGITISH_RUN = re.compile(r"[0-9ol]{10,}")
_DIGIT_RUN = re.compile(r"\d{10,}")
# .wang, .ren and .xin are left out: "eric.wang" and "peter.ren" are how people write their names.
_TLDS = (
    "com", "cn", "net", "org", "top", "xyz", "vip", "cc", "info", "shop", "club", "site", "online",
    "link", "io", "tk", "ltd", "app", "live", "tv", "hk", "tw",
)  # fmt: skip
_TLD_ALT = "|".join(sorted(_TLDS, key=len, reverse=True))
# Every pattern is linear-time: possessive quantifiers (``*+``, Python 3.11) never give back the spaces
# they took, and no two quantifiers in a row can match the same character, so a run of spaces after a
# keyword (``qq`` + 250 spaces) is read once instead of being split every possible way (cubic before).
_SPOKEN_DOT = re.compile(
    rf"(?<=[a-z0-9])\s*+(?:[.。｡]|点|\(dot\)|\[dot\]|dot)\s*+(?=(?:{_TLD_ALT})(?![a-z]))"
)
_SCHEME = re.compile(r"https?\s*+[:：]\s*+/\s*+/|(?<![a-z])www\s*+\.")
# Starting only where a host name can start keeps the search linear on "a.a.a.a...".
_DOMAIN = re.compile(
    rf"(?<![-a-z0-9.])[a-z0-9](?:[-a-z0-9]{{0,62}})\.(?:[-a-z0-9]{{1,63}}\.)*({_TLD_ALT})(?![a-z0-9])"
)
_SPACES = re.compile(r"\s+")
# "qq 号 : 123456": the same language as ``\s*号?\s*[:：=]?\s*``, written so each run of spaces has
# exactly one quantifier that can take it.
_QQ = re.compile(r"(?:qq|扣扣|企鹅)\s*+(?:号\s*+)?(?:[:：=]\s*+)?(?P<number>\d{5,11})(?!\d)")
_WECHAT = re.compile(
    r"(?:微信|薇信|威信|徽信|v信|wechat|weixin)\s*+(?:号\s*+)?(?:[:：=]\s*+)?(?P<id>[a-z][-_a-z0-9]{5,19})"
    r"|(?<![a-z])(?:vx|wx)\s*+(?:号|[:：=])\s*+(?P<vxid>[a-z0-9][-_a-z0-9]{4,19})"
)
_PLUS_CONTACT = re.compile(r"\+\s*+(v|vx|wx|q|qq|微信|薇信)(?![a-z])")


@functools.cache
def _drop_format() -> dict[int, None]:
    """Return the str.translate table deleting format characters (zero-width, joiners, bidi marks)."""
    # Built on first use (about 0.1 s), not at import: CLI commands that never fold names skip it.
    return dict.fromkeys(cp for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)) == "Cf")


def contact_fold(text: str) -> str:
    """Fold text for contact-detail detection: keep digits, join digits split by separators."""
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(_drop_format()).casefold()
    text = text.translate(_CN_NUMERALS)
    text = _BETWEEN_DIGITS.sub("", text)
    return _DIGITISH_RUN.sub(_digitise, text)


def _digitise(match: re.Match[str]) -> str:
    run = match.group(0)
    if len(run) - run.count("o") - run.count("l") < 6:
        return run
    return run.replace("o", "0").replace("l", "1")


# No valid number is longer: "00" + a 3-digit country code + libphonenumber's 17-digit national cap.
# Longer runs are refused without asking libphonenumber, which normalises the whole string first.
_PHONE_MAX_DIGITS = 22


def _is_cn_phone(digits: str) -> bool:
    if len(digits) > _PHONE_MAX_DIGITS:
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(digits, "CN"))
    except phonenumbers.NumberParseException:
        return False


def _phone_spans(folded: str) -> list[tuple[int, int]]:
    """Return where the valid CN phone numbers sit in contact-folded text (one span per digit run)."""
    spans: list[tuple[int, int]] = []
    for match in _DIGIT_RUN.finditer(folded):
        run = match.group(0)
        candidates = [run]
        for prefix in ("0086", "86"):
            if run.startswith(prefix):
                candidates.append(run[len(prefix) :])
        # A stray numeral glued to a mobile number (张三13800138000 folds to 张313800138000).
        if len(run) <= 13:
            candidates.extend(
                run[i : i + 11] for i in range(1, len(run) - 10) if run[i] == "1" and run[i + 1] in "3456789"
            )
        if any(_is_cn_phone(c) for c in candidates):
            spans.append(match.span())
    return spans


def _has_phone(folded: str) -> bool:
    return bool(_phone_spans(folded))


@functools.lru_cache(maxsize=8192)
def _fold_char(ch: str) -> str:
    """Return what contact_fold's first steps make of one character (NFKC, no Cf, casefold, numerals)."""
    out = unicodedata.normalize("NFKC", ch)
    out = "".join(c for c in out if unicodedata.category(c) != "Cf")
    return out.casefold().translate(_CN_NUMERALS)


class _Folded:
    """Contact-folded text that remembers, for each character, where in the original name it came from."""

    def __init__(self, name: str) -> None:
        chars: list[str] = []
        origin: list[int] = []
        for i, ch in enumerate(name):
            folded = _fold_char(ch)
            chars.append(folded)
            origin.extend([i] * len(folded))
        self.text, self.origin = "".join(chars), origin
        self.sub(_BETWEEN_DIGITS, "")
        self.sub(_DIGITISH_RUN, _digitise)

    def sub(self, pattern: re.Pattern[str], repl: Any) -> _Folded:
        """Apply ``pattern.sub(repl, text)``, carrying the origins along; return self."""
        out: list[str] = []
        origin: list[int] = []
        pos = 0
        for m in pattern.finditer(self.text):
            start, end = m.span()
            out.append(self.text[pos:start])
            origin.extend(self.origin[pos:start])
            r = repl if isinstance(repl, str) else repl(m)
            out.append(r)
            origin.extend(self.origin[start:end] if len(r) == end - start else [self.origin[start]] * len(r))
            pos = end
        out.append(self.text[pos:])
        origin.extend(self.origin[pos:])
        self.text, self.origin = "".join(out), origin
        return self

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Return the span of the original name that folded text[start:end] came from."""
        return self.origin[start], self.origin[end - 1] + 1


def _contacts(name: str, *, spans: bool = True) -> tuple[list[tuple[str, str]], list[tuple[int, int]] | None]:
    """Return (rule, term) pairs for the contact details in a name, and where they sit in it.

    The spans cover the contact details themselves (the phone number, QQ number, WeChat id, host
    name), not the words announcing them; None when the contact details could not be placed (a name
    whose characters do not fold one by one as the whole name does), so the caller masks it whole.
    """
    folded = _SPOKEN_DOT.sub(".", contact_fold(name))
    found: list[tuple[str, str]] = []
    scheme = _SCHEME.search(folded)
    if scheme:
        found.append(("url", "www." if scheme.group(0).startswith("w") else "http://"))
    else:
        # A second look with the spaces squeezed out finds "x y z . c c".
        domain = _DOMAIN.search(folded) or _DOMAIN.search(_SPACES.sub("", folded))
        if domain:
            found.append(("url", "." + domain.group(1)))
    if _has_phone(folded):
        found.append(("phone", "phone_number"))
    if _QQ.search(folded):
        found.append(("qq", "qq"))
    if _WECHAT.search(folded):
        found.append(("wechat", "wechat"))
    plus = _PLUS_CONTACT.search(folded)
    if plus:
        found.append(("solicitation", "+" + plus.group(1)))
    if not spans or not any(rule != "solicitation" for rule, _ in found):
        return found, []
    mapped = _Folded(name).sub(_SPOKEN_DOT, ".")
    if mapped.text != folded:
        return found, None
    where = [mapped.span(*s) for s in _phone_spans(mapped.text)]
    for m in _QQ.finditer(mapped.text):
        where.append(mapped.span(*m.span("number")))
    for m in _WECHAT.finditer(mapped.text):
        group = "id" if m.group("id") is not None else "vxid"
        where.append(mapped.span(*m.span(group)))
    for m in _DOMAIN.finditer(mapped.text):
        where.append(mapped.span(*m.span()))
    squeezed = mapped.sub(_SPACES, "")
    for m in _DOMAIN.finditer(squeezed.text):
        where.append(squeezed.span(*m.span()))
    return found, where


def _contact_findings(name: str) -> list[tuple[str, str]]:
    """Return (rule, term) pairs for the contact details embedded in a name."""
    return _contacts(name, spans=False)[0]


def _mask_text(text: str) -> str:
    """Mask one contact detail keeping its length: 139****0002, 12****78, l***9."""
    n = len(text)
    head, tail = (3, 4) if n >= 11 else (2, 2) if n >= 7 else (1, 1) if n >= 4 else (0, 0)
    return text[:head] + "*" * (n - head - tail) + text[n - tail :]


def mask_contacts(name: str | None) -> str | None:
    """Return the name with each contact detail the name rules find in it masked (same length).

    ``vx13912340002`` becomes ``vx139****0002`` and ``加微信13912340003`` ``加微信139****0003``; a name
    without one comes back unchanged. This is what the registry stores of a name (accounts, checks,
    reviews, audit): a phone number or chat id in a name is personal data like any other identifier.
    """
    if not name:
        return name
    found, spans = _contacts(name)
    if not found or spans == []:
        return name
    if spans is None:
        return _mask_text(name)
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out.append(name[pos:start] + _mask_text(name[start:end]))
        pos = end
    out.append(name[pos:])
    return "".join(out)


# --- configuration ----------------------------------------------------------------------------
TermTable = dict[str, dict[str, list[str]]]


def _str_list(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"name rules: {key!r} must be a list of non-empty strings")
    return list(value)


def _check_code(code: Any, key: str) -> str:
    if code not in CODES:
        raise ValueError(f"name rules: unknown code {code!r} in {key!r}; expected one of {', '.join(CODES)}")
    return str(code)


def _parse_terms(raw: Any, key: str) -> TermTable:
    if not isinstance(raw, dict):
        raise ValueError(f"name rules: {key!r} must be an object of code -> rule -> [terms]")
    table: TermTable = {}
    for code, rules in raw.items():
        _check_code(code, key)
        if not isinstance(rules, dict):
            raise ValueError(f"name rules: '{key}.{code}' must be an object of rule -> [terms]")
        for rule, terms in rules.items():
            if not isinstance(rule, str) or not rule.strip():
                raise ValueError(f"name rules: '{key}.{code}' has an empty rule name")
            table.setdefault(code, {})[rule] = _str_list(terms, f"{key}.{code}.{rule}")
    return table


def _parse_code_lists(raw: Any, key: str) -> dict[str, list[str]]:
    if not isinstance(raw, dict):
        raise ValueError(f"name rules: {key!r} must be an object of code -> [terms]")
    return {_check_code(code, key): _str_list(terms, f"{key}.{code}") for code, terms in raw.items()}


def _parse_decisions(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ValueError("name rules: 'decisions' must be an object of code -> decision")
    out: dict[str, str] = {}
    for code, decision in raw.items():
        _check_code(code, "decisions")
        if decision not in _CONFIG_DECISIONS:
            raise ValueError(
                f"name rules: 'decisions.{code}' must be one of {', '.join(_CONFIG_DECISIONS)},"
                f" got {decision!r}"
            )
        out[code] = decision
    return out


def _fold_term(term: str, key: str) -> str:
    folded = canonical(term)
    if not folded:
        raise ValueError(f"name rules: term {term!r} in {key!r} folds to nothing")
    return folded


class NamePolicy:
    """Account-name rules: term lists per code and rule, a decision per code, and the matcher."""

    def __init__(
        self,
        terms: Mapping[str, Mapping[str, Iterable[str]]],
        decisions: Mapping[str, str],
        allow: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self._terms: TermTable = {
            _check_code(code, "terms"): {rule: list(ts) for rule, ts in rules.items()}
            for code, rules in terms.items()
        }
        self._decisions = {code: "review" for code in CODES}
        self._decisions.update(_parse_decisions(dict(decisions)))
        self._allow = {_check_code(code, "allow"): list(ts) for code, ts in (allow or {}).items()}
        self._protected: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self._automaton = self._build()

    @classmethod
    def from_defaults(cls) -> NamePolicy:
        """Build the policy from the shipped default rules."""
        return cls.from_mapping({})

    @classmethod
    def from_file(cls, path: str | Path) -> NamePolicy:
        """Build the policy from an operator's JSON file merged over the shipped defaults."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"name rules: {path} is not valid JSON: {exc}") from exc
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Any) -> NamePolicy:
        """Build the policy from operator settings (the from_file schema) merged over the defaults."""
        defaults = json.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("name rules: the top level must be a JSON object")
        for key in data:
            if key not in _CONFIG_KEYS:
                raise ValueError(
                    f"name rules: unknown key {key!r}; expected one of {', '.join(_CONFIG_KEYS)}"
                )
        terms = _parse_terms(defaults["terms"], "terms")
        allow = _parse_code_lists(defaults.get("allow", {}), "allow")
        decisions = _parse_decisions(defaults["decisions"])

        # Removals are matched on the folded form and may name terms the defaults no longer ship:
        # an operator file written for an older release must not stop the service from starting.
        for code, removed in _parse_code_lists(data.get("remove", {}), "remove").items():
            gone = {_fold_term(t, f"remove.{code}") for t in removed}
            for rule, listed in terms.get(code, {}).items():
                terms[code][rule] = [t for t in listed if canonical(t) not in gone]
        for code, rules in _parse_terms(data.get("terms", {}), "terms").items():
            for rule, added in rules.items():
                terms.setdefault(code, {}).setdefault(rule, []).extend(added)
        for code, extra in _parse_code_lists(data.get("allow", {}), "allow").items():
            allow.setdefault(code, []).extend(extra)
        decisions.update(_parse_decisions(data.get("decisions", {})))
        return cls(terms, decisions, allow)

    @property
    def decisions(self) -> dict[str, str]:
        """Return the decision per reason code ("off" where a rule is switched off)."""
        return dict(self._decisions)

    def terms(self, code: str) -> dict[str, list[str]]:
        """Return the listed terms of one reason code by rule, runtime-protected names included."""
        out = {rule: list(ts) for rule, ts in self._terms.get(_check_code(code, "code"), {}).items()}
        if code == "impersonation":
            for rule, name in self._protected.values():
                out.setdefault(rule, []).append(name)
        return out

    def add_protected(self, name: str, *, rule: str = PLATFORM_VERIFIED) -> None:
        """Protect a verified organisation or public account's name against impersonation."""
        key = self._protected_key(name)
        with self._lock:
            self._protected[key] = (rule, name)
            self._automaton = self._build()

    def add_protected_many(self, names: Iterable[str], *, rule: str = PLATFORM_VERIFIED) -> list[str]:
        """Protect many names with one rebuild of the matcher; return those too short to protect."""
        refused: list[str] = []
        keyed: dict[str, tuple[str, str]] = {}
        for name in names:
            try:
                keyed[self._protected_key(name)] = (rule, name)
            except ValueError:
                refused.append(name)
        if keyed:
            with self._lock:
                self._protected.update(keyed)
                self._automaton = self._build()
        return refused

    @staticmethod
    def _protected_key(name: str) -> str:
        key = canonical(name)
        # One- or two-letter keys would match inside a large share of all names.
        if len(key) < 2 or (key.isascii() and len(key) < 4):
            raise ValueError(f"protected name {name!r} is too short to match safely once folded ({key!r})")
        return key

    def remove_protected(self, name: str) -> bool:
        """Stop protecting a name added with add_protected; return whether it was protected."""
        with self._lock:
            if self._protected.pop(canonical(name), None) is None:
                return False
            self._automaton = self._build()
            return True

    def _build(self) -> ahocorasick.Automaton:
        entries: dict[str, list[_Entry]] = {}

        def put(key: str, entry: _Entry) -> None:
            bucket = entries.setdefault(key, [])
            # Two listed forms that fold alike (新华社 / 新華社) are one term: keep the first.
            if not any(e.code == entry.code for e in bucket):
                bucket.append(entry)

        for code in CODES:
            for rule, listed in self._terms.get(code, {}).items():
                for term in listed:
                    key = _fold_term(term, f"terms.{code}.{rule}")
                    put(key, _Entry(code, rule, term, len(key)))
            if code == "impersonation":
                for key, (rule, name) in self._protected.items():
                    put(key, _Entry(code, rule, name, len(key)))
        for code, listed in self._allow.items():
            for term in listed:
                key = _fold_term(term, f"allow.{code}")
                entries.setdefault(key, []).append(_Entry("allow", code, term, len(key)))

        automaton = ahocorasick.Automaton()
        for key, bucket in entries.items():
            automaton.add_word(key, tuple(bucket))
        if entries:
            automaton.make_automaton()
        return automaton

    def evaluate(self, name: str, *, field: str, news_licensed: bool = False) -> list[NameFinding]:
        """Return the rules a username or display name breaks, most serious first."""
        if field not in FIELDS:
            raise ValueError(f"field must be one of {', '.join(FIELDS)}, got {field!r}")
        # The schemas cap names at 128 (username) and 256 (display name) characters; the cap here bounds
        # the work for any other caller too (every pattern is linear, so this bounds the whole call).
        name = name[:MAX_NAME_CHARS]
        decisions = self._decisions
        folded = canonical(name)
        automaton = self._automaton

        hits: list[tuple[int, int, _Entry]] = []
        allowed: dict[str, list[tuple[int, int]]] = {}
        if folded and automaton.kind == ahocorasick.AHOCORASICK:
            for end, bucket in automaton.iter(folded):
                for entry in bucket:
                    start = end - entry.length + 1
                    if entry.code == "allow":
                        allowed.setdefault(entry.rule, []).append((start, end))
                    else:
                        hits.append((start, end, entry))

        def inside(spans: Iterable[tuple[int, int]], start: int, end: int) -> bool:
            return any(s <= start and end <= e for s, e in spans)

        hits = [h for h in hits if not inside(allowed.get(h[2].code, ()), h[0], h[1])]
        covering = [(s, e) for s, e, entry in hits if entry.code in _SUPPRESSING]
        given_start = _given_name_start(folded)

        best: dict[tuple[str, str], tuple[int, int, str]] = {}
        for start, end, entry in hits:
            code = entry.code
            if decisions[code] == "off" or (code == "news_word" and news_licensed):
                continue
            if code in _SUPPRESSED_INSIDE and inside(covering, start, end):
                continue
            if code == "strict_review_word" and given_start is not None and start >= given_start:
                continue
            rank = (start, -entry.length, entry.term)
            current = best.get((code, entry.rule))
            if current is None or rank < current:
                best[(code, entry.rule)] = rank

        if decisions["contact_in_name"] != "off":
            for position, (rule, term) in enumerate(_contact_findings(name)):
                # Solicitation words from the term list and from the pattern share one rule.
                best.setdefault(("contact_in_name", rule), (len(folded) + position, 0, term))

        order = {code: i for i, code in enumerate(CODES)}
        ranked = sorted(best.items(), key=lambda item: (order[item[0][0]], item[1][0], item[0][1]))
        return [
            NameFinding(code=code, field=field, rule=rule, term=rank[2], decision=decisions[code])
            for (code, rule), rank in ranked
        ]
