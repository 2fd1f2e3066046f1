"""The agent: the step loop, context management and fan-out. Never imports the UI."""
