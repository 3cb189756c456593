"""The self-contained HTML report: one file, inline CSS, inline SVG and a few lines of script
(table sorting), nothing fetched from the network, so it opens from disk anywhere.

Sections: summary table, token premium per language and tokenizer (sorted bars, log scale),
compression against vocabulary size, vocabulary categories and scripts, the vocabulary comparison
(overlap, token lengths, held-out numbers side by side), morphology, a
side-by-side token view (boundaries coloured, ids on hover), per-language details, notes,
failures and the definitions of every number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from ..categories import CATEGORIES
from .svg import PALETTE, WIDE_PALETTE, grouped_hbars, scatter, stacked_hbars

if TYPE_CHECKING:
    from ..result import CorpusResult, EvalResult

__all__ = ["page", "render_html"]

CATEGORY_COLORS = {
    "spaced_alpha": "#0072B2",
    "inner_alpha": "#56B4E9",
    "char_alpha": "#9ecae1",
    "spaced_other": "#E69F00",
    "inner_other": "#F0C36B",
    "char_other": "#fde0a0",
    "byte": "#D55E00",
    "partial": "#CC79A7",
    "control": "#555555",
}
TOKEN_COLORS = ("#dbeafe", "#fde68a", "#bbf7d0", "#fbcfe8", "#e9d5ff", "#fed7aa")

CSS = """
:root { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans", sans-serif; color: #1f2328; }
body { margin: 0 auto; max-width: 1180px; padding: 16px 28px 60px; line-height: 1.45; }
h1 { font-size: 1.7rem; margin: 0.4em 0 0.1em; }
h2 { font-size: 1.25rem; margin-top: 2.2em; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
h3 { font-size: 1.02rem; margin: 1.4em 0 0.4em; }
p.meta, .na, .help { color: #57606a; font-size: 0.88rem; }
table { border-collapse: collapse; font-size: 0.86rem; margin: 6px 0 10px; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; }
th { background: #f6f8fa; cursor: pointer; user-select: none; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.na { color: #8c959f; font-style: italic; }
tr:nth-child(even) td { background: #fbfbfc; }
.scroll { max-height: 720px; overflow-y: auto; border: 1px solid #eaeef2; padding: 4px; }
.legend span { display: inline-block; margin-right: 14px; font-size: 0.86rem; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
svg.chart text { font-size: 11px; fill: #24292f; }
svg.chart text.tick { fill: #57606a; font-size: 10px; }
svg.chart text.inbar { fill: #fff; font-size: 10px; }
svg.chart text.axis { font-size: 12px; }
svg.chart line.grid { stroke: #eaeef2; }
svg.chart line.ref { stroke: #cf222e; stroke-dasharray: 3 3; }
.tokview { margin: 4px 0 14px; }
.tokrow { display: grid; grid-template-columns: 150px 1fr; gap: 8px; align-items: start; margin: 3px 0; }
.tokname { font-size: 0.82rem; color: #57606a; padding-top: 3px; }
.tokname b { color: #1f2328; }
.toks { white-space: pre-wrap; word-break: break-word;
  font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.86rem; line-height: 1.9; }
.toks span { border-radius: 3px; padding: 1px 0; margin-right: 1px; }
.toks span.split { outline: 1px dashed #cf222e; }
.toks span.err { color: #cf222e; }
.toks span:hover { outline: 2px solid #0969da; }
.warn { background: #fff8c5; border: 1px solid #d4a72c; padding: 6px 10px; border-radius: 4px; }
code { background: #f6f8fa; padding: 0 3px; border-radius: 3px; }
dl.defs dt { font-weight: 600; margin-top: 6px; }
dl.defs dd { margin-left: 18px; color: #57606a; }
"""

# Sorting by clicking a header; numbers sort numerically, "n/a" last. Errors would show in the
# console, which the report test checks is empty.
SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var table = th.closest('table');
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute('data-dir') !== 'asc';
    table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-dir'); });
    th.setAttribute('data-dir', asc ? 'asc' : 'desc');
    function key(row) {
      var cell = row.cells[col];
      var raw = cell ? (cell.getAttribute('data-v') || cell.textContent) : '';
      var num = parseFloat(raw);
      return isNaN(num) ? raw : num;
    }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (typeof x === 'number' && typeof y === 'number') { return asc ? x - y : y - x; }
      if (typeof x === 'number') { return -1; }
      if (typeof y === 'number') { return 1; }
      return asc ? String(x).localeCompare(String(y)) : String(y).localeCompare(String(x));
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
document.body.setAttribute('data-ready', 'yes');
"""


def _num(value: Any, kind: str = "") -> str:
    """A table cell for a number: n/a cells carry their reason as a tooltip."""
    if value is None:
        return '<td class="na">n/a</td>'
    if isinstance(value, bool):
        return f"<td>{value}</td>"
    if isinstance(value, int):
        return f'<td class="num" data-v="{value}">{value:,}</td>'
    if isinstance(value, float):
        if math.isnan(value):
            return '<td class="na">n/a</td>'
        if kind == "pct":
            text = f"{100 * value:.1f}%"
        elif kind == "rate":
            text = f"{value:.1f}"
        else:
            text = f"{value:.3f}"
        return f'<td class="num" data-v="{value:.6g}">{text}</td>'
    return f"<td>{escape(str(value))}</td>"


PCT_KEYS = {"continued", "utilization", "byte_fallback_rate", "unk_rate", "retention"}


def _summary(result: EvalResult) -> str:
    from ..result import SUMMARY_COLUMNS

    cols = [
        c for c in SUMMARY_COLUMNS if any(result.summary_value(r, c[0]) is not None for r in result.results)
    ]
    head = "".join(f'<th title="{escape(h)}">{escape(label)}</th>' for _k, label, h in cols)
    rows = []
    for r in result.results:
        cells = "".join(
            _num(
                result.summary_value(r, k),
                "pct" if k in PCT_KEYS else ("rate" if k == "throughput_mb_s" else ""),
            )
            for k, _l, _h in cols
        )
        rows.append(f"<tr><td><b>{escape(r.tokenizer)}</b></td><td>{escape(r.corpus)}</td>{cells}</tr>")
    legend = "".join(f"<li><b>{escape(label)}</b>: {escape(h)}</li>" for _k, label, h in cols)
    return (
        '<table class="sortable" id="summary"><thead><tr><th>tokenizer</th><th>corpus</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        '<details><summary class="help">What the columns mean</summary><ul '
        f'class="help">{legend}</ul></details>'
    )


def _legend(names: Sequence[str]) -> str:
    return (
        '<p class="legend">'
        + "".join(
            f'<span><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{escape(n)}</span>'
            for i, n in enumerate(names)
        )
        + "</p>"
    )


def _premium_section(result: EvalResult) -> str:
    out = []
    for corpus in result.corpora:
        rows = [r for r in result.results if r.corpus == corpus.name and r.premium is not None]
        if not rows:
            continue
        names = [r.tokenizer for r in rows]
        by = [{lr.key: lr for lr in r.languages} for r in rows]
        keys = [k for k in by[0] if k != rows[0].premium_reference]

        def mean_premium(k: str, by: list[dict[str, Any]] = by) -> float:
            vals = [b[k].premium for b in by if k in b and b[k].premium is not None]
            return sum(vals) / len(vals) if vals else -1.0

        keys.sort(key=mean_premium, reverse=True)
        first = by[0]
        chart_rows = [
            (
                f"{first[k].name} ({k})" if first[k].name != k else k,
                [b[k].premium if k in b else None for b in by],
            )
            for k in keys
        ]
        n_with = sum(1 for k in keys if mean_premium(k) >= 0)
        out.append(
            f"<h3>{escape(corpus.name)}: tokens relative to "
            f"<code>{escape(corpus.reference or '')}</code></h3>"
            f'<p class="help">{n_with} languages, sorted by the mean premium over tokenizers '
            "(highest first). "
            "Log scale; the red dashed line is parity (1.0). A premium of 3 means the same "
            "content costs three "
            "times as many tokens as in the reference. Hover a bar for its value.</p>"
            + _legend(names)
            + '<div class="scroll">'
            + grouped_hbars(chart_rows, names, title=f"Token premium on {corpus.name}")
            + "</div>"
        )
        spread_rows = []
        for r in rows:
            p = r.premium
            assert p is not None
            spread_rows.append(
                f"<tr><td><b>{escape(r.tokenizer)}</b></td>{_num(p.languages)}{_num(p.mean)}{_num(p.median)}"
                f"{_num(p.minimum)}{_num(p.maximum)}{_num(p.std)}{_num(p.gini)}"
                f"<td>{escape(p.worst)}</td><td>{escape(p.best)}</td></tr>"
            )
        out.append(
            '<table class="sortable"><thead><tr><th>tokenizer</th><th>languages</th><th>mean</th>'
            "<th>median</th>"
            "<th>min</th><th>max</th><th>std</th><th>Gini</th><th>highest</th><th>lowest</th></tr></thead>"
            f"<tbody>{''.join(spread_rows)}</tbody></table>"
        )
    if not out:
        return (
            '<p class="na">No parallel corpus with a reference language was evaluated, '
            "so there are no premiums.</p>"
        )
    return "".join(out)


def _compression_section(result: EvalResult) -> str:
    sizes = {t.label: t.vocab_size for t in result.tokenizers if t.vocab_size}
    out = []
    for corpus in result.corpora:
        series = [
            (r.tokenizer, [(float(sizes[r.tokenizer]), r.bytes_per_token)])
            for r in result.results
            if r.corpus == corpus.name and r.tokenizer in sizes and r.bytes_per_token is not None
        ]
        if not series:
            continue
        out.append(
            f'<div style="display:inline-block;margin-right:18px"><h3>{escape(corpus.name)}</h3>'
            + scatter(
                series, x_label="vocabulary size (non-special tokens, log scale)", y_label="bytes per token"
            )
            + "</div>"
        )
    if not out:
        return '<p class="na">No compression numbers.</p>'
    names = [r.tokenizer for r in result.results if r.corpus == result.corpora[0].name]
    return (
        '<p class="help">Each tokenizer is one point per corpus: higher is more compression. '
        "For curves over vocabulary sizes of one training recipe, run a sweep.</p>"
        + _legend(names)
        + "".join(out)
    )


def _categories_section(result: EvalResult) -> str:
    cats = [(t.label, t.categories) for t in result.tokenizers if t.categories]
    if not cats:
        return '<p class="na">Vocabulary categories were not requested.</p>'
    rows = []
    for label, c in cats:
        total = c["total"] or 1
        rows.append((label, [(k, c["counts"].get(k, 0) / total) for k in CATEGORIES]))
    legend = (
        '<p class="legend">'
        + "".join(f'<span><i style="background:{CATEGORY_COLORS[k]}"></i>{k}</span>' for k in CATEGORIES)
        + "</p>"
    )
    scripts = sorted({s for _l, c in cats for s in c["script_shares"]}, key=lambda s: (s == "Other", s))
    script_colors = {s: WIDE_PALETTE[i % len(WIDE_PALETTE)] for i, s in enumerate(scripts)}
    script_rows = [(label, sorted(c["script_shares"].items(), key=lambda kv: -kv[1])) for label, c in cats]
    script_legend = (
        '<p class="legend">'
        + "".join(f'<span><i style="background:{script_colors[s]}"></i>{escape(s)}</span>' for s in scripts)
        + "</p>"
    )
    table = [
        "<table class='sortable'><thead><tr><th>tokenizer</th><th>tokens</th>"
        + "".join(f"<th>{k}</th>" for k in CATEGORIES)
        + "<th>word-initial : inner</th></tr></thead><tbody>"
    ]
    for label, c in cats:
        ratio = c["word_initial"] / c["word_inner"] if c["word_inner"] else None
        table.append(
            f"<tr><td><b>{escape(label)}</b></td>{_num(c['total'])}"
            + "".join(_num(c["counts"].get(k, 0)) for k in CATEGORIES)
            + _num(ratio)
            + "</tr>"
        )
    table.append("</tbody></table>")
    shares = []
    for r in result.results:
        for script, langs in r.language_shares.items():
            top = ", ".join(f"{escape(k)} {100 * v:.1f}%" for k, v in list(langs.items())[:12])
            shares.append(
                f"<li><b>{escape(r.tokenizer)}</b> · {escape(script)} ({escape(r.corpus)}): {top}</li>"
            )
    share_html = (
        "<h3>Latin and Cyrillic tokens by language</h3><p class='help'>Multi-character Latin/Cyrillic tokens "
        "attributed to the corpus languages whose text uses them (1/n each); Qtok uses a langid "
        "map instead.</p>"
        f"<ul class='help'>{''.join(shares)}</ul>"
        if shares
        else ""
    )
    return (
        '<p class="help">Token <i>types</i> of each vocabulary by category (Qtok): spaced = word-initial '
        "(leading space), inner = word-internal; byte/partial = pieces of UTF-8 characters.</p>"
        + legend
        + stacked_hbars(rows, CATEGORY_COLORS, title="Vocabulary categories")
        + "<h3>Scripts of alphabetic tokens</h3>"
        + script_legend
        + stacked_hbars(script_rows, script_colors, title="Scripts")
        + "".join(table)
        + share_html
    )


def _comparison_section(result: EvalResult) -> str:
    from ..compare import LENGTH_BUCKETS

    c = result.comparison
    if c is None:
        if "comparison" not in result.config.get("metrics", []):
            return (
                '<p class="na">The vocabulary comparison was not requested (<code>-m comparison</code>).</p>'
            )
        return '<p class="na">The vocabulary comparison needs two or more tokenizers that loaded.</p>'
    names = c.tokenizers
    out = [
        '<p class="help">Token strings as running text (a SentencePiece <code>▁the</code> and a '
        "byte-level <code>Ġthe</code> are both <code>&quot; the&quot;</code>); special tokens, the "
        "unknown token and byte pieces are left out. Jaccard = shared / union of two vocabularies' "
        f"strings; {c.shared_by_all:,} strings are in every vocabulary.</p>"
    ]
    for key, note in c.notes.items():
        out.append(f"<p class='warn'>{escape(key)}: {escape(note)}</p>")
    head = "".join(f"<th>{escape(t)}</th>" for t in names)
    for prefix, title, table_id in (
        ("", "Overlap (Jaccard)", "jaccard"),
        ("core_", "Overlap without the word-boundary space", "core-jaccard"),
    ):
        rows = []
        for a in names:
            cells = []
            for b in names:
                if a == b:
                    cells.append('<td class="num">1.000</td>')
                    continue
                pair = next(p for p in c.pairs if {p["a"], p["b"]} == {a, b})
                value = pair[f"{prefix}jaccard"]
                cells.append(
                    f'<td class="num" data-v="{value:.6g}" title="{pair[f"{prefix}shared"]:,} shared of '
                    f'{pair[f"{prefix}union"]:,}">{value:.3f}</td>'
                )
            rows.append(f"<tr><td><b>{escape(a)}</b></td>{''.join(cells)}</tr>")
        out.append(
            f"<h3>{title}</h3><table id='{table_id}'><thead><tr><th></th>"
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    out.append(
        "<p class='help'>Without the word-boundary space, one leading and one trailing space are "
        "removed first: LiB's <code>&quot;the &quot;</code> and BPE's <code>&quot; the&quot;</code> "
        "are then one string. Hover a cell for the counts.</p>"
    )
    sizes = "".join(
        f"<tr><td><b>{escape(t)}</b></td>{_num(c.sizes[t])}{_num(c.compared[t])}"
        f"{_num(c.lengths[t]['mean'])}{_num(c.lengths[t]['median'])}"
        f"{_num(c.lengths[t]['word_initial'], 'pct')}{_num(c.lengths[t]['word_final'], 'pct')}</tr>"
        for t in names
    )
    out.append(
        "<h3>Token length</h3><table class='sortable'><thead><tr><th>tokenizer</th><th>non-special ids</th>"
        "<th>strings compared</th><th>mean chars</th><th>median chars</th><th>word-initial</th>"
        "<th>word-final</th></tr>"
        f"</thead><tbody>{sizes}</tbody></table>"
    )
    buckets = [str(i + 1) if i + 1 < LENGTH_BUCKETS else f"{LENGTH_BUCKETS}+" for i in range(LENGTH_BUCKETS)]
    chart_rows = [
        (f"{label} chars", [c.lengths[t]["shares"][i] or None for t in names])
        for i, label in enumerate(buckets)
    ]
    out.append(
        '<p class="help">Share of each vocabulary\'s strings by length in characters (one leading '
        "and one trailing space not counted). Word-initial / word-final: strings that begin / end "
        "with a space.</p>"
        + _legend(names)
        + grouped_hbars(chart_rows, names, log=False, reference=None, label_width=90, title="Token lengths")
    )
    for corpus, by in c.held_out.items():
        body = "".join(
            f"<tr><td><b>{escape(t)}</b></td>{_num(c.sizes[t])}{_num(by[t]['tokens'])}"
            f"{_num(by[t]['bytes_per_token'])}{_num(by[t]['chars_per_token'])}{_num(by[t]['fertility'])}"
            f"{_num(by[t]['continued'], 'pct')}{_num(by[t]['valid_word'], 'pct')}{_num(by[t]['pure'], 'pct')}"
            "</tr>"
            for t in names
            if t in by
        )
        out.append(
            f"<h3>On {escape(corpus)}</h3><table class='sortable'><thead><tr><th>tokenizer</th>"
            "<th>non-special ids</th><th>tokens</th><th>bytes/token</th><th>chars/token</th>"
            f"<th>fertility</th><th>continued</th><th>%TR</th><th>%Pure</th></tr></thead><tbody>{body}</tbody></table>"
        )
    items = "".join(
        f"<li><b>{escape(t)}</b>: "
        + (", ".join(f"<code>{escape(repr(x))}</code>" for x in c.unique[t]) or "none")
        + "</li>"
        for t in names
    )
    out.append(
        "<h3>Only in one vocabulary</h3><p class='help'>Most used on the evaluated text first.</p>"
        f"<ul>{items}</ul>"
    )
    return "".join(out)


def _morphology_section(result: EvalResult) -> str:
    rows = []
    missing: dict[str, str] = {}
    for r in result.results:
        for lr in r.languages:
            mo = lr.morphology
            if not mo:
                continue
            if mo.get("missing"):
                missing[f"{lr.name} ({lr.key})"] = mo["missing"]
                continue
            rows.append(
                f"<tr><td><b>{escape(r.tokenizer)}</b></td><td>{escape(lr.name)} ({escape(lr.key)})</td>"
                + _num(mo.get("valid_word"), "pct")
                + _num(mo.get("valid_word_tokens"), "pct")
                + _num(mo.get("pure"), "pct")
                + _num(mo.get("morphscore"), "pct")
                + _num(mo.get("boundary_precision"), "pct")
                + _num(mo.get("boundary_recall"), "pct")
                + _num(mo.get("unique_tokens"))
                + _num(mo.get("items"))
                + f"<td>{escape(mo.get('resources', ''))}"
                + (f"<br><span class='help'>{escape(mo['note'])}</span>" if mo.get("note") else "")
                + "</td></tr>"
            )
    if "morphology" not in result.config.get("metrics", []):
        return (
            '<p class="na">Morphology was not requested '
            "(<code>-m morphology</code> or <code>-m all</code>).</p>"
        )
    out = []
    if rows:
        out.append(
            "<table class='sortable'><thead><tr><th>tokenizer</th><th>language</th><th>%valid-word</th>"
            "<th>%valid (token-level)</th><th>%pure</th><th>MorphScore</th><th>boundary "
            "P</th><th>boundary R</th>"
            "<th>unique tokens</th><th>gold words</th><th>resources</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table>"
        )
    if missing:
        out.append(
            "<details><summary class='help'>"
            f"{len(missing)} languages without a lexicon or segmentation (no number is shown for "
            "them)</summary>"
            "<ul class='help'>"
            + "".join(f"<li>{escape(k)}: {escape(v)}</li>" for k, v in sorted(missing.items()))
            + "</ul></details>"
        )
    return "".join(out) or '<p class="na">No language had a morphology resource.</p>'


def _token_view(result: EvalResult) -> str:
    out = []
    for sample in result.samples:
        out.append(
            f"<h3>{escape(sample.label)} <span "
            f"class='help'>({escape(sample.corpus)}/{escape(sample.part)})</span></h3>"
            "<div class='tokview'>"
        )
        for name, pieces in sample.pieces.items():
            spans = []
            for n, (text, ids, kind) in enumerate(pieces):
                shown = escape(text).replace("\n", "↵\n")
                if kind == "error":
                    spans.append(f'<span class="err">{shown}</span>')
                    continue
                color = TOKEN_COLORS[n % len(TOKEN_COLORS)]
                tip = ("ids " if len(ids) > 1 else "id ") + " ".join(map(str, ids))
                cls = ' class="split"' if kind == "split" else ""
                spans.append(f'<span{cls} style="background:{color}" title="{tip}">{shown}</span>')
            count = sum(len(p[1]) for p in pieces)
            out.append(
                f"<div class='tokrow'><div class='tokname'><b>{escape(name)}</b><br>{count} tokens</div>"
                f"<div class='toks' dir='{escape(sample.direction)}'>{''.join(spans)}</div></div>"
            )
        out.append("</div>")
    if not out:
        return '<p class="na">No samples.</p>'
    return (
        '<p class="help">The same text cut by each tokenizer. Alternating colours mark token boundaries; '
        "hover a token for its id. Dashed red outlines are several tokens that only together make whole "
        "characters (byte-level pieces).</p>" + "".join(out)
    )


def _languages_table(result: EvalResult, r: CorpusResult) -> str:
    head = (
        "<tr><th>key</th><th>language</th><th>script</th><th>unit</th><th>bytes</th><th>tokens</th>"
        "<th>bytes/token</th><th>fertility</th><th>continued</th><th>byte fallback</th><th>premium</th>"
        "<th>byte premium</th><th>notes</th></tr>"
    )
    rows = []
    for lr in r.languages:
        notes = "; ".join(f"{k}: {v}" for k, v in lr.notes.items())
        rows.append(
            f"<tr><td>{escape(lr.key)}</td><td>{escape(lr.name)}</td><td>{escape(lr.script or '')}</td>"
            f"<td>{lr.unit}</td>{_num(lr.bytes)}{_num(lr.tokens)}{_num(lr.bytes_per_token)}{_num(lr.fertility)}"
            f"{_num(lr.continued, 'pct')}{_num(lr.byte_fallback_rate, 'pct')}{_num(lr.premium)}"
            f"{_num(lr.byte_premium)}<td>{escape(notes)}</td></tr>"
        )
    return (
        f"<details><summary><b>{escape(r.tokenizer)}</b> on {escape(r.corpus)}: {len(r.languages)} "
        "parts</summary>"
        f"<div class='scroll'><table class='sortable'><thead>{head}</thead><tbody>{''.join(rows)}</tbody>"
        "</table></div></details>"
    )


def page(title: str, body: str) -> str:
    """A complete HTML document around ``body`` with the report's style and script."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>{body}"
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def render_html(result: EvalResult) -> str:
    """The whole report for an :class:`~tokenforge.eval.result.EvalResult`."""
    cfg = result.config
    toks = ", ".join(
        f"<b>{escape(t.label)}</b> ({t.vocab_size:,} tokens)" if t.vocab_size else f"<b>{escape(t.label)}</b>"
        for t in result.tokenizers
    )
    corpora = "".join(
        f"<li><b>{escape(c.name)}</b>: "
        f"{escape(c.description or ('parallel' if c.parallel else 'monolingual'))}; "
        f"{c.parts} parts, {c.segments:,} segments, {c.bytes:,} bytes"
        + (f"; parallel, reference <code>{escape(c.reference)}</code>" if c.reference else "")
        + "</li>"
        for c in result.corpora
    )
    warn = ""
    if result.failures:
        items = "".join(
            f"<li><b>{escape(f.tokenizer)}</b>"
            + (f" on {escape(f.corpus)}/{escape(str(f.part))}#{f.segment}" if f.corpus else "")
            + f": {escape(f.error)}</li>"
            for f in result.failures[:50]
        )
        more = f"<li>… {len(result.failures) - 50} more</li>" if len(result.failures) > 50 else ""
        warn = (
            f"<div class='warn'><b>{len(result.failures)} failures</b> (excluded from the numbers):"
            f"<ul>{items}{more}</ul></div>"
        )
    notes = "".join(
        f"<li><b>{escape(r.tokenizer)}</b> / {escape(r.corpus)}: {escape(k)}: {escape(v)}</li>"
        for r in result.results
        for k, v in r.notes.items()
    )
    defs = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in result.definitions.items())
    details = "".join(_languages_table(result, r) for r in result.results)
    timing = ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in result.timing.items())
    body = f"""
<h1>Tokenizer evaluation</h1>
<p class="meta">tokenforge {escape(str(cfg.get("tokenforge")))}
 · metrics: {escape(", ".join(cfg.get("metrics", [])))}
 · Rényi α = {cfg.get("alpha")} · time: {escape(timing)}</p>
<p>Tokenizers: {toks}.</p>
<ul>{corpora}</ul>
{warn}
<h2 id="summary-h">Summary</h2>
{_summary(result)}
<h2 id="premium">Token premium per language</h2>
{_premium_section(result)}
<h2 id="compression">Compression against vocabulary size</h2>
{_compression_section(result)}
<h2 id="categories">Vocabulary categories</h2>
{_categories_section(result)}
<h2 id="comparison">Vocabulary comparison</h2>
{_comparison_section(result)}
<h2 id="morphology">Morphology</h2>
{_morphology_section(result)}
<h2 id="tokens">Token view</h2>
{_token_view(result)}
<h2 id="languages">Per-language details</h2>
{details}
{"<h2>Notes</h2><ul class='help'>" + notes + "</ul>" if notes else ""}
<h2 id="definitions">Definitions</h2>
<dl class="defs">{defs}</dl>
"""
    return page("tokenforge evaluation", body)
