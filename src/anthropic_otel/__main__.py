"""`python -m anthropic_otel COMMAND`: the same as `anthropic-otel COMMAND`."""

import sys

from .cli import main

sys.exit(main())
