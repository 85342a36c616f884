"""`anthropic-otel bundle --out DIR`: write the operations bundle, rendered from the definitions in `alerts`.

The files checked into the repository are this command's output with the defaults, so a team can run the stack
from a checkout as it is, or render its own thresholds into another directory.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from anthropic_otel.ops.params import Params

DEFAULT_WEBHOOK_URL = "http://127.0.0.1:9/alerts"
DEFAULT_GRAFANA_URL = "http://127.0.0.1:3000"
# Written by the Collector's own owners; copied into DIR when the checkout has them.
COLLECTOR_CONFIG_DIR = "collector-config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Params()
    parser.add_argument("--out", required=True, type=Path, help="directory to write the bundle into")
    parser.add_argument("--budget-usd", type=float, default=defaults.budget_usd, help="daily budget in USD")
    parser.add_argument("--error-rate", type=float, default=defaults.error_rate, help="failed calls / calls")
    parser.add_argument(
        "--masked-error-rate", type=float, default=defaults.masked_error_rate, help="retried attempts / calls"
    )
    parser.add_argument("--latency-seconds", type=float, default=defaults.latency_seconds, help="p95 call duration")
    parser.add_argument(
        "--max-tokens-rate", type=float, default=defaults.max_tokens_rate, help="max_tokens stops / responses"
    )
    parser.add_argument("--headroom", type=float, default=defaults.headroom, help="rate-limit fraction left")
    parser.add_argument(
        "--service",
        default=None,
        help='a service name, or label matchers (\'service_name=~"a|b",deployment_environment_name="prod"\')',
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="divide every window and for-duration (60: 5m becomes 5s)"
    )
    parser.add_argument(
        "--webhook-url",
        default=None,
        help=f"where Alertmanager posts alerts (default: $ALERT_WEBHOOK_URL, else {DEFAULT_WEBHOOK_URL})",
    )
    parser.add_argument("--grafana-url", default=DEFAULT_GRAFANA_URL, help="Grafana's address, for alert links")


def params_from(args: argparse.Namespace) -> Params:
    return Params(
        budget_usd=args.budget_usd,
        error_rate=args.error_rate,
        masked_error_rate=args.masked_error_rate,
        latency_seconds=args.latency_seconds,
        max_tokens_rate=args.max_tokens_rate,
        headroom=args.headroom,
        service=args.service,
        time_scale=args.time_scale,
    )


def render(params: Params, webhook_url: str, grafana_url: str = DEFAULT_GRAFANA_URL) -> dict[str, str]:
    """Every file of the bundle, by path relative to the bundle's root."""
    # Imported here: the CLI builds every subcommand's parser, and this one must not need PyYAML or the Grafana
    # SDK until it renders.
    from anthropic_otel.ops import compose, grafana, prometheus

    files = {
        "prometheus/prometheus.yml": prometheus.prometheus_config(params),
        "prometheus/rules/anthropic.yml": prometheus.rules_file(params, grafana_url),
        "alertmanager/alertmanager.yml": prometheus.alertmanager_config(webhook_url, params),
    }
    files.update(grafana.files(params, grafana_url))
    files.update(compose.files(params, webhook_url))
    return files


def checkout_root() -> Path | None:
    """The repository this package runs from, when it is an editable install of a checkout."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() else None


def write(out: Path, files: dict[str, str]) -> list[Path]:
    written = []
    for relative, text in sorted(files.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    root = checkout_root()
    # A checkout's own configs, else the copy an installed wheel carries beside this module.
    source = root / COLLECTOR_CONFIG_DIR if root else Path(__file__).resolve().parent / COLLECTOR_CONFIG_DIR
    target = out / COLLECTOR_CONFIG_DIR
    if source and source.is_dir() and source.resolve() != target.resolve():
        for config in sorted(source.glob("*.yaml")):
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(config, target / config.name)
            written.append(target / config.name)
    return written


def run(args: argparse.Namespace) -> int:
    try:
        params = params_from(args)
    except ValueError as error:
        print(f"anthropic-otel bundle: {error}")
        return 2
    webhook_url = args.webhook_url or os.environ.get("ALERT_WEBHOOK_URL") or DEFAULT_WEBHOOK_URL
    try:
        files = render(params, webhook_url, args.grafana_url)
    except ImportError as error:
        print(f"anthropic-otel bundle needs {error.name}: pip install 'anthropic-otel[ops]'")
        return 2
    written = write(args.out, files)
    print(f"wrote {len(written)} files to {args.out}")
    return 0
