"""Front ends: the Textual TUI (`app.run_tui`) and the plain line mode (`plain.run_plain`).

Nothing outside this package imports it; Textual is imported only by the TUI modules, and only
when the TUI starts."""
