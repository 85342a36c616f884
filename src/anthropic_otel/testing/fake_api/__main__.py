"""``python -m anthropic_otel.testing.fake_api``: see :mod:`.cli`."""

from anthropic_otel.testing.fake_api.cli import main

raise SystemExit(main())
