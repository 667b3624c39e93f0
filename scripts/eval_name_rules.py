"""Measure the account-name rules: detection per rule on disguised bad names, false alarms on ordinary ones.

Run: /work/venv/bin/python scripts/eval_name_rules.py [--seed N] [--ordinary N] [--show N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from registry.name_rules import NamePolicy

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND = ["欧阳", "司马", "上官", "诸葛"]
# Common given-name characters, deliberately including 中 国 华 家 新 民 全 央 so that combinations such
# as 中华, 国家, 中国, 新华 and 建国 occur the way they do among real people.
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰国建文红新家中民立海志荣春德林云宁晨浩宇子欣怡思"
    "雨博轩梓涵一诺佳琪俊鹏飞婷雪晓慧颖斌辉亮鑫凯丹倩悦然泽睿航瑞彤嘉怡全央光荣福贵兴旺朝阳东振"
)
PINYIN_SURNAMES = [
    "wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun", "ma", "zhu",
    "hu", "guo", "he", "gao", "lin", "luo", "zheng", "liang", "xie", "song", "tang", "han", "feng", "deng",
    "cao", "peng", "zeng", "xiao", "tian", "dong", "pan", "jiang", "cai", "du", "ye", "cheng", "su", "wei",
    "lv", "ding", "ren", "shen", "yao", "lu", "cui", "zhong", "tan", "fan", "jin", "shi", "chi", "xin",
]  # fmt: skip
PINYIN_GIVEN = [
    "wei", "fang", "na", "min", "jing", "li", "qiang", "lei", "jun", "yang", "yong", "yan", "jie", "juan",
    "tao", "ming", "chao", "xiu", "xia", "ping", "gang", "hua", "yu", "lan", "guo", "jian", "wen", "hong",
    "xin", "jia", "zhong", "min", "hai", "zhi", "rong", "chun", "de", "yun", "ning", "chen", "hao", "zi",
    "xuan", "han", "nuo", "qi", "jun", "peng", "fei", "ting", "xue", "hui", "ying", "bin", "liang", "kai",
]  # fmt: skip
ENGLISH = [
    "lily", "tom", "jack", "amy", "kevin", "grace", "leo", "emma", "david", "sunny", "coco", "alice", "nick",
    "cindy", "eric", "vivian", "tony", "helen", "peter", "annie", "jason", "moon", "star", "panda", "tiger",
]  # fmt: skip
WORDS = ["的小店", "爱旅行", "读书笔记", "的日常", "摄影", "美食记", "小屋", "工作室", "爱生活", "不吃香菜"]


def ordinary_names(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """Generate ordinary (field, name) pairs: Chinese personal names, hobby names, pinyin/English handles."""
    out: list[tuple[str, str]] = []
    while len(out) < count:
        kind = rng.random()
        if kind < 0.45:
            surname = rng.choice(COMPOUND) if rng.random() < 0.03 else rng.choice(SURNAMES)
            given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
            out.append(("display_name", surname + given))
        elif kind < 0.55:
            given = "".join(rng.choice(GIVEN) for _ in range(2))
            out.append(("display_name", rng.choice(SURNAMES) + given + rng.choice(WORDS)))
        elif kind < 0.8:
            handle = rng.choice(PINYIN_SURNAMES) + "".join(
                rng.choice(PINYIN_GIVEN) for _ in range(rng.choice((1, 2)))
            )
            out.append(("username", handle + _suffix(rng)))
        else:
            handle = rng.choice(ENGLISH) + rng.choice(("", "_", ".")) + rng.choice(PINYIN_SURNAMES)
            out.append(("username", handle + _suffix(rng)))
    return out


def _suffix(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return ""
    if roll < 0.55:
        return str(rng.randint(1970, 2012))
    if roll < 0.7:
        return f"{rng.randint(1970, 2012)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    if roll < 0.85:
        return rng.choice(("_", "")) + str(rng.randint(0, 999))
    return str(rng.randint(10000, 99999999))


def _spaced(text: str, rng: random.Random) -> str:
    sep = rng.choice((" ", "·", "-", "\u200b", "_"))
    return sep.join(text)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def bad_names(rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    """Return labelled bad names per expected (code, rule) key, each in several disguises."""
    disguise: list[Callable[[str], str]] = [
        lambda t: t,
        lambda t: _spaced(t, rng),
        _fullwidth,
        lambda t: t.upper(),
        lambda t: t + "官方",
        lambda t: "【" + t + "】",
    ]
    traditional = {"新华社": "新華社", "人民日报": "人民日報", "中央电视台": "中央電視臺", "解放军": "解放軍"}
    imp_terms = [
        ("state_media", "人民日报"), ("state_media", "新华社"), ("state_media", "CCTV"),
        ("state_media", "中央电视台"), ("state_media", "环球时报"), ("state_media", "China Daily"),
        ("state_organ", "公安部"), ("state_organ", "外交部"), ("judicial_organ", "最高人民法院"),
        ("judicial_organ", "人民检察院"), ("military_organ", "解放军"), ("military_organ", "武警"),
        ("party_organ", "共青团中央"), ("party_organ", "中纪委"),
    ]  # fmt: skip
    sets: dict[str, list[tuple[str, str]]] = {}
    for rule, term in imp_terms:
        forms = [d(term) for d in disguise]
        if term in traditional:
            forms.append(traditional[term])
        sets.setdefault(f"impersonation/{rule}", []).extend(("display_name", f) for f in forms)

    phones = ["13800138000", "15912345678", "18688889999"]
    phone_forms: list[str] = []
    for p in phones:
        phone_forms += [
            p,
            "V " + " ".join(p),
            _fullwidth(p),
            "小王" + p,
            "+86 " + p[:3] + "-" + p[3:7] + "-" + p[7:],
            "".join("零一二三四五六七八九"[int(c)] for c in p),
            "".join("零壹贰叁肆伍陆柒捌玖"[int(c)] for c in p),
            p.replace("0", "O"),
        ]
    sets["contact_in_name/phone"] = [("display_name", f) for f in phone_forms]
    sets["contact_in_name/url"] = [
        ("display_name", f)
        for f in (
            "www.abc123.com",
            "http://x.cn",
            "shop-abc.top",
            "abc点com",
            "ａｂｃ．ｃｏｍ",
            "lily.vip",
            "看片 x y z . c c",
        )
    ]
    sets["contact_in_name/wechat"] = [
        ("display_name", f) for f in ("微信:lily_2020", "vx:abc12345", "薇信 zhang_888", "wechat: tomtom99")
    ]
    sets["contact_in_name/qq"] = [
        ("display_name", f) for f in ("qq:12345678", "扣扣 123456789", "企鹅号 5556677")
    ]
    sets["contact_in_name/solicitation"] = [
        ("display_name", f)
        for f in (
            "加微信",
            "加 V",
            "加vx",
            "+v",
            "威信号",
            "扣扣交友",
            "私聊",
            "add me on wechat",
            "加 微 信 看",
            "ｖ信",
        )
    ]
    news = [
        "科技新闻",
        "本地快讯",
        "每日资讯",
        "城市晚报",
        "财经报道",
        "时讯速递",
        "东方电视台",
        "北京日报社",
    ]
    sets["news_word/news_word"] = [("display_name", d(n)) for n in news for d in disguise[:3]]
    strict = [
        "中国好声音粉丝",
        "中华美食",
        "全国车友会",
        "国家地理爱好者",
        "中央厨房",
        "China Fans",
        "中國茶",
    ]
    sets["strict_review_word/strict_review_word"] = [
        ("display_name", d(n)) for n in strict for d in disguise[:3]
    ]
    sets["prohibited_term/prohibited_term"] = [
        ("display_name", f)
        for f in ("官方认证", "官 方 认 证 号", "管理員", "客服中心小李", "Official Admin")
    ]
    return sets


def main() -> int:
    """Print detection per rule and the false-alarm rate on ordinary names."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20220801)
    parser.add_argument("--ordinary", type=int, default=5000)
    parser.add_argument("--show", type=int, default=10, help="print up to N misses and false alarms")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    policy = NamePolicy.from_defaults()
    started = time.perf_counter()

    print(f"{'rule':45} {'caught':>7} {'total':>6} {'rate':>7}")
    misses: list[str] = []
    for key, names in bad_names(rng).items():
        code, rule = key.split("/")
        caught = 0
        for field, name in names:
            try:
                found = policy.evaluate(name, field=field)
            except Exception as exc:  # noqa: BLE001 - an error is a miss to report, not a reason to stop
                misses.append(f"{key}: {name!r} -> raised {type(exc).__name__}: {exc}")
                continue
            if any(f.code == code and f.rule == rule for f in found):
                caught += 1
            else:
                misses.append(f"{key}: {name!r} -> {[(f.code, f.rule) for f in found]}")
        print(f"{key:45} {caught:7d} {len(names):6d} {caught / len(names):7.1%}")

    ordinary = ordinary_names(rng, args.ordinary)
    alarms: list[str] = []
    timed = time.perf_counter()
    for field, name in ordinary:
        found = policy.evaluate(name, field=field)
        if found:
            alarms.append(f"{name!r} -> {[(f.code, f.rule, f.term) for f in found]}")
    per_name = (time.perf_counter() - timed) / len(ordinary) * 1e6
    rate = len(alarms) / len(ordinary)
    print(
        f"{'false alarms on ordinary names':45} {len(alarms):7d} {len(ordinary):6d} {rate:7.2%}",
        "(target < 0.50%)",
    )
    print(
        f"mean evaluate() time on ordinary names: {per_name:.1f} us;",
        f"total {time.perf_counter() - started:.1f} s",
    )
    for line in misses[: args.show]:
        print("miss:", line)
    for line in alarms[: args.show]:
        print("false alarm:", line)
    return 0 if rate < 0.005 else 1


if __name__ == "__main__":
    raise SystemExit(main())
