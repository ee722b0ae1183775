"""Chrome rules as data: load config/chrome.yaml once into an immutable `Rules` object.

Everything the extractor knows about page furniture (prune selectors, residual chrome phrases, labels of
publisher/date/record fields) lives in that one YAML file; the code only applies it.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from cssselect import GenericTranslator, SelectorError, parse
from cssselect.parser import Attrib, Element
from lxml.etree import XPath, XPathSyntaxError

RULES_PATH = Path(__file__).resolve().parents[2] / "config" / "chrome.yaml"


class RulesError(ValueError):
    """The chrome rules (or a source's `prune` list) are malformed."""


@dataclass(frozen=True)
class Rules:
    prune: tuple[str, ...]  # XPath expressions (compile with `xpath`)
    prune_guard_share: float
    prune_guard_stops: int
    chrome_line_max: int
    chrome_block_headings: tuple[str, ...]
    chrome_phrases: tuple[str, ...]
    chrome_word_line_max: int
    chrome_words: tuple[str, ...]
    chrome_line_patterns: tuple[re.Pattern, ...]
    meta_line_max: int
    publisher_labels: tuple[str, ...]
    publisher_stop: tuple[str, ...]
    date_labels: tuple[str, ...]
    shown_date_labels: tuple[str, ...]
    date_metas: tuple[str, ...]
    title_metas: tuple[str, ...]
    publisher_metas: tuple[str, ...]
    record_labels: dict[str, str]
    record_min_fields: int
    attachment_extensions: tuple[str, ...]
    title_separators: tuple[str, ...]
    title_suffix_separators: tuple[str, ...]
    title_site_words: tuple[str, ...]
    title_part_share: float
    attachment_label: re.Pattern


_local = threading.local()


def xpath(expression: str) -> XPath:
    """A compiled XPath, cached per thread (lxml XPath objects must not be shared between threads)."""
    cache = _local.__dict__.setdefault("xpaths", {})
    compiled = cache.get(expression)
    if compiled is None:
        compiled = cache[expression] = XPath(expression)
    return compiled


# A simple selector: a tag (None for any) and attribute tests, (name, None) for [name] or (name, value)
# for [name*=value]; what cssselect's XPath for it selects, lxml can test in Python far faster.
SimpleSelector = tuple[str | None, tuple[tuple[str, str | None], ...]]
_SIMPLE: dict[str, tuple[SimpleSelector, ...]] = {}


def _simple_selector(tree) -> SimpleSelector | None:
    """A parsed selector as a SimpleSelector, or None when it uses anything else (combinators, classes,
    pseudo-classes, other attribute operators, namespaces)."""
    tests = []
    while isinstance(tree, Attrib):
        if tree.namespace or tree.operator not in ("exists", "*="):
            return None
        if tree.operator == "*=" and not tree.value.value:
            return None
        tests.append((tree.attrib, tree.value.value if tree.operator == "*=" else None))
        tree = tree.selector
    if not isinstance(tree, Element) or tree.namespace:
        return None
    return (tree.element, tuple(tests))


def simple_selectors(expression: str) -> tuple[SimpleSelector, ...] | None:
    """The simple selectors of a prune expression made by `to_xpath` from CSS whose selectors are all
    simple (None for any other expression): `[class*=nav], nav` → ((None, (("class", "nav"),)), ("nav", ()))."""
    return _SIMPLE.get(expression)


def to_xpath(selector: str) -> str:
    """A CSS selector or an XPath (starting with '/', './' or '(') as a checked XPath expression."""
    text = selector.strip()
    try:
        expression = text if text.startswith(("/", "./", "(")) else GenericTranslator().css_to_xpath(
            text, prefix="descendant-or-self::")
        XPath(expression)
        if expression is not text:
            simple = [_simple_selector(s.parsed_tree) if not s.pseudo_element else None for s in parse(text)]
            if simple and all(simple):
                _SIMPLE[expression] = tuple(simple)
    except (SelectorError, XPathSyntaxError) as exc:
        raise RulesError(f"bad prune selector {selector!r}: {exc}") from None
    return expression


@lru_cache(maxsize=256)
def compile_selectors(selectors: tuple[str, ...]) -> tuple[str, ...]:
    """A source's prune selectors as XPath expressions (cached; raises RulesError on a bad one)."""
    return tuple(to_xpath(s) for s in selectors if s and s.strip())


def _strings(data: dict, key: str) -> tuple[str, ...]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RulesError(f"{RULES_PATH.name}: {key} must be a list of strings")
    return tuple(value)


@lru_cache(maxsize=4)
def load_rules(path: str | None = None) -> Rules:
    """Load and compile the rules file ($ZWGK_CHROME_RULES or config/chrome.yaml); cached per path."""
    file = Path(path or os.environ.get("ZWGK_CHROME_RULES") or RULES_PATH)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"cannot read chrome rules {file}: {exc}") from None
    try:
        patterns = tuple(re.compile(p) for p in _strings(data, "chrome_line_patterns"))
    except re.error as exc:
        raise RulesError(f"{file.name}: bad chrome_line_patterns entry: {exc}") from None
    return Rules(
        prune=compile_selectors(_strings(data, "prune")),
        prune_guard_share=float(data.get("prune_guard_share", 0.5)),
        prune_guard_stops=int(data.get("prune_guard_stops", 3)),
        chrome_line_max=int(data.get("chrome_line_max", 60)),
        chrome_block_headings=_strings(data, "chrome_block_headings"),
        chrome_phrases=tuple(p.replace(" ", "").lower() for p in _strings(data, "chrome_phrases")),
        chrome_word_line_max=int(data.get("chrome_word_line_max", 20)),
        chrome_words=tuple(p.replace(" ", "").lower() for p in _strings(data, "chrome_words")),
        chrome_line_patterns=patterns,
        meta_line_max=int(data.get("meta_line_max", 90)),
        publisher_labels=_strings(data, "publisher_labels"),
        publisher_stop=_strings(data, "publisher_stop"),
        date_labels=_strings(data, "date_labels"),
        shown_date_labels=_strings(data, "shown_date_labels"),
        date_metas=_strings(data, "date_metas"),
        title_metas=_strings(data, "title_metas"),
        publisher_metas=_strings(data, "publisher_metas"),
        record_labels=dict(data.get("record_labels") or {}),
        record_min_fields=int(data.get("record_min_fields", 3)),
        attachment_extensions=tuple(e.lower() for e in _strings(data, "attachment_extensions")),
        title_separators=_strings(data, "title_separators"),
        title_suffix_separators=_strings(data, "title_suffix_separators"),
        title_site_words=_strings(data, "title_site_words"),
        title_part_share=float(data.get("title_part_share", 0.6)),
        attachment_label=re.compile(data.get("attachment_label") or r"^附件[:：]"),
    )


def extra_prune(selectors: Sequence[str]) -> tuple[str, ...]:
    """A source's `prune` list compiled (raises RulesError naming the bad selector)."""
    return compile_selectors(tuple(selectors))
