"""The series selectors of a PromQL expression: each metric name with its label matchers.

Enough of PromQL's lexical structure to check that deploy/'s dashboard and alert rules
select what the server exports: strings, label matchers `{...}`, ranges `[...]`, Grafana's
`$variables`, and the label lists of `by`, `without`, `on`, `ignoring`, `group_left` and
`group_right` are skipped as wholes; a name followed by `(` is a function or an aggregation;
every other name that is not a keyword or a literal is a metric. Promtool's series notation
(`name{label="value"}`) is a selector too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})
LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    | (?P<matchers>\{(?:"(?:[^"\\]|\\.)*"|[^}"])*\})
    | (?P<range>\[[^\]]*\])
    | (?P<variable>\$\{?\w+\}?)
    | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[smhdwy]?)
    | (?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
    | (?P<other>[-+*/%^=!<>~,()@])
    """,
    re.VERBOSE,
)
_MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


class PromQLSyntaxError(ValueError):
    """Text this reader does not understand; the message quotes it."""


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # =, !=, =~ or !~
    value: str


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[Matcher, ...]


def _tokens(expr: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(expr):
        found = _TOKEN.match(expr, position)
        if found is None or found.lastgroup is None:
            raise PromQLSyntaxError(f"cannot read {expr[position : position + 20]!r} in {expr!r}")
        if found.lastgroup != "space":
            tokens.append((found.lastgroup, found.group()))
        position = found.end()
    return tokens


def _matchers(block: str) -> tuple[Matcher, ...]:
    inner, matchers, position = block[1:-1], [], 0
    while inner[position:].strip():
        found = _MATCHER.match(inner, position)
        if found is None:
            raise PromQLSyntaxError(f"cannot read the label matchers {block!r}")
        matchers.append(Matcher(*found.groups()))
        position = found.end()
    return tuple(matchers)


def selectors(expr: str) -> list[Selector]:
    """The metrics `expr` selects, in order, each with its label matchers."""
    tokens = _tokens(expr)
    found: list[Selector] = []
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        after = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
        index += 1
        if kind == "matchers":
            raise PromQLSyntaxError(f"a selector without a metric name in {expr!r}")
        if kind != "name" or text.lower() in KEYWORDS:
            continue
        if text in LABEL_LISTS:
            if after[1] == "(":  # skip the label list up to its ")"
                index = next(i for i in range(index, len(tokens)) if tokens[i][1] == ")") + 1
            continue
        if after[1] == "(" or after[1] in ("by", "without"):
            continue  # a function or an aggregation (`sum by (job) (...)`)
        if after[0] == "matchers":
            found.append(Selector(text, _matchers(after[1])))
            index += 1
        else:
            found.append(Selector(text, ()))
    return found
