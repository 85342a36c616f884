"""The built artifacts: what `pip install anthropic-otel` gets, checked on a real wheel and sdist."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_the_wheel_carries_the_price_table_the_types_and_the_bundle(built: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(built["wheel"]).namelist())
    for name in (
        "anthropic_otel/data/prices.json",
        "anthropic_otel/py.typed",
        "anthropic_otel/ops/alerts.py",
        "anthropic_otel/ops/collector-config/otel-collector.yaml",
        "anthropic_otel/ops/collector-config/agent.yaml",
        "anthropic_otel/ops/collector-config/gateway.yaml",
        "anthropic_otel/testing/fake_api/server.py",
    ):
        assert name in names, name
    metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(built["wheel"]).read(metadata).decode()
    assert "Requires-Dist: opentelemetry-api>=1.36" in text
    assert "Requires-Dist: opentelemetry-sdk" not in text.split("Provides-Extra")[0]  # only in the sdk extra
    assert "Provides-Extra: sdk" in text and "Project-URL: Source," in text
    entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    points = zipfile.ZipFile(built["wheel"]).read(entry_points).decode()
    assert "anthropic_otel = anthropic_otel.instrumentor:AnthropicInstrumentor" in points
    assert "anthropic-otel = anthropic_otel.cli:main" in points


def test_the_sdist_carries_the_operations_bundle(built: dict[str, Path]) -> None:
    with tarfile.open(built["sdist"]) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for name in (
        "src/anthropic_otel/data/prices.json",
        "collector-config/otel-collector.yaml",
        "prometheus/rules/anthropic.yml",
        "grafana/dashboards/anthropic-otel.json",
        "docker-compose.yml",
        "README.md",
    ):
        assert name in names, name
    assert not any(name.startswith((".venv", ".tools")) for name in names)
