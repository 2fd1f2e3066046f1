"""Which languages the index understands: file-name rules, grammar loading, tag queries.

Grammars come from the official per-language wheels (`tree_sitter_python`, ...); they are
imported lazily so that a process only pays for the languages it meets. Tag queries live as
data in `queries/<query>-tags.scm` and are compiled once per process per language.
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

QUERY_DIR = Path(__file__).with_name("queries")

# Bump when the extraction code (not the .scm data) changes what is stored for a file.
EXTRACTOR_VERSION = 4  # 4: LFS pointer files are skipped


@dataclass(frozen=True)
class LanguageSpec:
    """One language: grammar module + entry point, the query file, and file-name rules."""

    name: str
    module: str
    entry: str = "language"
    # Query file stems, concatenated in order (earlier patterns win); defaults to (name,).
    queries: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    filenames: tuple[str, ...] = ()
    interpreters: tuple[str, ...] = ()  # shebang interpreters for extensionless scripts

    @property
    def query_names(self) -> tuple[str, ...]:
        return self.queries or (self.name,)


LANGUAGES: tuple[LanguageSpec, ...] = (
    LanguageSpec("python", "tree_sitter_python", extensions=(".py", ".pyi", ".pyw"),
                 interpreters=("python", "python3", "python2", "pypy", "pypy3")),
    LanguageSpec("javascript", "tree_sitter_javascript",
                 extensions=(".js", ".mjs", ".cjs", ".jsx"), interpreters=("node", "nodejs")),
    LanguageSpec("typescript", "tree_sitter_typescript", entry="language_typescript",
                 extensions=(".ts", ".mts", ".cts"), interpreters=("ts-node", "deno", "bun")),
    LanguageSpec("tsx", "tree_sitter_typescript", entry="language_tsx", queries=("typescript", "tsx"),
                 extensions=(".tsx",)),
    LanguageSpec("go", "tree_sitter_go", extensions=(".go",)),
    LanguageSpec("rust", "tree_sitter_rust", extensions=(".rs",)),
    LanguageSpec("java", "tree_sitter_java", extensions=(".java",)),
    LanguageSpec("c", "tree_sitter_c", extensions=(".c", ".h")),
    LanguageSpec("cpp", "tree_sitter_cpp",
                 extensions=(".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx", ".h++",
                             ".ipp", ".tpp", ".cu", ".cuh")),
    LanguageSpec("c_sharp", "tree_sitter_c_sharp", extensions=(".cs",)),
    LanguageSpec("ruby", "tree_sitter_ruby", extensions=(".rb", ".rake", ".gemspec", ".ru"),
                 filenames=("Rakefile", "Gemfile", "Guardfile", "Vagrantfile"),
                 interpreters=("ruby",)),
    LanguageSpec("php", "tree_sitter_php", entry="language_php", extensions=(".php", ".phtml"),
                 interpreters=("php",)),
    LanguageSpec("bash", "tree_sitter_bash", extensions=(".sh", ".bash", ".zsh", ".ksh"),
                 filenames=(".bashrc", ".bash_profile", ".profile", ".zshrc"),
                 interpreters=("sh", "bash", "zsh", "ksh", "dash")),
)

BY_NAME: dict[str, LanguageSpec] = {spec.name: spec for spec in LANGUAGES}
_BY_EXT: dict[str, str] = {ext: s.name for s in LANGUAGES for ext in s.extensions}
_BY_FILENAME: dict[str, str] = {fn: s.name for s in LANGUAGES for fn in s.filenames}
_BY_INTERPRETER: dict[str, str] = {i: s.name for s in LANGUAGES for i in s.interpreters}


def language_for_path(path: str) -> str | None:
    """The language of `path` judged by its name alone, or None (unknown or extensionless)."""
    # Plain string work: this runs for every listed file on every scan.
    name = path.rpartition("/")[2]
    if (lang := _BY_FILENAME.get(name)) is not None:
        return lang
    dot = name.rfind(".")
    return _BY_EXT.get(name[dot:].lower()) if dot > 0 else None


def needs_shebang_probe(path: str) -> bool:
    """True for extensionless files whose language only a `#!` line can tell."""
    name = path.rpartition("/")[2]
    return "." not in name.lstrip(".") and name not in _BY_FILENAME


def language_from_shebang(first_line: bytes) -> str | None:
    """Language named by a `#!` line (`#!/usr/bin/env python3`, `#!/bin/bash`), or None."""
    if not first_line.startswith(b"#!"):
        return None
    words = first_line[2:].decode("utf-8", "replace").split()
    if not words:
        return None
    prog = words[0].rsplit("/", 1)[-1]
    if prog == "env":
        rest = [w for w in words[1:] if not w.startswith("-")]
        prog = rest[0].rsplit("/", 1)[-1] if rest else ""
    prog = prog.rstrip("0123456789.") if prog not in _BY_INTERPRETER else prog
    return _BY_INTERPRETER.get(prog) or _BY_INTERPRETER.get(prog + "3")


@cache
def query_source(lang: str) -> str:
    """The tag query text for `lang`: its `queries/<stem>-tags.scm` files, in order."""
    return "\n".join(
        (QUERY_DIR / f"{stem}-tags.scm").read_text(encoding="utf-8")
        for stem in BY_NAME[lang].query_names
    )


@cache
def query_version(lang: str) -> str:
    """A short fingerprint of what extraction yields for `lang` (query text + code version).

    Stored with each cached file so that editing a query re-parses exactly that language.
    """
    text = f"{EXTRACTOR_VERSION}\0{query_source(lang)}"
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@cache
def load_language(lang: str):  # -> tree_sitter.Language
    """The tree-sitter Language for `lang` (imported on first use, then cached)."""
    from tree_sitter import Language

    spec = BY_NAME[lang]
    module = importlib.import_module(spec.module)
    return Language(getattr(module, spec.entry)())


@cache
def load_query(lang: str):  # -> tree_sitter.Query
    """The compiled tag query for `lang`; compiled once per process."""
    from tree_sitter import Query

    return Query(load_language(lang), query_source(lang))


@cache
def parser_for(lang: str):  # -> tree_sitter.Parser
    """A reusable parser for `lang` (parsers are not thread-safe; the index parses serially
    per process)."""
    from tree_sitter import Parser

    return Parser(load_language(lang))
