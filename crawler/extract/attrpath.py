"""Attribute-test XPaths read as Python predicates, so prune tests them in its one pass over the elements.

A prune rule written as raw XPath, such as
``//*[(contains(@class, 'position') and not(contains(@class, 'position-'))) or @class = 'location']``,
costs libxml2 a string conversion per attribute test per element; prune already visits every element, so the
same test in Python costs a few dictionary reads. Only this form is read — ``//*[…]`` over the whole document,
with ``contains(@a, 'x')``, ``@a = 'x'``, ``@a``, ``not(…)``, ``and``, ``or`` and brackets — with XPath 1.0's
meaning (a missing attribute is the empty string to contains() and equals nothing); anything else gives None
and stays XPath.

    test = predicate("//*[contains(@class, 'nav') and not(@hidden)]")
    test(element)  # True for <div class="top-nav">
"""
from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

Test = Callable[[object], bool]
_TOKEN = re.compile(r"""\s*(?:(//\*\[)|(\])|(\()|(\))|(,)|(=)|@([A-Za-z_][\w.-]*)|'([^']*)'|"([^"]*)"|"""
                    r"""(and|or|not|contains)(?![\w.-]))""")
_KINDS = ("open", "close", "(", ")", ",", "=", "attr", "str", "str", "word")


@lru_cache(maxsize=256)
def predicate(expression: str) -> Test | None:
    """The test an element passes when ``expression`` (``//*[…]`` of attribute tests) selects it; None for
    any other expression. The test is one Python function (compiled from the parsed expression, every
    attribute read once), which costs less per element than the nested calls of an interpreter would."""
    tokens = _tokens(expression)
    if tokens is None or len(tokens) < 3 or tokens[0][0] != "open" or tokens[-1][0] != "close":
        return None
    parser = _Parser(tokens[1:-1])
    try:
        body = parser.expression()
    except ValueError:
        return None
    if not parser.done():
        return None
    reads = "".join(f"    a{i} = e.get({name!r})\n" for name, i in parser.names.items())
    namespace: dict = {}
    exec(f"def test(e):\n{reads}    return bool({body})\n", namespace)  # noqa: S102 (names and strings repr'd)
    return namespace["test"]


def _tokens(expression: str) -> list[tuple[str, str]] | None:
    tokens, pos, text = [], 0, expression.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            return None
        index = match.lastindex
        tokens.append((_KINDS[index - 1], match.group(index)))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over: or-expression := and-expression ('or' and-expression)*; and-expression :=
    term ('and' term)*; term := 'not' '(' or ')' | '(' or ')' | 'contains' '(' @a ',' 'x' ')' | @a '=' 'x' | @a;
    each gives the Python expression of its test, attribute `name` read into variable a<names[name]>."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.at = tokens, 0
        self.names: dict[str, int] = {}

    def done(self) -> bool:
        return self.at == len(self.tokens)

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def _take(self, kind: str, value: str | None = None) -> str:
        got = self._peek()
        if got[0] != kind or (value is not None and got[1] != value):
            raise ValueError(f"expected {value or kind}")
        self.at += 1
        return got[1]

    def _attribute(self, name: str) -> str:
        return f"a{self.names.setdefault(name, len(self.names))}"

    def expression(self) -> str:
        tests = [self._conjunction()]
        while self._peek() == ("word", "or"):
            self.at += 1
            tests.append(self._conjunction())
        return " or ".join(tests) if len(tests) == 1 else "(" + " or ".join(tests) + ")"

    def _conjunction(self) -> str:
        tests = [self._term()]
        while self._peek() == ("word", "and"):
            self.at += 1
            tests.append(self._term())
        return tests[0] if len(tests) == 1 else "(" + " and ".join(tests) + ")"

    def _term(self) -> str:
        kind, value = self._peek()
        if (kind, value) == ("word", "not"):
            self.at += 1
            self._take("(")
            inner = self.expression()
            self._take(")")
            return f"(not {inner})"
        if kind == "(":
            self.at += 1
            inner = self.expression()
            self._take(")")
            return f"({inner})"
        if (kind, value) == ("word", "contains"):
            self.at += 1
            self._take("(")
            attribute = self._attribute(self._take("attr"))
            self._take(",")
            part = self._take("str")
            self._take(")")
            return f"({part!r} in ({attribute} or ''))"  # a missing attribute is the empty string
        if kind == "attr":
            self.at += 1
            attribute = self._attribute(value)
            if self._peek()[0] == "=":
                self.at += 1
                return f"({attribute} == {self._take('str')!r})"  # a missing one equals nothing
            return f"({attribute} is not None)"
        raise ValueError("unexpected token")
