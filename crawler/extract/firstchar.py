"""Faster alternations of regexes, read from the parsed patterns: the same matches, found with less work.

Python's `re` tries every alternative of `A|B|C` at every position of the text; it skips an alternative
cheaply only when the alternative starts with a literal or a character class. The volatile-text rules
(config/volatile.yaml) are a dozen alternatives that start with optional groups and lookbehinds, so each
was tried in full at every character of every line. Rewrites that keep every match exactly:

- `guarded(p)` puts a lookahead for the characters any match of `p` can start with in front of it, so
  the alternative is dropped at once where it cannot start;
- `Alternation(alternatives).sub` first runs its `Prefilter` — one search for the strings every match of
  an alternative must contain (`required_words`), or its core (`core_regex`) where those are single
  characters — and leaves a text it finds nothing in untouched, and leaves out an alternative that could
  start anywhere where the text lacks what it needs.

    guarded(r"(?<!\\d)(?:星期|周)?\\d+次")       # "(?=[\\d周星])(?:(?<!\\d)(?:星期|周)?\\d+次)"
    required_chars(r"(?:19|20)\\d\\d")           # {"1", "2"}: a match holds one of them
    required_words(r"(?:星期|周)[一二]")          # {"星期一", "星期二", "周一", "周二"}
    guarded(r"\\w*")                             # unchanged: it can match the empty string anywhere

A pattern whose characters cannot be read this way (backreferences, case-insensitive parts, negated
classes, a pattern that may match nothing) is left as it is.
"""
from __future__ import annotations

import re
from re import _compiler
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


def required_words(pattern: str) -> frozenset[str] | None:
    """Strings of which every match of `pattern` contains at least one (the rarest such set read, none
    holding another); None when none can be read. Sharper than `required_chars`: "今天" is rarer than "今"."""
    parsed = _parse(pattern)
    return None if parsed is None else _words(parsed)


def words_regex(words: frozenset[str]) -> re.Pattern:
    """A regex that finds any of `words` (a text it finds nothing in holds none of them)."""
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w))))


def core_regex(pattern: str) -> re.Pattern | None:
    """`pattern` without its optional and zero-width items at either end, compiled: every match of
    `pattern` in a text holds a match of its core, in the same text. A weather rule may begin with any
    place name; its core begins with the weather word, so it is searched for quickly. None when nothing
    is left or the core cannot stand alone (a backreference)."""
    parsed = _parse(pattern)
    items = None if parsed is None else _core(parsed)
    return None if items is None else _compiler.compile(P.SubPattern(P.parse(pattern).state, items))


def _core(items) -> list | None:
    items = list(items)
    while len(items) == 1 and items[0][0] is C.SUBPATTERN and items[0][1][0] is None and not items[0][1][1]:
        items = list(items[0][1][3])  # (?:…) around the whole pattern
    while items and _optional(*items[0]):
        items.pop(0)
    while items and _optional(*items[-1]):
        items.pop()
    return items if items and "GROUPREF" not in str(items) else None


def _optional(op, av) -> bool:
    return op in _ZERO_WIDTH or (op in _REPEATS and av[0] == 0)


class Prefilter:
    """What every match of some alternatives needs, as one quick search: a text `search` finds nothing in
    has no match. An alternative needs one of its `required_words`; when those are single characters ("度"
    of a temperature, in every "年度"), what it needs is its core instead (`core_regex`: "晴 18℃").

    `words` and `cores` are the two parts (`cores` compiled one by one); `of` gives None when some
    alternative needs nothing that can be read."""

    def __init__(self, words: frozenset[str], cores: tuple[list, ...]) -> None:
        self.words, self._core_items = words, cores
        self.regex = words_regex(words) if words else None
        self.cores = tuple(_compiled(items) for items in cores)
        self._searches = tuple(r.search for r in (self.regex, *self.cores) if r is not None)

    @classmethod
    def of(cls, alternatives: list[str]) -> Prefilter | None:
        words: set[str] = set()
        cores = []
        for alternative in alternatives:
            needed = required_words(alternative)
            core = _core(_parse(alternative) or [])
            first = _sequence(core) if core else None
            if (needed and min(map(len, needed)) == 1 and first and not first[1] and _size(first[0]) <= BROAD
                    and "SUBPATTERN, (1" not in str(core)):  # (no capturing group: a core stands alone)
                cores.append(core)
            elif needed:
                words |= needed
            else:
                return None
        return cls(_shortest(words), tuple(cores))

    def __or__(self, other: Prefilter) -> Prefilter:
        return Prefilter(_shortest(self.words | other.words), self._core_items + other._core_items)

    def search(self, text: str) -> bool:
        for search in self._searches:
            if search(text):
                return True
        return False


def _compiled(items: list) -> re.Pattern:
    """Parsed items (no capturing groups) as a regex that finds the same texts, its first character
    standing alone where it was repeated (`\\d{1,2}` as `\\d\\d?`): `re` then scans for that character fast."""
    items = list(items)
    if items and items[0][0] in _REPEATS and items[0][1][0] >= 1 and len(items[0][1][2]) == 1:
        low, high, sub = items[0][1]
        rest = (items[0][0], (low - 1, high if high is C.MAXREPEAT else high - 1, sub))
        items[:1] = [sub[0], rest]
    state = P.State()
    state.flags = C.SRE_FLAG_UNICODE
    return _compiler.compile(P.SubPattern(state, items))


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

    - a text its `hint` (a `Prefilter`) finds nothing in is not searched;
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
        self.hint = Prefilter.of(self.alternatives)  # a text it finds nothing in has no match
        self.gates: list[tuple[int, re.Pattern]] = []
        for i, alternative in enumerate(self.alternatives):
            first = first_chars(alternative)
            if first is None or first[1] or _size(first[0]) > BROAD:
                core = _core(_parse(alternative) or [])
                core_first = _sequence(core) if core else None
                wanted = required_chars(alternative)
                if core_first and not core_first[1] and _size(core_first[0]) <= BROAD:
                    # its core starts with one of a few characters: searched for quickly
                    self.gates.append((i, core_regex(alternative)))
                elif wanted and _size(wanted) <= BROAD:
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


WORDS = 64  # at most this many strings in a set read by required_words


def _words(items) -> frozenset[str] | None:
    """The cheapest-to-reject set of strings a match of the sequence `items` must contain: what a run of
    items that each match one of a few strings spells ("今" then "天" or "日": 今天, 今日), or what one item
    that must match contains."""
    candidates, run = [], None
    for op, av in items:
        exact = _exact(op, av)
        if exact is not None:
            spelled = frozenset(a + b for a in run for b in exact) if run else exact
            if len(spelled) <= WORDS:
                run = spelled
                continue
        if run and "" not in run:
            candidates.append(_shortest(run))
        run = exact
        if exact is None:
            found = _words_item(op, av)
            if found:
                candidates.append(found)
    if run and "" not in run:  # (a run that may match nothing requires nothing)
        candidates.append(_shortest(run))
    return min(candidates, key=_words_weight, default=None)


def _exact(op, av) -> frozenset[str] | None:
    """The strings an item matches, when they are few (a literal, a small class, a group of such)."""
    if op is C.LITERAL:
        return frozenset({chr(av)})
    if op is C.IN:
        chars = _class(op, av)
        if chars is None or any(isinstance(i, str) for i in chars) or sum(h - lo + 1 for lo, h in chars) > WORDS:
            return None
        return frozenset(chr(c) for low, high in chars for c in range(low, high + 1))
    if op is C.SUBPATTERN and not av[1] & C.SRE_FLAG_IGNORECASE:
        return _exact_sequence(av[3])
    if op is C.BRANCH:
        strings: set[str] = set()
        for alternative in av[1]:
            found = _exact_sequence(alternative)
            if found is None or len(strings | found) > WORDS:
                return None
            strings |= found
        return frozenset(strings)
    return None


def _exact_sequence(items) -> frozenset[str] | None:
    strings = frozenset({""})
    for op, av in items:
        exact = _exact(op, av)
        if exact is None:
            return None
        strings = frozenset(a + b for a in strings for b in exact)
        if len(strings) > WORDS:
            return None
    return strings


def _shortest(words) -> frozenset[str]:
    """`words` without those holding another (a text holding a word holds every word inside it)."""
    return frozenset(w for w in words if not any(v != w and v in w for v in words))


def _words_item(op, av) -> frozenset[str] | None:
    if op is C.IN:
        chars = _class(op, av)
        if chars is None or any(isinstance(i, str) or i[1] - i[0] >= BROAD for i in chars):
            return None
        return frozenset(chr(c) for low, high in chars for c in range(low, high + 1))
    return _inside(op, av, _words, lambda found: _shortest(frozenset().union(*found)))


def _inside(op, av, sequence, union):
    """What a group, an atomic group, an alternation or a repeat requires, by `sequence` on what it holds: an
    alternation requires only what every branch requires something of (the `union` of them), a repeat only
    if it repeats at least once; a case-insensitive group and anything else require nothing (None)."""
    if op is C.SUBPATTERN:
        return None if av[1] & C.SRE_FLAG_IGNORECASE else sequence(av[3])
    if op is C.ATOMIC_GROUP:
        return sequence(av)
    if op is C.BRANCH:
        found = [sequence(alternative) for alternative in av[1]]
        return None if any(f is None for f in found) else union(found)
    if op in _REPEATS:
        low, _high, sub = av
        return sequence(sub) if low >= 1 else None
    return None  # zero-width items require nothing; the rest is not read


def _words_weight(words: frozenset[str]) -> float:
    """How many texts a set of required strings lets through, roughly: a common character (COMMON) counts
    as COMMON_WEIGHT rarer ones, and each further character of a string makes it four times rarer."""
    return sum(min(COMMON_WEIGHT if ord(c) in COMMON else 1 for c in w) / 4 ** (len(w) - 1) for w in words)


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
    return _inside(op, av, _required, lambda found: frozenset().union(*found))
