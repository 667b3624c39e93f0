"""The report as HTML (server-side SVG charts, no script, no external asset) and as PDF (reportlab)."""

from __future__ import annotations

import html
import io
from collections.abc import Iterator
from typing import Any

from registry.reports.fonts import cjk_font

KIND_TITLE = {"annual": "年度账号管理主体责任履行情况报告", "monthly": "账号管理月度台账"}
FIELD_NAMES = {
    "username": "用户名",
    "display_name": "昵称",
    "phone": "手机号",
    "email": "电子邮箱",
    "id_number": "身份证件号",
    "device_id": "设备标识",
    "ip": "IP 地址",
    "avatar": "头像",
}


def title(report: dict[str, Any]) -> str:
    """Return the document title, e.g. 2026 年度...报告."""
    label = report["period"]["label"]
    when = f"{label} 年度" if report["kind"] == "annual" else f"{label} "
    return f"{report['platform']} {when}{KIND_TITLE[report['kind']].removeprefix('年度')}"


def cover_lines(report: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the cover's (label, value) lines."""
    p, a = report["period"], report["audit"]
    verified = a.get("chain_verified")
    state = "未核验" if verified is None else ("完整" if verified else f"发现问题：{a.get('chain_problem')}")
    return [
        ("平台名称", report["platform"]),
        ("报告期间", f"{p['months'][0]} 至 {p['months'][-1]}（{p['zone']}）"),
        ("生成时间", report["produced_at"]),
        ("审计链头序号", str(a["head_seq"])),
        ("审计链头哈希", a["head_hash"]),
        ("审计链核验", state),
    ]


def key_text(key: str) -> str:
    """Return a breakdown key as shown (a field's Chinese name where known)."""
    decision, _, rest = key.partition(":")
    if rest and decision in ("deny", "review", "allow"):
        return f"{decision} · {FIELD_NAMES.get(rest, rest)}"
    return FIELD_NAMES.get(key, key)


def rows_of(fig: dict[str, Any]) -> Iterator[tuple[str, Any, list[Any] | None]]:
    """Yield (label, total, months) lines of a figure, the figure's own line first."""
    kind = fig["kind"]
    if kind == "series":
        yield fig["label"], fig["total"], fig["months"]
    elif kind == "value":
        yield fig["label"], "—" if fig["value"] is None else fig["value"], fig.get("months")
    elif kind == "breakdown":
        if not fig["rows"]:
            yield fig["label"], 0, None
        for row in fig["rows"]:
            yield f"{fig['label']}：{key_text(row['key'])}", row["total"], row["months"]


def _fmt(v: Any) -> str:
    return "—" if v is None else str(v)


# -- HTML -------------------------------------------------------------------------------------------


def svg_chart(labels: list[str], values: list[Any], kind: str, caption: str) -> str:
    """Return an inline SVG bar or line chart of monthly values."""
    w, h, left, bottom, top = 640, 220, 48, 36, 20
    nums = [float(v or 0) for v in values]
    peak = max(nums + [1.0])
    step = (w - left - 10) / max(len(nums), 1)
    plot_h = h - bottom - top

    def y(v: float) -> float:
        return top + plot_h - v / peak * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" role="img" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}"><title>{html.escape(caption)}</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{w - 10}" y2="{top + plot_h}" stroke="#444"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#444"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="11">{peak:g}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    points = []
    for i, (label, v) in enumerate(zip(labels, nums, strict=True)):
        x = left + i * step
        if kind == "bar":
            parts.append(
                f'<rect x="{x + step * 0.15:.1f}" y="{y(v):.1f}" width="{step * 0.7:.1f}" '
                f'height="{top + plot_h - y(v):.1f}" fill="#3b6ea5"><title>{label}: {v:g}</title></rect>'
            )
        points.append(f"{x + step / 2:.1f},{y(v):.1f}")
        parts.append(
            f'<text x="{x + step / 2:.1f}" y="{h - bottom + 14}" text-anchor="middle" font-size="10">'
            f"{label[5:] or label}</text>"
        )
    if kind == "line":
        parts.append(f'<polyline fill="none" stroke="#b5442c" stroke-width="2" points="{" ".join(points)}"/>')
    parts.append("</svg>")
    return "".join(parts)


def to_html(report: dict[str, Any]) -> bytes:
    """Return the report as one self-contained HTML page in Chinese."""
    esc = html.escape
    labels = report["period"]["months"]
    out = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{esc(title(report))}</title>",
        "<style>body{font-family:'WenQuanYi Micro Hei','Noto Sans CJK SC','Source Han Sans SC',sans-serif;"
        "margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}"
        "td,th{border:1px solid #bbb;padding:2px 6px;font-size:13px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}.cover{border-bottom:2px solid #333;margin-bottom:2em}"
        ".cover dt{font-weight:bold}.hash{font-family:monospace;word-break:break-all}</style></head><body>",
        f'<section class="cover"><h1 id="title">{esc(title(report))}</h1><dl>',
    ]
    for label, value in cover_lines(report):
        cls = ' class="hash"' if "哈希" in label else ""
        out.append(f"<dt>{esc(label)}</dt><dd{cls}>{esc(value)}</dd>")
    out.append("</dl></section>")
    head = "".join(f"<th>{esc(m[5:] or m)}月</th>" for m in labels)
    for section in report["sections"]:
        out.append(f'<section id="{section["id"]}"><h2>{esc(section["title"])}</h2>')
        for fig in section["figures"]:
            if fig["kind"] == "catalogue":
                out.append(f"<h3>{esc(fig['label'])}</h3>")
                if not fig["rows"]:
                    out.append("<p>未配置规则目录（REGISTRY_RULES_FILE）：任何规则代码均可使用。</p>")
                else:
                    out.append("<table><tr><th>代码</th><th>名称</th><th>允许的处置</th></tr>")
                    for r in fig["rows"]:
                        out.append(
                            f"<tr><td>{esc(r['code'])}</td><td>{esc(r['title'])}</td>"
                            f"<td>{esc('、'.join(r['actions']))}</td></tr>"
                        )
                    out.append("</table>")
                continue
            if fig.get("chart") and fig.get("months") and len(labels) > 1:
                out.append(svg_chart(labels, fig["months"], fig["chart"], fig["label"]))
            out.append(f'<table data-figure="{fig["id"]}"><tr><th>项目</th><th>合计</th>{head}</tr>')
            for label, total, per in rows_of(fig):
                cells = "".join(f"<td>{_fmt(v)}</td>" for v in (per or [None] * len(labels)))
                out.append(f'<tr><td>{esc(label)}</td><td class="total">{esc(_fmt(total))}</td>{cells}</tr>')
            out.append("</table>")
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out).encode("utf-8")


# -- PDF --------------------------------------------------------------------------------------------


def to_pdf(report: dict[str, Any]) -> bytes:
    """Return the report as a PDF in Chinese with bar and line charts (reportlab)."""
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.charts.linecharts import HorizontalLineChart
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = cjk_font()
    h1 = ParagraphStyle("h1", fontName=font, fontSize=20, leading=28, spaceAfter=12, wordWrap="CJK")
    h2 = ParagraphStyle(
        "h2", fontName=font, fontSize=14, leading=20, spaceBefore=10, spaceAfter=6, wordWrap="CJK"
    )
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=14, wordWrap="CJK")
    small = ParagraphStyle("small", fontName=font, fontSize=8, leading=10, wordWrap="CJK")
    labels = report["period"]["months"]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=landscape(A4),
        title=title(report),
        author=report["platform"],
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
    )
    story: list[Any] = [Spacer(1, 30 * mm), Paragraph(html.escape(title(report)), h1)]
    for label, value in cover_lines(report):
        story.append(Paragraph(f"{html.escape(label)}：{html.escape(value)}", body))
    story.append(PageBreak())

    def chart(fig: dict[str, Any]) -> Drawing:
        d = Drawing(240 * mm, 55 * mm)
        values = [float(v or 0) for v in fig["months"]]
        c = VerticalBarChart() if fig["chart"] == "bar" else HorizontalLineChart()
        c.x, c.y, c.width, c.height = 15 * mm, 10 * mm, 215 * mm, 40 * mm
        c.data = [values]
        c.valueAxis.valueMin = 0
        c.valueAxis.valueMax = max(values + [1.0]) * 1.1
        c.valueAxis.labels.fontName = font
        c.categoryAxis.categoryNames = [m[5:] or m for m in labels]
        c.categoryAxis.labels.fontName = font
        if fig["chart"] == "bar":
            c.bars[0].fillColor = colors.HexColor("#3b6ea5")
        else:
            c.lines[0].strokeColor = colors.HexColor("#b5442c")
            c.lines[0].strokeWidth = 2
        d.add(c)
        return d

    for section in report["sections"]:
        story.append(Paragraph(html.escape(section["title"]), h2))
        for fig in section["figures"]:
            if fig["kind"] == "catalogue":
                story.append(Paragraph(html.escape(fig["label"]), body))
                if not fig["rows"]:
                    story.append(
                        Paragraph("未配置规则目录（REGISTRY_RULES_FILE）：任何规则代码均可使用。", small)
                    )
                for r in fig["rows"]:
                    text = f"{r['code']} {r['title']}：{'、'.join(r['actions'])}"
                    story.append(Paragraph(html.escape(text), small))
                continue
            if fig.get("chart") and fig.get("months") and len(labels) > 1:
                story.append(Paragraph(html.escape(fig["label"]), small))
                story.append(chart(fig))
            data: list[list[Any]] = [["项目", "合计"] + [f"{m[5:] or m}月" for m in labels]]
            for label, total, per in rows_of(fig):
                data.append(
                    [Paragraph(html.escape(label), small), _fmt(total)]
                    + [_fmt(v) for v in (per or [None] * len(labels))]
                )
            widths = [70 * mm, 18 * mm] + [(273 - 88) * mm / len(labels)] * len(labels)
            table = Table(data, colWidths=widths, repeatRows=1)
            table.setStyle(
                TableStyle(
                    [
                        ("FONTNAME", (0, 0), (-1, -1), font),
                        ("FONTSIZE", (0, 0), (-1, -1), 8),
                        ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                    ]
                )
            )
            story.append(table)
            story.append(Spacer(1, 3 * mm))
    doc.build(story)
    return buf.getvalue()
