"""Faster alternations of regexes, read from the parsed patterns: the same matches, found with less work.

Python's `re` tries every alternative of `A|B|C` at every position of the text; it skips an alternative
cheaply only when the alternative starts with a literal or a character class. The volatile-text rules
(config/volatile.yaml) are a dozen alternatives that start with optional groups and lookbehinds, so each
was tried in full at every character of every line. Rewrites that keep every match exactly:

- `guarded(p)` puts a lookahead for the characters any match of `p` can start with in front of it, so
  the alternative is dropped at once where it cannot start;
- `Alternation(alternatives).sub` first looks for one of the characters every match must contain (one
  character class, which `re` scans fast) and leaves a text holding none of them untouched, and leaves out
  an alternative that could start anywhere where the text lacks characters it needs.

    guarded(r"(?<!\\d)(?:星期|周)?\\d+次")       # "(?=[\\d周星])(?:(?<!\\d)(?:星期|周)?\\d+次)"
    required_chars(r"(?:19|20)\\d\\d年")         # {"1", "2"}: a match holds one of them
    guarded(r"\\w*")                             # unchanged: it can match the empty string anywhere

A pattern whose characters cannot be read this way (backreferences, case-insensitive parts, negated
classes, a pattern that may match nothing) is left as it is.
"""
from __future__ import annotations

import re
from re import _constants as C  # the parser's opcodes (sre_constants before 3.11)
from re import _parser as P

_CATEGORIES = {C.CATEGORY_DIGIT: r"\d", C.CATEGORY_NOT_DIGIT: r"\D", C.CATEGORY_SPACE: r"\s",
               C.CATEGORY_NOT_SPACE: r"\S", C.CATEGORY_WORD: r"\w", C.CATEGORY_NOT_WORD: r"\W"}
_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT)
_ZERO_WIDTH = (C.AT, C.ASSERT, C.ASSERT_NOT)

# A set of characters as class items: (low, high) code points, or a category such as r"\d".
Chars = frozenset
First = tuple[Chars, bool]  # (characters a match starts with, whether it may match the empty string)


def first_chars(pattern: str) -> First | None:
    """The characters any match of `pattern` starts with, and whether it can match the empty string;
    None when that cannot be read from the pattern."""
    parsed = _parse(pattern)
    return None if parsed is None else _sequence(parsed)


def required_chars(pattern: str) -> Chars | None:
    """Characters of which every match of `pattern` contains at least one (the rarest such set read);
    None when none can be read (e.g. the pattern may match the empty string)."""
    parsed = _parse(pattern)
    return None if parsed is None else _required(parsed)


def char_class(chars: Chars) -> str:
    """Class items as the inside of a regex character class."""
    out = []
    for item in sorted(chars, key=str):
        if isinstance(item, str):
            out.append(item)
        elif item[0] == item[1]:
            out.append(re.escape(chr(item[0])))
        else:
            out.append(f"{re.escape(chr(item[0]))}-{re.escape(chr(item[1]))}")
    return "".join(out)


def guarded(pattern: str) -> str:
    """`pattern` behind a lookahead for the characters its matches start with (module docstring): the
    same matches at the same places. Unchanged when those characters cannot be read."""
    first = first_chars(pattern)
    if first is None or first[1] or not first[0]:
        return pattern
    return f"(?=[{char_class(first[0])}])(?:{pattern})"


BROAD = 256  # a set of more characters than this (a CJK range, \w) lets an alternative start almost anywhere


class Alternation:
    """`(?:a)|(?:b)|…` of `alternatives`, whose `sub` finds exactly the matches of that pattern (`pattern`,
    and `regex` compiled), with less work per character:

    - a text holding none of the characters every match needs is not searched;
    - an alternative that may start at almost any character (its first characters a broad set, e.g. a
      place name before a weather word) is left out for a text that lacks a set of characters it needs —
      it cannot match anywhere in that text, so the first alternative to match at each place is the same;
    - the alternatives kept are each guarded (`guarded`) and, together, behind one lookahead for all
      their first characters, so most places are passed over after one test.

    Only the whole match is meant to be used (leaving alternatives out renumbers capturing groups)."""

    def __init__(self, alternatives: list[str]) -> None:
        self.alternatives = list(alternatives)
        self.pattern = "|".join(f"(?:{a})" for a in self.alternatives) or "(?!)"
        self.regex = re.compile(self.pattern)
        needed = required_chars(self.pattern)
        self.needed: Chars | None = needed  # every match holds one of these characters
        self.hint = re.compile(f"[{char_class(needed)}]") if needed else None
        self.gates: list[tuple[int, re.Pattern]] = []
        for i, alternative in enumerate(self.alternatives):
            first = first_chars(alternative)
            if first is None or first[1] or _size(first[0]) > BROAD:
                wanted = required_chars(alternative)
                if wanted and _size(wanted) <= BROAD:
                    self.gates.append((i, re.compile(f"[{char_class(wanted)}]")))
        self._regexes: dict[tuple[int, ...], re.Pattern | None] = {}

    def sub(self, repl, text: str) -> str:
        if self.hint is not None and not self.hint.search(text):
            return text
        key = tuple(i for i, gate in self.gates if gate.search(text))
        regex = self._regexes[key] if key in self._regexes else self._compile(key)
        return text if regex is None else regex.sub(repl, text)

    def _compile(self, present: tuple[int, ...]) -> re.Pattern | None:
        gated = {i for i, _ in self.gates}
        kept = [a for i, a in enumerate(self.alternatives) if i not in gated or i in present]
        regex = None
        if kept:
            body = "|".join(f"(?:{guarded(a)})" for a in kept)
            firsts = [first_chars(a) for a in kept]
            if all(f is not None and not f[1] and f[0] for f in firsts):
                body = f"(?=[{char_class(frozenset().union(*(f[0] for f in firsts)))}])(?:{body})"
            regex = re.compile(body)
        self._regexes[present] = regex
        return regex


def _parse(pattern: str):
    try:
        parsed = P.parse(pattern)
    except re.error:
        return None
    return None if parsed.state.flags & C.SRE_FLAG_IGNORECASE else parsed.data


def _class(op, av) -> Chars | None:
    """The characters one LITERAL or IN item matches; None for a negated class or an unknown category."""
    if op is C.LITERAL:
        return frozenset({(av, av)})
    chars = set()
    for kind, value in av:
        if kind is C.LITERAL:
            chars.add((value, value))
        elif kind is C.RANGE:
            chars.add(tuple(value))
        elif kind is C.CATEGORY and value in _CATEGORIES:
            chars.add(_CATEGORIES[value])
        else:
            return None
    return frozenset(chars)


def _sequence(items) -> First | None:
    chars: set = set()
    for op, av in items:
        found = _first(op, av)
        if found is None:
            return None
        chars |= found[0]
        if not found[1]:  # this item consumes a character: nothing after it can start the match
            return frozenset(chars), False
    return frozenset(chars), True


def _first(op, av) -> First | None:
    if op is C.LITERAL or op is C.IN:
        chars = _class(op, av)
        return None if chars is None else (chars, False)
    if op is C.SUBPATTERN:
        return None if av[1] & C.SRE_FLAG_IGNORECASE else _sequence(av[3])
    if op is C.ATOMIC_GROUP:
        return _sequence(av)
    if op is C.BRANCH:
        chars, empty = set(), False
        for alternative in av[1]:
            found = _sequence(alternative)
            if found is None:
                return None
            chars |= found[0]
            empty = empty or found[1]
        return frozenset(chars), empty
    if op in _REPEATS:
        low, _high, sub = av
        found = _sequence(sub)
        return None if found is None else (found[0], found[1] or low == 0)
    if op in _ZERO_WIDTH:  # anchors and lookarounds consume nothing: the next item starts the match
        return frozenset(), True
    return None  # ANY, NOT_LITERAL, backreferences, conditionals: not read


def _size(chars: Chars) -> int:
    """Roughly how many characters a set stands for, to pick the rarest required set (\\d and \\s as their
    ASCII members, the other categories as very common)."""
    size = 0
    for item in chars:
        if isinstance(item, str):
            size += {r"\d": 10, r"\s": 6}.get(item, 1 << 20)
        else:
            size += item[1] - item[0] + 1
    return size


# Characters found in almost every line of a page (digits, punctuation, the characters of a written date): a
# required set made of them rejects few texts, so it weighs as this many rarer characters when one is chosen.
COMMON = frozenset(map(ord, "0123456789年月日:：,，.。、;；()（）-/ "))
COMMON_WEIGHT = 64


def _weight(chars: Chars) -> int:
    """`_size`, with each common character counted as COMMON_WEIGHT: the rarest required set is the one
    most texts lack."""
    size = _size(chars)
    for item in chars:
        if isinstance(item, str):
            size += {r"\d": 10, r"\s": 6}.get(item, 0) * (COMMON_WEIGHT - 1)
        else:
            size += sum(item[0] <= c <= item[1] for c in COMMON) * (COMMON_WEIGHT - 1)
    return size


def _required(items) -> Chars | None:
    best = None
    for op, av in items:
        found = _required_item(op, av)
        if found is not None and (best is None or _weight(found) < _weight(best)):
            best = found
    return best


def _required_item(op, av) -> Chars | None:
    if op is C.LITERAL or op is C.IN:
        return _class(op, av)
    if op is C.SUBPATTERN:
        return None if av[1] & C.SRE_FLAG_IGNORECASE else _required(av[3])
    if op is C.ATOMIC_GROUP:
        return _required(av)
    if op is C.BRANCH:
        chars: set = set()
        for alternative in av[1]:
            found = _required(alternative)
            if found is None:
                return None
            chars |= found
        return frozenset(chars)
    if op in _REPEATS:
        low, _high, sub = av
        return _required(sub) if low >= 1 else None
    return None  # zero-width items require nothing; the rest is not read
