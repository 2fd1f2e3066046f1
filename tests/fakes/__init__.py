"""Test doubles shared across the suite: the scripted OpenAI/Anthropic-compatible model server
(tests.fakes.scripted_server; not imported here so `python -m tests.fakes.scripted_server` runs
without a double-import warning)."""
