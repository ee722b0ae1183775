"""Readable diffs of Chinese text: paragraphs aligned first, then changed paragraphs diffed by character.

Chinese has no spaces, so line and word diffs are useless on it. The steps:

1. split both texts into paragraphs (lines, each keeping its newline) and align them with difflib
   (autojunk off), so an inserted or moved paragraph does not make the rest look changed;
2. inside a block of changed paragraphs, pair old and new paragraphs by character-bigram similarity
   (order kept); unpaired ones are whole deletions or insertions;
3. diff each pair by character with diff-match-patch plus its semantic clean-up (phrases, not confetti);
4. widen every change to whole figures and Latin words (800 → 860 is one change, not one digit).

The result is a list of :class:`Op` whose ``old`` parts concatenate to the old text and whose ``new``
parts concatenate to the new text. Renderers turn it into terminal text, HTML or JSON.
"""
from __future__ import annotations

import difflib
import html
import json
import re
from collections import Counter
from dataclasses import dataclass, field

from diff_match_patch import diff_match_patch

METADATA_FIELDS = ("title", "published", "publisher")
PAIR_THRESHOLD = 0.4  # bigram similarity above which two paragraphs count as "the same, edited"
BAND_CELLS = 40_000  # paragraph pairs compared in one changed block, at most (near its diagonal)
MIN_BAND = 12  # …but always at least this many paragraphs either side of the diagonal
WORD_RE = re.compile(r"\d+(?:[.,:]\d+)*%?|[A-Za-z]+(?:['’][A-Za-z]+)*")


@dataclass
class Op:
    """One run of the diff: ``equal`` (old == new), ``insert``, ``delete`` or ``replace``."""

    op: str
    old: str
    new: str
    moved: bool = False  # a deleted/inserted paragraph that appears unchanged elsewhere

    def as_dict(self) -> dict:
        out = {"op": self.op, "old": self.old, "new": self.new}
        if self.moved:
            out["moved"] = True
        return out


@dataclass
class Diff:
    """A diff between two revisions of one document, with the metadata fields that changed."""

    document: dict
    from_revision: dict | None
    to_revision: dict
    changes: list[Op]
    metadata: dict[str, list[Op]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.metadata) or any(op.op != "equal" for op in self.changes)

    def stats(self) -> tuple[int, int]:
        """Characters (added, removed) in the text."""
        return chars_changed(self.changes)


# ---------------------------------------------------------------- core algorithm

def diff_texts(old: str, new: str) -> list[Op]:
    """Diff two texts: paragraph alignment, then character diffs of changed paragraphs."""
    old_paras, new_paras = _paragraphs(old), _paragraphs(new)
    # align on content: the last paragraph may lack the newline the same paragraph has elsewhere
    matcher = difflib.SequenceMatcher(None, [p.rstrip("\n") for p in old_paras],
                                      [p.rstrip("\n") for p in new_paras], autojunk=False)
    ops: list[Op] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for a, b in zip(old_paras[i1:i2], new_paras[j1:j2], strict=True):
                ops.extend(diff_chars(a, b))
            continue
        for a, b in _pair_paragraphs(old_paras[i1:i2], new_paras[j1:j2]):
            if a is None:
                ops.append(Op("insert", "", b))
            elif b is None:
                ops.append(Op("delete", a, ""))
            else:
                ops.extend(diff_chars(a, b))
    ops = _merge_ops(ops)
    _mark_moves(ops)
    return ops


def diff_chars(old: str, new: str) -> list[Op]:
    """Character diff of two strings, cleaned up into phrases, with figures and words kept whole."""
    if old == new:
        return [Op("equal", old, new)] if old else []
    dmp = diff_match_patch()
    dmp.Diff_Timeout = 2.0
    diffs = dmp.diff_main(old, new, False)
    dmp.diff_cleanupSemantic(diffs)
    regions = _regions(diffs)
    regions = _snap_to_words(regions, old, new)
    return _ops_from_regions(regions, old, new)


def diff_metadata(old: dict | None, new: dict) -> dict[str, list[Op]]:
    """Character diffs of the metadata fields (title, published, publisher) that differ."""
    out = {}
    for name in METADATA_FIELDS:
        a = "" if old is None or old.get(name) is None else str(old.get(name))
        b = "" if new.get(name) is None else str(new.get(name))
        if a != b:
            out[name] = diff_chars(a, b)
    return out


def chars_changed(ops: list[Op]) -> tuple[int, int]:
    """(characters added, characters removed) over the ops, newlines not counted."""
    added = sum(len(op.new.replace("\n", "")) for op in ops if op.op != "equal")
    removed = sum(len(op.old.replace("\n", "")) for op in ops if op.op != "equal")
    return added, removed


def _paragraphs(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _bigrams(text: str) -> frozenset[str]:
    text = text.strip()
    if len(text) < 2:
        return frozenset([text]) if text else frozenset()
    return frozenset(text[i:i + 2] for i in range(len(text) - 1))


def _similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Dice coefficient of two paragraphs' character-bigram sets."""
    total = len(a) + len(b)
    if not total:
        return 1.0
    return 2 * len(a & b) / total


def _pair_paragraphs(old: list[str], new: list[str]) -> list[tuple[str | None, str | None]]:
    """Order-preserving pairing that maximises total similarity; unpaired ones stand alone.

    Only pairs near the block's diagonal are compared (a band of BAND_CELLS cells in all, so a block of
    400 rewritten paragraphs costs milliseconds, not seconds); among the pairs at least PAIR_THRESHOLD
    similar, the best chain increasing on both sides is found as a weighted longest increasing
    subsequence (Fenwick tree of prefix maxima over new-side positions)."""
    m, n = len(old), len(new)
    if not m or not n:
        return [(a, None) for a in old] + [(None, b) for b in new]
    grams_old, grams_new = [_bigrams(p) for p in old], [_bigrams(p) for p in new]
    width = max(MIN_BAND, BAND_CELLS // (2 * max(m, n)))
    candidates: list[tuple[int, int, float]] = []
    for i in range(m):
        centre = (i * n) // m
        for j in range(max(0, centre - width), min(n, centre + width + 1)):
            sim = _similarity(grams_old[i], grams_new[j])
            if sim >= PAIR_THRESHOLD:
                candidates.append((i, j, sim))
    # weighted LIS: best[k] = candidates[k]'s sim + best chain ending at (i' < i, j' < j)
    tree: list[tuple[float, int]] = [(0.0, -1)] * (n + 1)  # 1-based Fenwick tree over j: (score, candidate)

    def query(j: int) -> tuple[float, int]:  # best over positions 0..j-1
        out = (0.0, -1)
        while j > 0:
            out = max(out, tree[j])
            j -= j & -j
        return out

    def update(j: int, value: tuple[float, int]) -> None:
        j += 1
        while j <= n:
            tree[j] = max(tree[j], value)
            j += j & -j

    best: list[float] = []
    back: list[int] = []
    k = 0
    while k < len(candidates):  # all candidates of one old paragraph read the tree before any updates it
        i = candidates[k][0]
        group = []
        while k < len(candidates) and candidates[k][0] == i:
            _, j, sim = candidates[k]
            score, prev = query(j)
            best.append(score + sim)
            back.append(prev)
            group.append((j, k))
            k += 1
        for j, idx in group:
            update(j, (best[idx], idx))
    chain: list[tuple[int, int]] = []
    idx = max(range(len(best)), key=best.__getitem__) if best else -1
    while idx >= 0:
        chain.append(candidates[idx][:2])
        idx = back[idx]
    chain.reverse()
    pairs: list[tuple[str | None, str | None]] = []
    i = j = 0
    for pi, pj in chain:
        pairs.extend((old[k], None) for k in range(i, pi))
        pairs.extend((None, new[k]) for k in range(j, pj))
        pairs.append((old[pi], new[pj]))
        i, j = pi + 1, pj + 1
    pairs.extend((old[k], None) for k in range(i, m))
    pairs.extend((None, new[k]) for k in range(j, n))
    return pairs


def _regions(diffs: list[tuple[int, str]]) -> list[list[int]]:
    """Changed regions as [old_start, old_end, new_start, new_end], from dmp's (op, text) list."""
    regions: list[list[int]] = []
    i = j = 0
    current: list[int] | None = None
    for kind, text in diffs:
        if kind == 0:
            if current:
                regions.append(current)
                current = None
            i += len(text)
            j += len(text)
            continue
        if current is None:
            current = [i, i, j, j]
        if kind < 0:
            i += len(text)
            current[1] = i
        else:
            j += len(text)
            current[3] = j
    if current:
        regions.append(current)
    return regions


def _token_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in WORD_RE.finditer(text)]


def _widen(pos: int, spans: list[tuple[int, int]], left: bool) -> int:
    """How far a boundary at pos must move (left or right) to leave no figure or word cut in two."""
    for start, end in spans:
        if start < pos < end:
            return pos - start if left else end - pos
        if start >= pos:
            break
    return 0


def _snap_to_words(regions: list[list[int]], old: str, new: str) -> list[list[int]]:
    """Widen each region to whole figures/Latin words on both sides; merge regions that meet."""
    spans_old, spans_new = _token_spans(old), _token_spans(new)
    changed = True
    while changed:
        changed = False
        out: list[list[int]] = []
        for region in regions:
            os_, oe, ns, ne = region
            left = max(_widen(os_, spans_old, True), _widen(ns, spans_new, True))
            right = max(_widen(oe, spans_old, False), _widen(ne, spans_new, False))
            if left or right:
                changed = True
                os_, ns, oe, ne = os_ - left, ns - left, oe + right, ne + right
            if out and os_ <= out[-1][1]:
                prev = out[-1]
                out[-1] = [prev[0], max(prev[1], oe), prev[2], max(prev[3], ne)]
                changed = changed or os_ < out[-1][1]
            else:
                out.append([os_, oe, ns, ne])
        regions = out
    return regions


def _ops_from_regions(regions: list[list[int]], old: str, new: str) -> list[Op]:
    ops: list[Op] = []
    i = j = 0
    for os_, oe, ns, ne in regions:
        if os_ > i:
            ops.append(Op("equal", old[i:os_], new[j:ns]))
        a, b = old[os_:oe], new[ns:ne]
        kind = "replace" if a and b else ("delete" if a else "insert")
        ops.append(Op(kind, a, b))
        i, j = oe, ne
    if i < len(old):
        ops.append(Op("equal", old[i:], new[j:]))
    return ops


def _merge_ops(ops: list[Op]) -> list[Op]:
    """Join neighbouring runs: equal with equal, and any mix of changes into one change."""
    out: list[Op] = []
    for op in ops:
        if not op.old and not op.new:
            continue
        if out and (out[-1].op == "equal") == (op.op == "equal"):
            prev = out[-1]
            old, new = prev.old + op.old, prev.new + op.new
            kind = "equal" if op.op == "equal" else ("replace" if old and new else
                                                     ("delete" if old else "insert"))
            out[-1] = Op(kind, old, new)
        else:
            out.append(op)
    return out


def _mark_moves(ops: list[Op]) -> None:
    """Flag whole-paragraph deletions and insertions whose text also appears on the other side."""
    deleted = Counter(op.old.strip() for op in ops if op.op == "delete" and op.old.strip())
    inserted = Counter(op.new.strip() for op in ops if op.op == "insert" and op.new.strip())
    for op in ops:
        key = (op.old if op.op == "delete" else op.new).strip()
        if (op.op == "delete" and inserted[key]) or (op.op == "insert" and deleted[key]):
            op.moved = True


# ---------------------------------------------------------------- revisions in the archive

def diff_revisions(document: dict, old: dict | None, new: dict) -> Diff:
    """Diff two revision rows (dicts with title, published, publisher, text); old None = from nothing."""
    changes = diff_texts(old["text"] if old else "", new["text"])
    return Diff(document=document, from_revision=old, to_revision=new, changes=changes,
                metadata=diff_metadata(old, new))


# ---------------------------------------------------------------- renderers

ANSI = {"delete": "\x1b[31;9m", "insert": "\x1b[32;4m", "reset": "\x1b[0m", "dim": "\x1b[2m"}
MARKERS = {"delete": ("[-", "-]"), "insert": ("{+", "+}")}


def _segments(ops: list[Op]) -> list[tuple[str, str]]:
    """(kind, text) pieces in reading order: equal text, then deleted text, then inserted text."""
    out = []
    for op in ops:
        if op.op == "equal":
            out.append(("equal", op.new))
            continue
        if op.old:
            out.append(("delete", op.old))
        if op.new:
            out.append(("insert", op.new))
    return out


def _lines(ops: list[Op]) -> list[list[tuple[str, str]]]:
    """The segments split into display lines; a change of line breaks alone shows as ↵."""
    lines: list[list[tuple[str, str]]] = [[]]
    for kind, text in _segments(ops):
        pieces = text.split("\n")
        for k, piece in enumerate(pieces):
            last = k == len(pieces) - 1
            if not last and kind != "equal" and not text.strip("\n"):
                piece += "↵"  # a change that is only a line break (paragraphs joined or split)
            if piece:
                lines[-1].append((kind, piece))
            if not last:
                lines.append([])
    return lines


def _mark(kind: str, text: str, color: bool) -> str:
    if kind == "equal":
        return text
    start, end = (ANSI[kind], ANSI["reset"]) if color else MARKERS[kind]
    return f"{start}{text}{end}"


def _inline(ops: list[Op], color: bool) -> str:
    return "\n".join("".join(_mark(k, t, color) for k, t in line) for line in _lines(ops))


def revision_label(rev: dict | None) -> str:
    if rev is None:
        return "(nothing)"
    return f"revision {rev['id']} fetched {rev.get('fetched_at') or '?'}"


def render_text(diff: Diff, *, color: bool = False, context: int = 1) -> str:
    """Terminal rendering: changed lines with ``context`` lines around; ANSI colours or [-…-]{+…+}."""
    doc = diff.document
    out = [f"document {doc.get('id')}: {doc.get('title') or ''}", f"url: {doc.get('url') or ''}",
           f"--- {revision_label(diff.from_revision)}", f"+++ {revision_label(diff.to_revision)}"]
    for name, ops in diff.metadata.items():
        out.append(f"{name}: {_inline(ops, color)}")
    added, removed = diff.stats()
    out.append(f"text: +{added} -{removed} characters")
    if not any(op.op != "equal" for op in diff.changes):
        out.append("(text unchanged)")
        return "\n".join(out) + "\n"
    lines = _lines(diff.changes)
    if lines and not lines[-1]:
        lines.pop()
    marked = [any(kind != "equal" for kind, _ in line) for line in lines]
    out.append("")
    skipped = 0
    for k, line in enumerate(lines):
        if any(marked[max(0, k - context):k + context + 1]):
            if skipped:
                out.append(_skip_line(skipped, color))
                skipped = 0
            out.append("".join(_mark(kind, text, color) for kind, text in line))
        else:
            skipped += 1
    if skipped:
        out.append(_skip_line(skipped, color))
    return "\n".join(out) + "\n"


def _skip_line(count: int, color: bool) -> str:
    text = f"  ... {count} unchanged line{'s' if count != 1 else ''}"
    return f"{ANSI['dim']}{text}{ANSI['reset']}" if color else text


def render_html_fragment(ops: list[Op]) -> str:
    """The ops as escaped HTML with ``<del>``/``<ins>``; to be shown with ``white-space: pre-wrap``."""
    parts = []
    for kind, text in _segments(ops):
        escaped = html.escape(text)
        if kind == "equal":
            parts.append(escaped)
        else:
            tag = "del" if kind == "delete" else "ins"
            parts.append(f"<{tag}>{escaped}</{tag}>")
    return "".join(parts)


def render_metadata_rows(diff: Diff) -> str:
    """HTML table rows for the metadata fields that changed."""
    return "".join(f"<tr><th>{html.escape(name)}</th><td>{render_html_fragment(ops)}</td></tr>"
                   for name, ops in diff.metadata.items())


HTML_STYLE = """
body { font-family: system-ui, "Noto Sans CJK SC", "Source Han Sans SC", sans-serif; margin: 2em auto;
       max-width: 60em; line-height: 1.7; padding: 0 1em; }
.diff { white-space: pre-wrap; border: 1px solid #ddd; padding: 1em; }
del { background: #fdd; color: #900; text-decoration: line-through; }
ins { background: #dfd; color: #060; text-decoration: none; }
table.meta th { text-align: left; padding-right: 1em; vertical-align: top; }
"""


def render_html(diff: Diff) -> str:
    """A standalone HTML page: header, metadata changes, the text with ``<del>``/``<ins>``."""
    doc = diff.document
    title = html.escape(str(doc.get("title") or doc.get("url") or doc.get("id")))
    added, removed = diff.stats()
    url = html.escape(str(doc.get("url") or ""))
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>Diff: {title}</title>
<style>{HTML_STYLE}</style></head>
<body>
<h1>{title}</h1>
<p><a href="{url}">{url}</a></p>
<p class="revisions">{html.escape(revision_label(diff.from_revision))} → {html.escape(revision_label(diff.to_revision))}
· +{added} −{removed} characters</p>
<table class="meta">{render_metadata_rows(diff)}</table>
<div class="diff">{render_html_fragment(diff.changes)}</div>
</body></html>
"""


def diff_as_dict(diff: Diff) -> dict:
    """The JSON shape: document, from, to, changes (equal runs included), metadata changes."""
    doc = diff.document
    return {
        "document": {k: doc.get(k) for k in ("id", "url", "title", "source_id")},
        "from": diff.from_revision["id"] if diff.from_revision else None,
        "to": diff.to_revision["id"],
        "changes": [op.as_dict() for op in diff.changes],
        "metadata": {name: {"old": "".join(o.old for o in ops), "new": "".join(o.new for o in ops),
                            "changes": [o.as_dict() for o in ops]}
                     for name, ops in diff.metadata.items()},
    }


def render_json(diff: Diff) -> str:
    """The diff as pretty JSON (UTF-8, not ASCII-escaped)."""
    return json.dumps(diff_as_dict(diff), ensure_ascii=False, indent=2) + "\n"
