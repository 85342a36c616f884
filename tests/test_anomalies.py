"""The running average and the anomaly rule, exactly."""

from __future__ import annotations

from anthropic_otel.anomalies import Anomaly, AnomalyDetector


def test_no_anomaly_during_warmup_then_above_factor_times_average() -> None:
    detector = AnomalyDetector(factor=2.0, warmup=4)
    assert [detector.observe("m", "chat", tokens) for tokens in (100, 100, 100, 10_000)] == [None] * 4
    # The warm-up mean is (300 + 10000) / 4 = 2575: 5151 is above 2 x 2575, 5150 is not.
    assert detector.observe("m", "chat", 5150) is None
    average = 2575 + (5150 - 2575) / 4
    assert detector.observe("m", "chat", int(2 * average) + 1) == Anomaly(int(2 * average) + 1, average, 2.0)


def test_models_and_features_have_their_own_average() -> None:
    detector = AnomalyDetector(factor=2.0, warmup=2)
    for _ in range(2):
        detector.observe("m", "chat", 100)
        detector.observe("m", "summarise", 10_000)
    assert detector.observe("m", "chat", 201) == Anomaly(201, 100.0, 2.0)
    assert detector.observe("m", "summarise", 15_000) is None
    assert detector.observe("other", "chat", 201) is None  # still warming up
    assert detector.observe("m", "chat", None) is None
