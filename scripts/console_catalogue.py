# ruff: noqa: E501 - the catalogue: one message and its translation a line
"""Rebuild the console's zh-CN catalogue: extract the English msgids, fill them from ZH, compile the .mo.

    .venv/bin/python scripts/console_catalogue.py

Run it after adding or changing a string in registry/console/ (templates or Python); it fails naming any
msgid without a translation. The .po and the compiled .mo are committed (the wheel ships both).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "registry" / "console"
# Babel parses zh_CN as zh_Hans_CN, the folder name Flask-Babel then looks for.
OUT = CONSOLE / "translations" / "zh_Hans_CN" / "LC_MESSAGES"

ZH = {
    "Wrong name, password or code.": "用户名、密码或验证码错误。",
    "Too many failed sign-ins: this account is locked for a while. Try again later.": "登录失败次数过多：该账号已被暂时锁定，请稍后再试。",
    "Second factor enrolled.": "已绑定双因素验证。",
    "Checks per day by decision (allow is not stored)": "每日检查结果（放行的不存储）",
    "< 1 h": "不到 1 小时",
    "< 1 day": "不到 1 天",
    "< 1 week": "不到 1 周",
    "older": "更早",
    "open reviews": "待审核",
    "Review backlog by age": "待审核积压（按等待时间）",
    "active bans": "生效中的封禁",
    "Active bans by rule": "生效中的封禁（按规则）",
    "Recent sweeps": "最近的清理",
    "Claimed.": "已领取。",
    "Resolved as %(outcome)s.": "已处理：%(outcome)s。",
    "Tier changed.": "分级已调整。",
    "Violation recorded.": "违规已记录。",
    "Verification recorded.": "实名认证已记录。",
    "Account banned.": "账号已封禁。",
    "Ban created.": "封禁已创建。",
    "Ban lifted.": "封禁已解除。",
    "Choose a JSON Lines file.": "请选择一个 JSON Lines 文件。",
    "Tick the confirmation to run the sweep.": "请勾选确认后再执行清理。",
    "Sweep %(id)s finished: %(counts)s": "清理 %(id)s 已完成：%(counts)s",
    "Invalid time for %(field)s: use 2026-12-01 or 2026-12-01T08:00.": "%(field)s 的时间无效：请使用 2026-12-01 或 2026-12-01T08:00。",
    "No audit entry %(seq)s.": "没有审计记录 %(seq)s。",
    "active": "正常",
    "dormant": "休眠",
    "suspended": "暂停",
    "banned": "封禁",
    "purged": "已清除",
    "open": "待处理",
    "claimed": "已领取",
    "resolved": "已处理",
    "confirmed": "确认违规",
    "false positive": "误报",
    "reviewer": "审核员",
    "moderator": "管理员",
    "supervisor": "主管",
    "auditor": "审计员",
    "review": "人工审核",
    "deny": "拒绝",
    "allow": "放行",
    "unverified": "未认证",
    "pending": "认证中",
    "verified": "已认证",
    "rejected": "已驳回",
    "revoked": "已撤销",
    "expired": "已过期",
    "minor": "轻微",
    "moderate": "一般",
    "severe": "严重",
    "personal": "个人",
    "organization": "机构",
    "public": "公众账号",
    "running": "进行中",
    "done": "已完成",
    "refused": "已拒绝",
    "failed": "失败",
    "in force": "生效中",
    "lifted": "已解除",
    "Your role (%(role)s) may not do this.": "您的角色（%(role)s）无权执行此操作。",
    "Invalid request: %(detail)s": "请求无效：%(detail)s",
    "The form's security token is missing or out of date: reload the page and try again.": "表单安全令牌缺失或已过期：请刷新页面后重试。",
    "When": "时间",
    "Actor": "操作人",
    "Action": "操作",
    "Subject": "对象",
    "No entries.": "没有记录。",
    "Account": "账号",
    "Username": "用户名",
    "Display name": "昵称",
    "Type": "类型",
    "Status": "状态",
    "Tier": "分级",
    "pinned": "已锁定",
    "Credit": "信用分",
    "Verification": "实名认证",
    "Identifiers": "标识",
    "Registered": "注册时间",
    "Last active": "最近活跃",
    "never": "从未",
    "Change tier": "调整分级",
    "rule": "规则",
    "reason": "理由",
    "Set tier": "调整",
    "Record a violation": "记录违规",
    "note": "备注",
    "Record": "记录",
    "Ban this account": "封禁该账号",
    "Ban": "封禁",
    "Tier history": "分级历史",
    "From": "原分级",
    "To": "新分级",
    "Rule": "规则",
    "Reason": "理由",
    "By": "操作人",
    "automatic": "自动",
    "Violations": "违规记录",
    "Severity": "严重程度",
    "Deduction": "扣分",
    "Note": "备注",
    "Bans": "封禁",
    "Reviews": "审核",
    "Audit entries": "审计记录",
    "Accounts": "账号",
    "Account id": "账号 ID",
    "Open": "打开",
    "Audit": "审计",
    "Audit trail": "审计日志",
    "Verify the chain": "校验哈希链",
    "Since (UTC)": "起始（UTC）",
    "Until (UTC)": "截止（UTC）",
    "Filter": "筛选",
    "Audit entry": "审计记录",
    "Data": "数据",
    "Erased": "已销毁",
    "Previous hash": "前一哈希",
    "Hash": "哈希",
    "Chain verification": "哈希链校验",
    "TAMPERED: %(n)s entries verified before the first break.": "已被篡改：在第一处断裂前校验了 %(n)s 条记录。",
    "Intact: %(n)s entries verified (last seq %(seq)s), %(c)s checkpoints.": "完整：已校验 %(n)s 条记录（最后序号 %(seq)s），%(c)s 个检查点。",
    "Back to the trail": "返回审计日志",
    "Names": "名称",
    "Created": "创建时间",
    "Expires": "到期",
    "Lifted": "解除",
    "Reason for lifting": "解除理由",
    "Lift the ban": "解除封禁",
    "Upload": "上传",
    "Upload of %(name)s": "上传 %(name)s",
    "%(read)s lines read, %(created)s created, %(skipped)s already present, %(rejected)s rejected": "读取 %(read)s 行，新建 %(created)s，已存在 %(skipped)s，拒绝 %(rejected)s",
    "Line": "行号",
    "Problem": "问题",
    "warning": "警告",
    "Back to bans": "返回封禁列表",
    "Ban id": "封禁 ID",
    "any": "全部",
    "Name (folded as the check folds)": "名称（按检查的归一化规则匹配）",
    "Search": "搜索",
    "No bans match.": "没有匹配的封禁。",
    "New ban": "新建封禁",
    "Names, one a line": "名称，每行一个",
    "Phones, one a line": "手机号，每行一个",
    "E-mails, one a line": "邮箱，每行一个",
    "ID numbers, one a line": "身份证号，每行一个",
    "Devices, one a line": "设备号，每行一个",
    "IPs or ranges, one a line": "IP 或网段，每行一个",
    "Expires at (ISO 8601 with zone, optional)": "到期时间（ISO 8601，含时区，可选）",
    "Upload JSON Lines": "上传 JSON Lines",
    "One POST /v1/bans body per line; bad lines are listed, good ones kept.": "每行一个 POST /v1/bans 请求体；错误行会列出，正确行保留。",
    "Console": "控制台",
    "Account registry": "账号登记与黑名单",
    "Dashboard": "仪表盘",
    "Watch directory": "需要关注账号目录",
    "Sweeps": "僵尸号清理",
    "Second factor": "双因素验证",
    "Sign out": "退出",
    "Review backlog: %(n)s open": "待审核积压：%(n)s 条",
    "oldest since %(at)s UTC": "最早一条自 %(at)s UTC",
    "Sign in": "登录",
    "Name": "用户名",
    "Password": "密码",
    "Code from your authenticator (if enrolled)": "动态验证码（已绑定时填写）",
    "Refused": "已拒绝",
    "Back to the dashboard": "返回仪表盘",
    "Review": "审核",
    "claimed by %(who)s": "由 %(who)s 领取",
    "outcome": "结论",
    "none yet": "尚未注册",
    "Evidence": "证据",
    "Field": "字段",
    "Score": "分数",
    "Tricks": "变形手法",
    "Commonness": "常见程度",
    "Matched ban": "命中的封禁",
    "%(a)s accounts, %(b)s bans": "%(a)s 个账号，%(b)s 个封禁",
    "Accounts sharing an identifier": "共用标识的其他账号",
    "None.": "无。",
    "Claim": "领取",
    "Rule (optional, overrides the matched ban's)": "规则（可选，覆盖命中封禁的规则）",
    "Confirm: ban the account": "确认：封禁该账号",
    "False positive": "误报",
    "Review queue": "审核队列",
    "open and claimed": "待处理和已领取",
    "Keyboard: j / k move, Enter opens.": "快捷键：j / k 上下移动，回车打开。",
    "Reasons": "原因",
    "Assignee": "领取人",
    "Nothing waiting.": "没有待处理的审核。",
    "Sweep dry run": "清理试运行",
    "Step": "步骤",
    "Sample": "样例",
    "Safety cap: a run changing more than %(n)s accounts and more than %(share)s%% of all %(total)s is refused unless forced. This run would change %(acting)s.": "安全上限：一次清理若变更超过 %(n)s 个账号且超过全部 %(total)s 个账号的 %(share)s%%，除非强制执行否则拒绝。本次将变更 %(acting)s 个。",
    "This run is beyond the safety cap.": "本次清理超出安全上限。",
    "I have read the counts: run the sweep for real.": "我已核对数量：正式执行清理。",
    "Run beyond the safety cap": "超出安全上限仍执行",
    "Run the sweep": "执行清理",
    "Cancel": "取消",
    "Shell: %(shell)s days without activity since registration; zombie: %(zombie)s days idle; suspended after %(s)s days dormant, purged after %(p)s days suspended.": "空壳号：注册后 %(shell)s 天无活动；僵尸号：%(zombie)s 天无活动；休眠 %(s)s 天后暂停，暂停 %(p)s 天后清除。",
    "Dry run": "试运行",
    "Past runs": "历史记录",
    "Started": "开始时间",
    "Kind": "类型",
    "dry run": "试运行",
    "real run": "正式运行",
    "forced": "强制",
    "No runs yet.": "尚无记录。",
    "Your second factor is enrolled. To replace it, ask a supervisor or operator to reset it.": "您已绑定双因素验证。如需更换，请联系主管或运维重置。",
    "Supervisors must enrol a second factor before they can do anything else.": "主管必须先绑定双因素验证才能进行其他操作。",
    "Add this secret to your authenticator app, then enter the code it shows.": "将此密钥添加到验证器应用，然后输入它显示的验证码。",
    "Code": "验证码",
    "Confirm": "确认",
    "Start enrolment": "开始绑定",
    "watch and restricted": "关注和限制",
    "Download CSV": "下载 CSV",
    "%(n)s accounts": "%(n)s 个账号",
}


def main() -> int:
    pot = ROOT / "build" / "console-messages.pot"
    pot.parent.mkdir(exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(CONSOLE / "babel.cfg"),
            "-k",
            "lazy_gettext",
            "--no-location",
            "--sort-output",
            "-o",
            str(pot),
            str(CONSOLE),
        ],
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as fh:
        catalog = read_po(fh, locale="zh_CN")
    missing = []
    for message in catalog:
        if not message.id:
            continue
        if message.id not in ZH:
            missing.append(message.id)
            continue
        message.string = ZH[message.id]
    if missing:
        print("no translation for:", *missing, sep="\n  ", file=sys.stderr)
        return 1
    catalog.project, catalog.version = "account-registry console", "1"
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "messages.po").open("wb") as fh:
        write_po(fh, catalog, omit_header=False, no_location=True, width=110)
    with (OUT / "messages.mo").open("wb") as fh:
        write_mo(fh, catalog)
    print(f"{len(catalog)} messages -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
