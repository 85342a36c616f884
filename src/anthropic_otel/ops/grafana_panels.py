"""The kinds of panel the dashboard is made of, built with the grafana-foundation-sdk: a Prometheus query with
exemplars, a half-width time series with its legend and threshold line, and a table of Jaeger traces.

They fix how every panel looks and queries, so the dashboard in `grafana` is left to say what each one shows.
"""

from __future__ import annotations

from string import ascii_uppercase

from grafana_foundation_sdk.builders import common, dashboard, prometheus, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode, LegendDisplayMode, LegendPlacement

from anthropic_otel.ops.grafana_provisioning import JAEGER, PROMETHEUS, FixedQuery

# What a row of the dashboard holds: timeseries, stat and table panels alike.
PanelBuilder = cogbuilder.Builder[model.Panel]
RATE = "$__rate_interval"


class JaegerQuery(FixedQuery):
    """A Jaeger search of the selected service's traces; the SDK ships no builder for the Jaeger datasource."""

    def __init__(self, ref_id: str, **fields: object) -> None:
        super().__init__({"refId": ref_id, "datasource": JAEGER.to_json(), "queryType": "search", **fields})


def query(expr: str, legend: str = "", ref_id: str = "A") -> prometheus.Dataquery:
    """A panel's Prometheus query, with exemplars; without a legend Grafana names the lines itself."""
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend or "__auto")
        .ref_id(ref_id)
        .datasource(PROMETHEUS)
        .exemplar(True)
    )


def by_labels(labels: tuple[str, ...], inner: str, *, aggregate: str = "sum", then: str = "") -> prometheus.Dataquery:
    """`inner` aggregated by `labels`, one line per combination, each labelled with its values."""
    legend = " ".join(f"{{{{{label}}}}}" for label in labels)
    return query(f"{aggregate} by ({', '.join(labels)}) ({inner}){then}", legend)


def quantiles(buckets: str, *levels: float) -> list[prometheus.Dataquery]:
    """One line per quantile (`p50`, `p95`...) of the histogram `buckets`, all its series summed."""
    return [
        query(f"histogram_quantile({level}, sum by (le) (rate({buckets}[{RATE}])))", f"p{round(level * 100)}")
        for level in levels
    ]


def graph(
    panel_id: int,
    title: str,
    description: str,
    unit: str,
    *queries: prometheus.Dataquery,
    threshold: float | None = None,
) -> timeseries.Panel:
    """A time series of half the width; its queries are named A, B, C... in order."""
    panel = (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .unit(unit)
        .span(12)
        .height(8)
        .legend(
            common.VizLegendOptions()
            .show_legend(True)
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
        )
    )
    for position, q in enumerate(queries):
        panel = panel.with_target(q.ref_id(ascii_uppercase[position]))
    if threshold is not None:
        steps = [model.Threshold(value=None, color="green"), model.Threshold(value=threshold, color="red")]
        panel = panel.thresholds(dashboard.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps))
        panel = panel.thresholds_style(common.GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.LINE))
    return panel


def traces_table(panel_id: int, title: str, description: str, **fields: object) -> table.Panel:
    """The selected service's latest 20 traces that match `fields` (Jaeger's search fields), half the width."""
    return (
        table.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(JAEGER)
        .with_target(JaegerQuery("A", service="$service", limit=20, **fields))
        .span(12)
        .height(9)
    )
