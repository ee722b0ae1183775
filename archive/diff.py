"""Readable diffs of Chinese text: paragraphs aligned first, then changed paragraphs diffed by character.

Chinese has no spaces, so line and word diffs are useless on it. The steps:

1. split both texts into paragraphs (lines, each keeping its newline) and align them with difflib
   (autojunk off), so an inserted or moved paragraph does not make the rest look changed;
2. inside a block of changed paragraphs, pair old and new paragraphs by character-bigram similarity
   (order kept); unpaired ones are whole deletions or insertions;
3. diff each pair by character with diff-match-patch plus its semantic clean-up (phrases, not confetti);
4. widen every change to whole figures and Latin words (800 → 860 is one change, not one digit), each
   text checked on its own: only the unchanged runs between changes shrink, by the same characters on
   both sides, so every op stays exact;
5. pair a whole deleted paragraph with a whole inserted one that is the same or similar (by bigrams, or,
   for a short paragraph heavily edited, by the characters its edits keep): a move, shown at its new
   place with its character edits (``edits``).

The result is a list of :class:`Op` whose ``old`` parts concatenate to the old text and whose ``new``
parts concatenate to the new text, each exactly the text it stands for (``equal``: old == new).
Renderers turn it into terminal text, HTML or JSON.
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
MOVE_THRESHOLD = 0.5  # bigram similarity above which a deleted and an inserted paragraph are one moved
MOVE_FLOOR = 0.2  # …or, above this, whose character diff keeps at least MOVE_KEPT of their characters
MOVE_KEPT = 0.6  # (shown as moved with edits, such a pair shows at most 40% of a deletion plus an insertion)
WORD_RE = re.compile(r"\d+(?:[.,:]\d+)*%?|[A-Za-z]+(?:['’][A-Za-z]+)*")


@dataclass
class Op:
    """One run of the diff: ``equal`` (old == new), ``insert``, ``delete`` or ``replace``."""

    op: str
    old: str
    new: str
    moved: bool = False  # a whole paragraph deleted here and inserted elsewhere (or inserted from elsewhere)
    edits: list[Op] | None = None  # on a moved insertion: its character diff from the paragraph it moved from

    def as_dict(self) -> dict:
        out: dict = {"op": self.op, "old": self.old, "new": self.new}
        if self.moved:
            out["moved"] = True
        if self.edits is not None:
            out["edits"] = [e.as_dict() for e in self.edits]
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
    """Diff two texts: paragraph alignment, character diffs of edited paragraphs, moves (edited or not)."""
    old_paras, new_paras = _paragraphs(old), _paragraphs(new)
    # align on content: the last paragraph may lack the newline the same paragraph has elsewhere
    matcher = difflib.SequenceMatcher(None, [p.rstrip("\n") for p in old_paras],
                                      [p.rstrip("\n") for p in new_paras], autojunk=False)
    ops: list[Op] = []
    whole: list[int] = []  # indices in ops of whole-paragraph deletions and insertions (move candidates)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for a, b in zip(old_paras[i1:i2], new_paras[j1:j2], strict=True):
                ops.extend(diff_chars(a, b))
            continue
        for a, b in _pair_paragraphs(old_paras[i1:i2], new_paras[j1:j2]):
            if a is None or b is None:
                whole.append(len(ops))
                ops.append(Op("insert", "", b) if a is None else Op("delete", a, ""))
            else:
                ops.extend(diff_chars(a, b))
    return _merge_ops(_mark_moves(ops, whole))


def diff_chars(old: str, new: str) -> list[Op]:
    """Character diff of two strings, cleaned up into phrases, with figures and words kept whole.

    Every op's ``old``/``new`` is exactly the slice of ``old``/``new`` it stands for: the unchanged runs
    found by diff-match-patch are only ever shortened, by the same amount on both sides (they are equal
    text), until no boundary cuts a figure or Latin word of either text."""
    if old == new:
        return [Op("equal", old, new)] if old else []
    dmp = diff_match_patch()
    dmp.Diff_Timeout = 2.0
    diffs = dmp.diff_main(old, new, False)
    dmp.diff_cleanupSemantic(diffs)
    runs = _equal_runs(diffs)
    runs = _snap_to_words(runs, old, new)
    return _ops_from_runs(runs, old, new)


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
    """(characters added, characters removed) over the ops, newlines not counted; a moved paragraph
    counts only its edits (moving text adds or removes none)."""
    added = removed = 0
    for op in ops:
        if op.moved:
            if op.edits:
                more, less = chars_changed(op.edits)
                added, removed = added + more, removed + less
        elif op.op != "equal":
            added += len(op.new.replace("\n", ""))
            removed += len(op.old.replace("\n", ""))
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


def _equal_runs(diffs: list[tuple[int, str]]) -> list[list[int]]:
    """The unchanged runs of dmp's (op, text) list, as [old_start, new_start, length]."""
    runs: list[list[int]] = []
    i = j = 0
    for kind, text in diffs:
        if kind == 0:
            runs.append([i, j, len(text)])
            i += len(text)
            j += len(text)
        elif kind < 0:
            i += len(text)
        else:
            j += len(text)
    return runs


def _token_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in WORD_RE.finditer(text)]


def _cut(pos: int, spans: list[tuple[int, int]], left: bool) -> int:
    """How many characters of a figure or word lie left (or right) of pos, when pos cuts one in two."""
    for start, end in spans:
        if start < pos < end:
            return pos - start if left else end - pos
        if start >= pos:
            break
    return 0


def _snap_to_words(runs: list[list[int]], old: str, new: str) -> list[list[int]]:
    """Shorten unchanged runs until no change boundary cuts a figure or Latin word, on either side.

    A run's ends are the boundaries of the changes around it. Each side is checked against its own
    text; the run loses the larger of the two cuts at that end (both sides lose the same characters,
    which are equal text), and a run used up joins the changes around it into one."""
    spans_old, spans_new = _token_spans(old), _token_spans(new)
    changed = True
    while changed:
        changed = False
        for run in runs:
            a, c, n = run
            if not n:
                continue
            k = min(n, max(_cut(a, spans_old, False), _cut(c, spans_new, False)))  # start of the run
            a, c, n = a + k, c + k, n - k
            k2 = min(n, max(_cut(a + n, spans_old, True), _cut(c + n, spans_new, True)))  # its end
            n -= k2
            if k or k2:
                run[:] = [a, c, n]
                changed = True
    return [run for run in runs if run[2]]


def _ops_from_runs(runs: list[list[int]], old: str, new: str) -> list[Op]:
    """Ops from the unchanged runs: equal for each run, a change for whatever lies between two runs."""
    ops: list[Op] = []
    i = j = 0
    for a, c, n in [*runs, [len(old), len(new), 0]]:
        if a > i or c > j:
            ops.append(_change(old[i:a], new[j:c]))
        if n:
            ops.append(Op("equal", old[a:a + n], new[c:c + n]))
        i, j = a + n, c + n
    return ops


def _change(old: str, new: str) -> Op:
    return Op("replace" if old and new else ("delete" if old else "insert"), old, new)


def _merge_ops(ops: list[Op]) -> list[Op]:
    """Join neighbouring runs: equal with equal, and any mix of changes into one change (moves stay apart)."""
    out: list[Op] = []
    for op in ops:
        if not op.old and not op.new:
            continue
        prev = out[-1] if out else None
        if prev and not prev.moved and not op.moved and (prev.op == "equal") == (op.op == "equal"):
            if op.op == "equal":
                out[-1] = Op("equal", prev.old + op.old, prev.new + op.new)
            else:
                out[-1] = _change(prev.old + op.old, prev.new + op.new)
        else:
            out.append(op)
    return out


def _mark_moves(ops: list[Op], whole: list[int]) -> list[Op]:
    """Pair whole-paragraph deletions with insertions of the same paragraph elsewhere, edited or not.

    Both ops of a pair get ``moved``; the insertion also gets ``edits`` (its character diff from the
    deleted paragraph) when the paragraph was edited on the way. A pair with nothing between them on one
    side (a short paragraph edited too much for _pair_paragraphs) did not move: it becomes its character
    diff in place. The ops are returned with those replaced. A pair is a move when the paragraphs'
    bigram similarity reaches MOVE_THRESHOLD, or, below that (but not below MOVE_FLOOR), when its edits
    keep at least MOVE_KEPT of the characters, so that shown as moved it shows clearly less than a whole
    deletion plus insertion would (a short paragraph heavily edited keeps few bigrams but most of its
    characters; unrelated paragraphs keep neither). Pairs are taken most similar first, each
    paragraph at most once; blocks too big to compare every pair only pair identical paragraphs."""
    dels = [k for k in whole if ops[k].op == "delete" and ops[k].old.strip()]
    ins = [k for k in whole if ops[k].op == "insert" and ops[k].new.strip()]
    if not dels or not ins:
        return ops
    candidates: list[tuple[float, int, int]] = []
    if len(dels) * len(ins) <= BAND_CELLS:
        grams = {k: _bigrams(ops[k].old or ops[k].new) for k in dels + ins}
        for d in dels:
            for i in ins:  # the same paragraph ranks above any similarity (an edited copy may share every bigram)
                sim = 2.0 if ops[d].old.strip() == ops[i].new.strip() else _similarity(grams[d], grams[i])
                if sim >= MOVE_FLOOR:
                    candidates.append((-sim, d, i))
    else:
        by_text: dict[str, list[int]] = {}
        for i in ins:
            by_text.setdefault(ops[i].new.strip(), []).append(i)
        candidates = [(-1.0, d, i) for d in dels for i in by_text.get(ops[d].old.strip(), ())]
    used: set[int] = set()
    in_place: dict[int, list[Op]] = {}
    for score, d, i in sorted(candidates):
        if d in used or i in used:
            continue
        edits = _move_edits(ops[d].old, ops[i].new, -score)
        if edits is None:
            continue
        used.update((d, i))
        between = ops[min(d, i) + 1:max(d, i)]
        inserts_only = all(not op.old for op in between)
        if inserts_only or all(not op.new for op in between):
            # nothing lies between on one side: it was edited where it stands, not moved
            in_place[i if inserts_only else d] = diff_chars(ops[d].old, ops[i].new)
            ops[d] = ops[i] = Op("equal", "", "")
            continue
        ops[d].moved = ops[i].moved = True
        ops[i].edits = edits or None
    return [edit for k, op in enumerate(ops) for edit in in_place.get(k, [op])]


def _move_edits(old: str, new: str, sim: float) -> list[Op] | None:
    """The character edits of a paragraph moved from old to new ([] if it was not edited), or None when
    the two are not one paragraph: below MOVE_THRESHOLD bigram similarity, the edits must keep MOVE_KEPT
    of the characters (checked first on the characters in any order, which is cheap)."""
    if old.strip() == new.strip():
        return []
    if sim < MOVE_THRESHOLD and _bag_similarity(old, new) < MOVE_KEPT:
        return None
    edits = diff_chars(old, new)
    return edits if sim >= MOVE_THRESHOLD or _kept_share(edits) >= MOVE_KEPT else None


def _bag_similarity(old: str, new: str) -> float:
    """Dice coefficient of two texts' character multisets: what two texts share in order, they share in
    any order, so this bounds the share of characters any diff of them can keep unchanged."""
    a, b = Counter(old), Counter(new)
    return 2 * sum((a & b).values()) / (len(old) + len(new))


def _kept_share(edits: list[Op]) -> float:
    """The share of both sides' characters that a character diff keeps unchanged (Dice coefficient)."""
    kept = sum(len(e.old) for e in edits if e.op == "equal")
    return 2 * kept / sum(len(e.old) + len(e.new) for e in edits)


# ---------------------------------------------------------------- revisions in the archive

def diff_revisions(document: dict, old: dict | None, new: dict) -> Diff:
    """Diff two revision rows (dicts with title, published, publisher, text); old None = from nothing."""
    changes = diff_texts(old["text"] if old else "", new["text"])
    return Diff(document=document, from_revision=old, to_revision=new, changes=changes,
                metadata=diff_metadata(old, new))


# ---------------------------------------------------------------- renderers

ANSI = {"delete": "\x1b[31;9m", "insert": "\x1b[32;4m", "moved_from": "\x1b[2;9m", "moved_to": "\x1b[36m",
        "reset": "\x1b[0m", "dim": "\x1b[2m"}
MARKERS = {"delete": ("[-", "-]"), "insert": ("{+", "+}"), "moved_from": ("[~", "~]"), "moved_to": ("{~", "~}")}
HTML_TAGS = {"delete": "<del>", "insert": "<ins>", "moved_from": '<del class="moved">',
             "moved_to": '<ins class="moved">'}


def _segments(ops: list[Op]) -> list[tuple[str, str]]:
    """(kind, text) pieces in reading order: equal text, then deleted text, then inserted text.

    A moved paragraph is ``moved_from`` where it was and ``moved_to`` where it is now; its edits are
    shown inside it as ordinary deletions and insertions."""
    out = []
    for op in ops:
        if op.op == "equal":
            out.append(("equal", op.new))
        elif op.moved and op.old:
            out.append(("moved_from", op.old))
        elif op.moved:
            for edit in op.edits or [Op("equal", op.new, op.new)]:
                if edit.op == "equal":
                    out.append(("moved_to", edit.new))
                    continue
                out.extend((kind, text) for kind, text in (("delete", edit.old), ("insert", edit.new)) if text)
        else:
            out.extend((kind, text) for kind, text in (("delete", op.old), ("insert", op.new)) if text)
    return out


def _lines(ops: list[Op]) -> list[list[tuple[str, str]]]:
    """The segments split into display lines; a change of line breaks alone shows as ↵."""
    lines: list[list[tuple[str, str]]] = [[]]
    for kind, text in _segments(ops):
        pieces = text.split("\n")
        for k, piece in enumerate(pieces):
            last = k == len(pieces) - 1
            if not last and kind in ("delete", "insert") and not text.strip("\n"):
                piece += "↵"  # a change that is only a line break (paragraphs joined or split)
            if piece:
                lines[-1].append((kind, piece))
            if not last:
                lines.append([])
    return lines


_CONTROL = dict.fromkeys([c for c in range(32) if c not in (9, 10)] + list(range(127, 160)))


def printable(text: str) -> str:
    """Scraped text for a terminal: C0 and C1 control characters dropped (escape sequences; U+009B is a
    one-character CSI to 8-bit terminals), tab and newline kept."""
    return text.translate(_CONTROL)


def _mark(kind: str, text: str, color: bool) -> str:
    text = printable(text)
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
    out = [printable(f"document {doc.get('id')}: {doc.get('title') or ''}"), printable(f"url: {doc.get('url') or ''}"),
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
            tag = HTML_TAGS[kind]
            parts.append(f"{tag}{escaped}</{tag[1:4]}>")
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
del.moved { background: #eee; color: #777; }
ins.moved { background: #def; color: #036; }
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
