"""tests/deploy/promql.py finds the metrics of an expression, and nothing else."""

from __future__ import annotations

import pytest

from tests.deploy.promql import Matcher, PromQLSyntaxError, Selector, selectors


def test_metrics_with_their_matchers_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (job, le) (rate(latency_bucket{type!="sub}",'
        ' code=~"A|B"}[5m]))) / on (instance) group_left (le) up offset 5m'
        " > bool 1e3 and sum without (x) (rate(errors_total[$__rate_interval])) or Inf"
    )
    assert selectors(expr) == [
        Selector("latency_bucket", (Matcher("type", "!=", "sub}"), Matcher("code", "=~", "A|B"))),
        Selector("up", ()),
        Selector("errors_total", ()),
    ]


def test_promtool_series_notation_is_a_selector() -> None:
    assert selectors('x_total{job="api",le="+Inf"}') == [
        Selector("x_total", (Matcher("job", "=", "api"), Matcher("le", "=", "+Inf")))
    ]


@pytest.mark.parametrize("expr", ['{__name__="x"}', "x{job=api}", "x # y"])
def test_what_it_cannot_read_is_an_error(expr: str) -> None:
    with pytest.raises(PromQLSyntaxError):
        selectors(expr)
