"""Golden tags per language: a query that silently stops matching fails here."""

from __future__ import annotations

import json

import pytest

from kimi_code.index.languages import (
    LANGUAGES,
    language_for_path,
    language_from_shebang,
    load_query,
)
from kimi_code.index.tags import DEFINITION_KINDS, REFERENCE_KINDS, extract_tags
from tests.support.index_golden import SOURCES, golden_path, tags_as_json


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_fixture_matches_golden_tags(source):
    expected = json.loads(golden_path(source).read_text())
    assert tags_as_json(source) == expected


def test_every_language_has_a_golden_fixture():
    covered = {language_for_path(p.name) for p in SOURCES}
    assert covered == {spec.name for spec in LANGUAGES}


@pytest.mark.parametrize("spec", LANGUAGES, ids=lambda s: s.name)
def test_queries_compile_and_use_only_known_kinds(spec):
    query = load_query(spec.name)
    assert load_query(spec.name) is query  # compiled once per process
    for i in range(query.capture_count):
        name = query.capture_name(i)
        family, _, kind = name.partition(".")
        if family == "definition":
            assert kind in DEFINITION_KINDS, name
        elif family == "reference":
            assert kind in REFERENCE_KINDS, name
        else:
            assert name == "name" or name.startswith("_"), name


def test_golden_covers_every_kind_family():
    kinds = set()
    for source in SOURCES:
        kinds |= {d["kind"] for d in json.loads(golden_path(source).read_text())["definitions"]}
    assert kinds == set(DEFINITION_KINDS)


def test_method_wins_over_function_and_defs_are_not_self_references():
    tags = extract_tags(b"class A:\n    def m(self):\n        return f()\n\ndef f():\n    pass\n",
                        "python")
    assert [(d.name, d.kind, d.line, d.end_line) for d in tags.defs] == [
        ("A", "class", 1, 3), ("m", "method", 2, 3), ("f", "function", 5, 6)]
    assert [(r.name, r.kind, r.line) for r in tags.refs] == [("f", "call", 3)]


def test_signature_joins_the_name_line_when_the_name_sits_lower():
    tags = extract_tags(b"static int\nfoo(void)\n{\n  return 1;\n}\n", "c")
    assert tags.defs[0].signature == "static int foo(void)"
    assert (tags.defs[0].line, tags.defs[0].end_line) == (1, 5)


@pytest.mark.parametrize("line, lang", [
    (b"#!/usr/bin/env python3", "python"), (b"#!/bin/bash", "bash"), (b"#!/usr/bin/env -S node",
     "javascript"), (b"#!/usr/bin/python3.12", "python"), (b"#!/usr/bin/env perl", None),
    (b"print('no shebang')", None),
])
def test_shebang_detection(line, lang):
    assert language_from_shebang(line) == lang


def test_language_by_name():
    assert language_for_path("a/b/x.PY") == "python"
    assert language_for_path("src/App.tsx") == "tsx"
    assert language_for_path("Rakefile") == "ruby"
    assert language_for_path("notes.txt") is None
    assert language_for_path(".hidden") is None
