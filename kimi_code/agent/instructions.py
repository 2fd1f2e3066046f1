"""The system prompt: the template (data), the environment, project instructions, repo map.

Project instructions are AGENTS.md files from the git root down to the working directory, plus
KIMI.md and CLAUDE.md where present (more specific directories last, so they win).
"""

from __future__ import annotations

import platform
from datetime import date
from importlib import resources
from pathlib import Path

INSTRUCTION_FILES = ("AGENTS.md", "KIMI.md", "CLAUDE.md")
MAX_INSTRUCTION_CHARS = 40_000


def find_git_root(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return None


def workspace_root(cwd: Path) -> Path:
    """The workspace: the git root when inside a repository, else the directory itself."""
    cwd = cwd.resolve()
    return find_git_root(cwd) or cwd


def project_instructions(workspace: Path, cwd: Path) -> list[tuple[Path, str]]:
    """(path, text) of each instruction file from the workspace root down to cwd."""
    cwd = cwd.resolve()
    chain = [cwd] if cwd == workspace else []
    if not chain:
        try:
            relative = cwd.relative_to(workspace)
        except ValueError:
            relative = None
        chain = [workspace]
        if relative is not None:
            current = workspace
            for part in relative.parts:
                current = current / part
                chain.append(current)
    found: list[tuple[Path, str]] = []
    budget = MAX_INSTRUCTION_CHARS
    for directory in chain:
        for name in INSTRUCTION_FILES:
            path = directory / name
            if path.is_file() and budget > 0:
                try:
                    text = path.read_text(encoding="utf-8", errors="replace")[:budget]
                except OSError:
                    continue
                budget -= len(text)
                found.append((path, text))
    return found


def load_template(name: str) -> str:
    return resources.files("kimi_code.agent").joinpath(f"prompts/{name}.md").read_text("utf-8")


def build_system_prompt(workspace: Path, cwd: Path, *, tools: list[str], repo_map: str = "",
                        extra_dirs: tuple[Path, ...] = (), template: str = "system") -> str:
    """Fill the system prompt template with the environment and the project's instructions."""
    text = load_template(template)
    is_git = (workspace / ".git").exists()
    env = (
        f"- Workspace: {workspace}\n- Working directory: {cwd}\n"
        f"- Git repository: {'yes' if is_git else 'no'}\n"
        f"- Platform: {platform.system()} {platform.release()}\n- Date: {date.today().isoformat()}"
    )
    if extra_dirs:
        env += "\n- Additional directories: " + ", ".join(str(d) for d in extra_dirs)
    text = text.replace("{{environment}}", env).replace("{{tools}}", ", ".join(tools))
    sections = [text.strip()]
    for path, body in project_instructions(workspace, cwd):
        sections.append(f"# Project instructions from {path}\n\n{body.strip()}")
    if repo_map.strip():
        sections.append(f"# Repository map (most relevant files and symbols)\n\n{repo_map.strip()}")
    return "\n\n".join(sections)
