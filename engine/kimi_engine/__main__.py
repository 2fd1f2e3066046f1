"""python -m kimi_engine == kimi-engine."""

from .cli import main

raise SystemExit(main())
