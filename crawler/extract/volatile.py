"""Per-visit text: view counters, clocks and "today" lines, weather, online-user counts.

A page shows these differently on every visit; kept, they would make a new revision on every recrawl and a
clock could pass for the publication date. The rules are data (config/volatile.yaml); this module removes
what they match from a parsed page (`scrub_tree`, before titles, dates and the body are looked for) and
from extracted lines (`strip_volatile`, for counters split over several elements).

    from crawler.extract.volatile import strip_volatile
    strip_volatile("时间：2024-01-05 来源：某区 浏览次数：1235\\n本文已被阅读1235次")  # "时间：2024-01-05 来源：某区"
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

import yaml

from .firstchar import Alternation, Prefilter
from .rules import RulesError, xpath
from .text import BLOCK_TAGS

VOLATILE_PATH = Path(__file__).resolve().parents[2] / "config" / "volatile.yaml"
WORD_LISTS = ("counter_label", "counter_prefix", "counter_unit", "quantity")
PROSE_CHARS = "。！？"  # sentence ends
PROSE_MARKS = re.compile(f"[{PROSE_CHARS}]")
# the text nodes holding a sentence end (an element's text, or a tail: then it is in the parent's text)
MARKED_TEXTS = f"descendant-or-self::text()[{' or '.join(f'contains(., {c!r})' for c in PROSE_CHARS)}]"
SENTENCE_END = re.compile("(?<=[。！？])")
# what is left of a line when only separators, brackets and punctuation remain
WORDLESS = re.compile(r"[\W_]+")
SPACES = re.compile(r"[ \t\u3000\xa0]{2,}")


@dataclass(frozen=True)
class VolatileRules:
    anywhere: Alternation | re.Pattern  # fragments removed from any line
    outside_prose: Alternation | re.Pattern  # fragments removed from lines that are not prose
    keep_after: re.Pattern  # ... unless the text before them ends with a date label
    counter_label_line: re.Pattern  # a line holding only a counter word ("浏览次数：")
    number_line: re.Pattern  # a line holding only a number ("1235 次")
    # a text this finds nothing in has no fragment of either kind (None: not known, search all)
    hint: Prefilter | None = None


def _expand(pattern: str, parts: dict[str, str]) -> str:
    for name, value in parts.items():
        pattern = pattern.replace("{" + name + "}", value)
    return pattern


@lru_cache(maxsize=4)
def load_volatile(path: str | None = None, *, fast: bool = True) -> VolatileRules:
    """Load and compile the volatile-text rules ($ZWGK_VOLATILE_RULES or config/volatile.yaml); cached.
    `fast=False` compiles the plain alternations (what the fast ones must match exactly, for tests)."""
    file = Path(path or os.environ.get("ZWGK_VOLATILE_RULES") or VOLATILE_PATH)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"cannot read volatile-text rules {file}: {exc}") from None
    parts = {str(k): str(v) for k, v in (data.get("parts") or {}).items()}
    for name in WORD_LISTS:
        words = data.get(name) or []
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
            raise RulesError(f"{file.name}: {name} must be a non-empty list of strings")
        parts[name] = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    compiled = {}
    for key in ("anywhere", "outside_prose"):
        patterns = data.get(key) or []
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise RulesError(f"{file.name}: {key} must be a list of regexes")
        try:
            # the same matches as the plain alternation, found with less work (firstchar.py)
            expanded = [_expand(p, parts) for p in patterns]
            compiled[key] = (Alternation(expanded) if fast
                             else re.compile("|".join(f"(?:{p})" for p in expanded) or "(?!)"))
        except re.error as exc:
            raise RulesError(f"{file.name}: bad {key} pattern: {exc}") from None
    try:
        keep_after = re.compile(str(data.get("keep_after") or "(?!)"))
    except re.error as exc:
        raise RulesError(f"{file.name}: bad keep_after pattern: {exc}") from None
    label = rf"(?:{parts['counter_prefix']})?(?:{parts['counter_label']})"
    hints = [getattr(compiled[key], "hint", None) for key in ("anywhere", "outside_prose")]
    return VolatileRules(
        anywhere=compiled["anywhere"],
        outside_prose=compiled["outside_prose"],
        keep_after=keep_after,
        counter_label_line=re.compile(rf"^\W*{label}\s*[:：]?\W*$"),
        number_line=re.compile(rf"^\W*\d[\d,，]*\s*(?:{parts['counter_unit']})?\W*$"),
        hint=hints[0] | hints[1] if all(hints) else None,
    )


def is_prose(text: str) -> bool:
    """Text that reads as running sentences (has a sentence end), where only labelled clocks are cut."""
    return bool(PROSE_MARKS.search(text))


def scrub(text: str, rules: VolatileRules | None = None, *, prose: bool | None = None,
          before: str | Callable[[], str] = "") -> str:
    """`text` without its volatile fragments. A line that is prose (has a sentence end) keeps everything
    but labelled clocks and whole sentences that are volatile ("……召开。本文已被阅读1235次"); a text node
    (`prose` given: whether its enclosing block is prose) keeps everything but labelled clocks if it is;
    other text loses every fragment. `before` is the text just before a text node; a fragment right after
    a date label ("发布日期：2024-03-05 星期二") is kept; `before` may be a function, called only when a
    fragment is found (reading it costs more than most scrubs)."""
    rules = rules or load_volatile()
    if not text or text.isspace() or (rules.hint is not None and not rules.hint.search(text)):
        return text  # (with no character a fragment needs, nothing below can change it)
    read: list[str] = []

    def cut(match: re.Match) -> str:
        if not read:
            read.append(before() if callable(before) else before)
        return match.group(0) if rules.keep_after.search(read[0] + match.string[:match.start()]) else ""

    cleaned = rules.anywhere.sub("", text)
    if prose:  # a text node of a prose block: where its sentences begin and end is not known here
        return cleaned
    if prose is None and is_prose(cleaned):  # a prose line: only whole sentences that are volatile go
        sentences = SENTENCE_END.split(cleaned)
        kept = [part for part, hinted in _hinted(sentences, cleaned, rules.outside_prose)
                if not (hinted and _all_volatile(part, rules, cut))]
        cleaned = "".join(kept)
    else:
        cleaned = rules.outside_prose.sub(cut, cleaned)
    if cleaned == text:
        return text
    return _tidy(cleaned) if WORDLESS.sub("", cleaned) else ""


def _hinted(sentences: list[str], text: str, rules) -> Iterator[tuple[str, bool]]:
    """Each sentence of `text` (in order, together spelling it) and whether it may hold a match of `rules`
    (its prefilter passes it): the prefilter's strings are found in one search of the text (none holds a
    sentence end, so none spans two sentences), its cores sought sentence by sentence; all True when the
    prefilter is not known."""
    hint = getattr(rules, "hint", None)
    if hint is None or any(PROSE_MARKS.search(w) for w in hint.words):
        yield from ((part, True) for part in sentences)
        return
    spots = [m.start() for m in hint.regex.finditer(text)] if hint.regex is not None else []
    start, k = 0, 0
    for part in sentences:
        end = start + len(part)
        while k < len(spots) and spots[k] < start:
            k += 1
        yield part, (k < len(spots) and spots[k] < end) or any(core.search(part) for core in hint.cores)
        start = end


def _all_volatile(text: str, rules: VolatileRules, cut) -> bool:
    stripped = rules.outside_prose.sub(cut, text)
    return stripped != text and not WORDLESS.sub("", stripped)


def _tidy(text: str) -> str:
    """Runs of spaces left where fragments were cut folded to one (tabs, which separate cells, kept)."""
    return SPACES.sub(lambda m: "\t" if "\t" in m.group(0) else " ", text).strip(" \u3000\xa0")


def strip_volatile(text: str, rules: VolatileRules | None = None, *, memo: dict[str, str] | None = None) -> str:
    """Lines of extracted text without volatile fragments; lines left empty are dropped, as is a counter
    word on its own line followed by a line holding only its number. `memo` (line -> scrubbed line) lets
    calls on one page share the work: the body's lines were mostly scrubbed already as the page's."""
    rules = rules or load_volatile()
    memo = {} if memo is None else memo
    lines = text.splitlines()
    gone: set[int] = set()
    for i, line in enumerate(lines):
        if rules.counter_label_line.match(line):
            following = next((j for j in range(i + 1, len(lines)) if lines[j].strip()), None)
            if following is not None and rules.number_line.match(lines[following]):
                gone |= {i, following}
    out: list[str] = []
    for i, line in enumerate(lines):
        if i in gone:
            cleaned = line
        else:
            cleaned = memo.get(line)
            if cleaned is None:
                cleaned = memo[line] = scrub(line, rules)
        if i in gone or (cleaned != line and not WORDLESS.sub("", cleaned)):
            continue
        out.append(cleaned)
    if out == lines:  # nothing volatile: the text as it came (splitlines would drop a last line break)
        return text
    return "\n".join(out)


SKIP = frozenset({"script", "style", "head", "title", "meta", "noscript", "template"})
BLOCKS = BLOCK_TAGS | {"td", "th", "tr", "body", "html", "header", "footer", "nav", "aside", "form", "center"}


def scrub_tree(tree, rules: VolatileRules | None = None):
    """Remove volatile fragments from the text of an lxml tree, in place: an element whose whole text is
    volatile ("<span>浏览量：<em>1235</em></span>") goes, and every text node loses its volatile fragments
    (judged as prose or not by its enclosing block). Returns the tree.

    One pass in document order. A block's prose-ness is what its text held when first asked: the elements
    holding a sentence end are found once, up front (one XPath), and a block whose text changed since is read
    again. Each element's enclosing block is looked up from its parent's (parents come first), and the
    elements inside a dropped one are passed over by position (an element's subtree follows it)."""
    rules = rules or load_volatile()
    prose: dict = {}  # block -> whether its text had a sentence end when first asked
    blocks: dict = {}  # element -> its enclosing block (itself if a block), None outside any
    marked = _marked(tree)  # elements whose text held a sentence end at the start
    changed: set = set()  # elements whose text changed since (and their ancestors)

    def in_prose(element) -> bool:
        block = blocks[element] if element in blocks else _enclosing_block(element)
        if block is None:
            return False
        found = prose.get(block)
        if found is None:  # a sentence end anywhere in its text (a mark is one character)
            found = prose[block] = (PROSE_MARKS.search("".join(block.itertext())) is not None
                                    if block in changed else block in marked)
        return found

    def change(element) -> None:
        while element is not None and element not in changed:
            changed.add(element)
            element = element.getparent()

    hint = rules.hint
    nodes = list(tree.iter())
    resume = 0  # index of the first node after the last dropped element's subtree
    for index, element in enumerate(nodes):
        tag = element.tag
        if index < resume or not isinstance(tag, str):
            continue
        parent = element.getparent()
        blocks[element] = element if tag in BLOCKS else (
            blocks[parent] if parent in blocks else _enclosing_block(parent))
        if tag in SKIP or parent is None:
            continue
        text = element.text
        # the whole text, None when longer than 120 characters (never dropped whole)
        whole = (text or "") if not len(element) else _text_upto(element, 120)
        if whole is not None and len(whole) > 120:
            whole = None
        # (a text the hint finds nothing in comes back from scrub as it is: scrub is not called for it)
        if whole is not None and whole.strip() and (hint is None or hint.search(whole)) and not scrub(
                whole, rules, prose=False, before=partial(_text_before, element)).strip() and (
                tag in BLOCKS or not in_prose(element)):
            resume = index + sum(1 for _ in element.iter())
            _drop(element, scrub(element.tail or "", rules, prose=in_prose(parent)))
            change(parent)
            continue
        tail = element.tail
        tail_hinted = tail and (hint is None or hint.search(tail))
        if whole is None and tail_hinted and tail.strip():  # the tail's `before`, read unscrubbed
            whole = "".join(element.itertext())
        if text:
            prose_text = in_prose(element)  # (asked even when not needed: a block's answer is its first one)
            if hint is None or hint.search(text):
                cleaned = scrub(text, rules, prose=prose_text, before=partial(_text_before, element))
                if cleaned is not text:
                    element.text = cleaned
                    change(element)
        if tail:
            prose_tail = in_prose(parent)
            if tail_hinted:
                cleaned = scrub(tail, rules, prose=prose_tail, before=whole or "")
                if cleaned is not tail:
                    element.tail = cleaned
                    change(parent)
    return tree


def _marked(tree) -> set:
    """The elements of `tree`'s document whose text (descendants' included) holds a sentence end."""
    root = tree.getroottree().getroot() if hasattr(tree, "getroottree") else tree
    marked: set = set()
    for text in xpath(MARKED_TEXTS)(root):
        element = text.getparent()
        if text.is_tail:
            element = element.getparent()
        while element is not None and element not in marked:
            marked.add(element)
            element = element.getparent()
    return marked


def _enclosing_block(element):
    """The element itself if it is a block, else its nearest block ancestor; None if there is none."""
    while element is not None and element.tag not in BLOCKS:
        element = element.getparent()
    return element


def _text_upto(element, limit: int) -> str | None:
    """The element's whole text if it is at most `limit` characters long, else None (libxml2 joins the text
    and cuts it at `limit` + 1 characters, faster than Python reading the pieces)."""
    text = str(xpath(f"substring(string(), 1, {limit + 1})")(element))
    return None if len(text) > limit else text


def _text_before(element) -> str:
    """The text just before an element in its parent: the previous sibling's text and tail, or the
    parent's own text (enough to see a label such as "发布日期：" in the cell or span before)."""
    previous = element.getprevious()
    if previous is not None:
        return ("".join(previous.itertext()) if isinstance(previous.tag, str) else "") + (previous.tail or "")
    parent = element.getparent()
    return parent.text or "" if parent is not None else ""


def _drop(element, tail: str) -> None:
    """Remove an element and its content; its (scrubbed) tail text stays with its parent."""
    parent = element.getparent()
    previous = element.getprevious()
    parent.remove(element)
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
