"""`extract.get` reads the SDK's models without their slow path for missing fields, and loses nothing."""

from __future__ import annotations

from anthropic.types import Usage

from anthropic_otel import extract


def test_get_reads_fields_extras_and_misses_of_the_sdks_models() -> None:
    # `construct` is how the SDK builds responses; the unknown key is a field a newer API version added.
    usage = Usage.construct(input_tokens=12, output_tokens=3, speculative_tokens=7)
    assert extract.get(usage, "input_tokens") == 12
    assert extract.get(usage, "output_tokens") == 3
    assert extract.get(usage, "speculative_tokens") == 7
    assert extract.get(usage, "no_such_field") is None


def test_get_reads_mappings_plain_objects_and_none() -> None:
    class Plain:
        kind = "class attribute"

        @property
        def computed(self) -> int:
            return 5

    assert extract.get({"a": 1}, "a") == 1
    assert extract.get({"a": 1}, "b") is None
    assert extract.get(Plain(), "kind") == "class attribute"
    assert extract.get(Plain(), "computed") == 5
    assert extract.get(None, "a") is None


def test_usage_of_a_model_without_the_ttl_split() -> None:
    usage = extract.usage_of(Usage.construct(input_tokens=10, output_tokens=4, cache_read_input_tokens=2))
    found = (usage.input, usage.output, usage.cache_read, usage.cache_write_5m, usage.total_input)
    assert found == (10, 4, 2, None, 12)
