"""Prompt history, persisted per workspace (one JSON line per prompt, newest last) under the
data directory, never in the repository. Shared by the TUI and the plain line mode."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from kimi_code import paths

MAX_ENTRIES = 1000


def history_file(workspace: Path) -> Path:
    digest = hashlib.sha256(str(workspace.resolve()).encode()).hexdigest()[:16]
    return paths.data_dir() / "history" / f"{digest}.jsonl"


class InputHistory:
    """Up/Down navigation over earlier prompts. `draft` keeps what was typed before browsing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[str] = self._load()
        self._index = len(self.entries)
        self.draft = ""

    def _load(self) -> list[str]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return []
        entries = []
        for line in lines[-MAX_ENTRIES:]:
            try:
                value = json.loads(line)
            except ValueError:
                continue  # a torn last line after a crash: skip it
            if isinstance(value, str):
                entries.append(value)
        return entries

    def add(self, text: str) -> None:
        """Remember a sent prompt (consecutive duplicates kept once)."""
        self._index = len(self.entries)
        if not text.strip() or (self.entries and self.entries[-1] == text):
            self._index = len(self.entries)
            return
        self.entries.append(text)
        self._index = len(self.entries)
        try:
            paths.ensure_dir(self.path.parent)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(text) + "\n")
            if len(self.entries) > MAX_ENTRIES * 2:
                self._compact()
        except OSError:
            pass  # history is a convenience; never fail a prompt over it

    def _compact(self) -> None:
        self.entries = self.entries[-MAX_ENTRIES:]
        self._index = len(self.entries)
        self.path.write_text("".join(json.dumps(e) + "\n" for e in self.entries), encoding="utf-8")

    def previous(self, current: str) -> str | None:
        """The entry before the one shown (None at the oldest)."""
        if self._index == len(self.entries):
            self.draft = current
        if self._index == 0:
            return None
        self._index -= 1
        return self.entries[self._index]

    def next(self) -> str | None:
        """The entry after the one shown; the draft after the newest; None when not browsing."""
        if self._index >= len(self.entries):
            return None
        self._index += 1
        return self.entries[self._index] if self._index < len(self.entries) else self.draft

    def reset(self) -> None:
        self._index = len(self.entries)
