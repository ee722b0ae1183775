"""A small, tolerant reader of JavaScript object literals, for the data pages carry in their scripts.

gkmlpt (政府信息公开目录管理平台) article pages carry their body in the page's config object literal,
e.g. ``window._CONFIG = {SID: '755041', …, DETAIL: {"id": 1, "content": "\\u003Cp\\u003E…"}, TREE: […]}``:
keys unquoted, strings single- or double-quoted, the content JSON-escaped. JSON parsers reject that and a
regex breaks on escaped quotes or braces inside strings, so this module reads the literal itself:

    from crawler.extract.jsobject import read_assigned
    config = read_assigned(html, "window._CONFIG")      # a dict, or None

What it accepts (a superset of JSON): unquoted identifier keys, number keys, '…' and "…" strings with JS
escapes (\\n \\t \\uXXXX \\u{…} \\xHH \\' \\/ and line continuations), trailing commas, // and /* */ comments,
true/false/null/undefined, NaN/Infinity, hex numbers, Unicode identifier keys. A value it cannot read (a
function, a call, a variable, an expression such as ``'//' + location.host``, a regex literal, a template
with ``${…}``, nesting deeper than MAX_DEPTH) becomes None and is skipped up to the next comma at its
level, and so is a member it cannot read (shorthand ``{a}``, a method, ``...spread``, ``[computed]: v``),
so one odd field never loses the rest of the object. When a name is assigned several times, the last
readable assignment not on a `//` line wins, as when the script runs.
"""
from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["JSObjectError", "find_object", "parse_value", "read_assigned"]

IDENT_RE = re.compile(r"(?:[^\W\d]|\$)[\w$]*")  # JS identifiers may be Unicode (`{标题: …}`)
NUMBER_RE = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
KEYWORDS = {"true": True, "false": False, "null": None, "undefined": None,
            "NaN": float("nan"), "Infinity": float("inf")}
CLOSERS = {"{": "}", "[": "]", "(": ")"}
ESCAPE_RE = re.compile(r"\\(u\{[0-9a-fA-F]{1,6}\}|u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
                       r"|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[0-3][0-7]{0,2}|[4-7][0-7]?|\r\n|[\s\S])")
OPERATORS = frozenset("+-*/%?.&|<>=!(^")  # after a value: the value was the start of an expression
REGEX_AFTER = frozenset("(,=:[!&|?{};+-*%~^<>")  # a `/` after these (or first) starts a regex literal
MEMBER_MODIFIERS = frozenset({"get", "set", "async", "static"})
MAX_DEPTH = 200
_JSON = json.JSONDecoder(strict=False)  # strict=False: raw tabs and newlines inside strings are kept


class JSObjectError(ValueError):
    """Text that is not a readable object literal; the message names the position."""


def parse_value(text: str, pos: int = 0) -> tuple[Any, int]:
    """Read one JS literal value starting at `pos` (whitespace and comments skipped): (value, end)."""
    return _Reader(text).value(pos, 0)


def find_object(text: str, start: int) -> dict | None:
    """The object literal whose `{` is the first non-space character at or after `start`, or None."""
    reader = _Reader(text)
    pos = reader.skip(start)
    if pos >= len(text) or text[pos] != "{":
        return None
    try:
        value, _ = reader.value(pos, 0)
    except JSObjectError:
        return None
    return value if isinstance(value, dict) else None


def read_assigned(text: str, name: str) -> dict | None:
    """The object literal assigned to `name` (``name = {…}``; `name` may be dotted, e.g.
    ``window._CONFIG``; a ``window.`` prefix is optional in the page), or None when there is none.
    Assigned several times (a placeholder, then the real config), the last readable assignment wins, as
    it does when the page's script runs; one on a line commented out with `//` does not count."""
    dotted = r"\s*\.\s*".join(re.escape(part) for part in name.removeprefix("window.").split("."))
    pattern = re.compile(rf"(?<![\w$.])(?:window\s*\.\s*)?{dotted}\s*=(?!=)")
    found = None
    for match in pattern.finditer(text):
        if _after_line_comment(text, match.start()):
            continue
        value = find_object(text, match.end())
        if value is not None:
            found = value
    return found


def _after_line_comment(text: str, pos: int) -> bool:
    """Whether `pos` is on a line that a `//` (or a `*` of a block comment) begins."""
    low = max(0, pos - 400)
    newline = text.rfind("\n", low, pos)
    if newline < 0 and low > 0:  # a long (minified) line: its start is too far to tell
        return False
    return text[newline + 1:pos].lstrip().startswith(("//", "*"))


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)

    def fail(self, pos: int, what: str) -> JSObjectError:
        return JSObjectError(f"object literal: {what} at character {pos}")

    def skip(self, pos: int) -> int:
        """Past whitespace and comments."""
        text, n = self.text, self.n
        while pos < n:
            ch = text[pos]
            if ch.isspace() or ch == "\ufeff":
                pos += 1
            elif text.startswith("//", pos):
                end = text.find("\n", pos)
                pos = n if end < 0 else end + 1
            elif text.startswith("/*", pos):
                end = text.find("*/", pos + 2)
                if end < 0:
                    raise self.fail(pos, "unterminated comment")
                pos = end + 2
            else:
                break
        return pos

    def value(self, pos: int, depth: int) -> tuple[Any, int]:
        pos = self.skip(pos)
        if depth > MAX_DEPTH:  # read no deeper (Python's stack), but keep the rest of the object
            return None, self.skip_expression(pos)
        if pos >= self.n:
            raise self.fail(pos, "value expected, text ended")
        ch = self.text[pos]
        if ch == "{":
            return self.obj(pos, depth)
        if ch == "[":
            return self.array(pos, depth)
        if ch in "'\"`":
            return self.string(pos)
        m = NUMBER_RE.match(self.text, pos)
        if m and (ch in "+-.0123456789"):
            return _number(m.group()), m.end()
        m = IDENT_RE.match(self.text, pos)
        if m and m.group() in KEYWORDS and not self._continues(m.end()):
            return KEYWORDS[m.group()], m.end()
        return None, self.skip_expression(pos)

    def _continues(self, pos: int) -> bool:
        """Whether an identifier is followed by more expression (`.x`, `(…)`, `[…]`)."""
        pos = self.skip(pos)
        return pos < self.n and self.text[pos] in ".(["

    def skip_expression(self, pos: int) -> int:
        """Past an expression this reader does not evaluate: up to the next , } or ] at its level."""
        stack: list[str] = []
        text, n = self.text, self.n
        start = pos
        before = ""  # the last significant character, to tell a regex literal from a division
        while pos < n:
            ch = text[pos]
            if ch in "'\"`":
                _, pos = self.string(pos)
                before = ch
                continue
            if text.startswith("//", pos) or text.startswith("/*", pos):
                pos = self.skip(pos)
                continue
            if ch == "/" and (not before or before in REGEX_AFTER):
                pos = self.regex(pos)
                before = "/"
                continue
            if not ch.isspace():
                before = ch
            if ch in CLOSERS:
                stack.append(CLOSERS[ch])
            elif ch in ")]}":
                if not stack:
                    break
                if stack.pop() != ch:
                    raise self.fail(pos, f"unbalanced {ch!r}")
            elif ch == "," and not stack:
                break
            pos += 1
        if pos == start or stack:
            raise self.fail(start, "value expected")
        return pos

    def regex(self, pos: int) -> int:
        """Past a regex literal `/…/flags` (its `/` may stand in a class: `/[/]/`)."""
        text, n = self.text, self.n
        end, in_class = pos + 1, False
        while end < n and text[end] != "\n":
            ch = text[end]
            if ch == "\\":
                end += 2
                continue
            if ch == "[":
                in_class = True
            elif ch == "]":
                in_class = False
            elif ch == "/" and not in_class:
                m = IDENT_RE.match(text, end + 1)
                return m.end() if m else end + 1
            end += 1
        raise self.fail(pos, "unterminated regular expression")

    def after_value(self, start: int, value: Any, pos: int) -> tuple[Any, int]:
        """A value followed by an operator (`'a' + b`, `x.y()`, `c ? d : e`) was an expression's start:
        the expression is skipped and stands as None."""
        pos = self.skip(pos)
        if pos < self.n and self.text[pos] in OPERATORS:
            return None, self.skip_expression(start)
        return value, pos

    def member(self, pos: int) -> int | None:
        """Past a member this reader does not read (`...spread`, `[computed]: v`, a method `f() {…}`,
        `get x() {…}`), or None when `pos` starts an ordinary `key: value` member."""
        text = self.text
        if text.startswith("...", pos) or text[pos] == "[":
            return self.skip_expression(pos)
        m = IDENT_RE.match(text, pos)
        if not m:
            return None
        after = self.skip(m.end())
        if after < self.n and (text[after] == "(" or (m.group() in MEMBER_MODIFIERS and IDENT_RE.match(text, after))):
            return self.skip_expression(pos)
        return None

    def obj(self, pos: int, depth: int) -> tuple[dict, int]:
        result: dict[str, Any] = {}
        pos += 1
        while True:
            pos = self.skip(pos)
            if pos >= self.n:
                raise self.fail(pos, "unterminated object")
            if self.text[pos] == "}":
                return result, pos + 1
            skipped = self.member(pos)
            if skipped is not None:
                pos = skipped
            else:
                key, pos = self.key(pos)
                pos = self.skip(pos)
                if pos < self.n and self.text[pos] in ",}" and IDENT_RE.fullmatch(key):
                    result[key] = None  # shorthand `{a, b}`: a variable's value, unknown here
                elif pos >= self.n or self.text[pos] != ":":
                    raise self.fail(pos, f"':' expected after key {key!r}")
                else:
                    start = self.skip(pos + 1)
                    value, pos = self.value(start, depth + 1)
                    result[key], pos = self.after_value(start, value, pos)
            pos = self.skip(pos)
            if pos < self.n and self.text[pos] == ",":
                pos += 1
            elif pos < self.n and self.text[pos] == "}":
                return result, pos + 1
            else:
                raise self.fail(pos, "',' or '}' expected")

    def key(self, pos: int) -> tuple[str, int]:
        ch = self.text[pos]
        if ch in "'\"":
            return self.string(pos)
        m = IDENT_RE.match(self.text, pos)
        if m:
            return m.group(), m.end()
        m = NUMBER_RE.match(self.text, pos)
        if m:
            number = _number(m.group())
            return (str(number) if not isinstance(number, float) or not number.is_integer()
                    else str(int(number))), m.end()
        raise self.fail(pos, "key expected")

    def array(self, pos: int, depth: int) -> tuple[list, int]:
        result: list[Any] = []
        pos += 1
        while True:
            pos = self.skip(pos)
            if pos >= self.n:
                raise self.fail(pos, "unterminated array")
            if self.text[pos] == "]":
                return result, pos + 1
            if self.text[pos] == ",":  # an elision: [1,,2]
                result.append(None)
                pos += 1
                continue
            value, end = self.value(pos, depth + 1)
            value, pos = self.after_value(pos, value, end)
            result.append(value)
            pos = self.skip(pos)
            if pos < self.n and self.text[pos] == ",":
                pos += 1
            elif pos < self.n and self.text[pos] == "]":
                return result, pos + 1
            else:
                raise self.fail(pos, "',' or ']' expected")

    def string(self, pos: int) -> tuple[str, int]:
        quote, text = self.text[pos], self.text
        end = text.find(quote, pos + 1)
        if quote == "`" and text.find("${", pos, end if end > 0 else self.n) >= 0:
            return self.template(pos)
        while end > 0 and _escaped(text, end):
            end = text.find(quote, end + 1)
        if end < 0:
            raise self.fail(pos, "unterminated string")
        body = text[pos + 1:end]
        if "\\" not in body:
            return body, end + 1
        if quote == '"' or '"' not in body:  # JSON's escapes (most pages' case) decode in C
            try:
                return _JSON.decode(f'"{body}"'), end + 1
            except ValueError:
                pass
        return ESCAPE_RE.sub(_unescape, body), end + 1


    def template(self, pos: int) -> tuple[str, int]:
        """A template literal with substitutions (`` `a ${b + `c`} d` ``): its raw text, unevaluated, with
        nested strings and templates inside `${…}` skipped whole."""
        text, n = self.text, self.n
        end = pos + 1
        while end < n:
            ch = text[end]
            if ch == "\\":
                end += 2
            elif ch == "`":
                return ESCAPE_RE.sub(_unescape, text[pos + 1:end]), end + 1
            elif text.startswith("${", end):
                end = self.substitution(end + 2)
            else:
                end += 1
        raise self.fail(pos, "unterminated string")

    def substitution(self, pos: int) -> int:
        """Past the `}` that closes a template's `${`."""
        depth, text, n = 1, self.text, self.n
        while pos < n:
            ch = text[pos]
            if ch in "'\"`":
                _, pos = self.string(pos)
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return pos + 1
            pos += 1
        raise self.fail(pos, "unterminated template substitution")


def _escaped(text: str, at: int) -> bool:
    """Whether the character at `at` is escaped (preceded by an odd number of backslashes)."""
    n = at - 1
    while n >= 0 and text[n] == "\\":
        n -= 1
    return (at - 1 - n) % 2 == 1


def _unescape(m: re.Match) -> str:
    """One JS escape sequence as its character(s); an invalid one (`\\u12`) stands for its letter, as a
    tolerant reader should."""
    esc = m.group(1)
    head = esc[0]
    if head == "u" and len(esc) > 1:
        if esc[1] == "{":
            code = int(esc[2:-1], 16)
            return chr(code) if code <= 0x10FFFF else esc
        if len(esc) == 11:  # a surrogate pair: \uD83D\uDE00
            high, low = int(esc[1:5], 16), int(esc[7:11], 16)
            return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        return chr(int(esc[1:5], 16))
    if head == "x" and len(esc) == 3:
        return chr(int(esc[1:], 16))
    if head in "01234567":  # a legacy octal escape: \101 is "A", \0 is NUL
        return chr(int(esc, 8))
    if head in "\r\n\u2028\u2029":  # a line continuation
        return ""
    return SIMPLE_ESCAPES.get(head, head)


def _number(literal: str) -> int | float:
    sign = -1 if literal.startswith("-") else 1
    body = literal.lstrip("+-")
    if body[:2].lower() == "0x":
        return sign * int(body, 16)
    if re.fullmatch(r"\d+", body):
        try:
            return sign * int(body)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            return sign * float(body)
    return sign * float(body)
