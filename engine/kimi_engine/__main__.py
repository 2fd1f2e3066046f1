"""python -m kimi_engine == kimi-engine."""

from kimi_engine.cli import main

raise SystemExit(main())
