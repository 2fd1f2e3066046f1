"""Parse a Bash tool command the way bash will run it, for the permission rules.

tree-sitter-bash builds the tree; this module walks it and lists every simple command that can
run: in lists, pipelines, subshells, groups, loops, functions, `$(...)`, `<(...)`, heredoc-fed
shells, `bash -c` / `eval` / `trap` strings (parsed in turn), and commands run by wrappers
(`sudo`, `env`, `timeout`, `xargs`, `find -exec`, ...). What cannot be judged statically — a
parse error, a command name known only at run time, a shell reading a pipe, a word the grammar
reads differently from bash — is recorded as a reason; such a command is never auto-allowed.
File redirections are recorded as writes.

Rules are policy (they decide when to ask); the OS sandbox is the security boundary.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from kimi_code.safety.bash_words import Misread, word_value
from kimi_code.safety.command_wrappers import Argv, posix_string, unwrap

if TYPE_CHECKING:
    from tree_sitter import Node, Parser

MAX_COMMAND_CHARS = 256 * 1024
MAX_DEPTH = 8  # nested shell strings (bash -c "bash -c '...'") before giving up
_NOT_WRITES = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero"})
_OUTPUT_OPS = frozenset({">", ">>", "&>", "&>>", ">|", "<>", ">&", "&>|"})
_DECLARATIONS = frozenset({"declaration_command", "unset_command"})
_QUOTED = frozenset({"raw_string", "string", "ansi_c_string"})
# bash evaluates array subscripts in arithmetic and in test -v, [[ -eq ]], printf -v, read...:
# a quoted 'a[$(cmd)]' there runs cmd although the parser sees only a string.
_SUBSCRIPT_SUBSTITUTION = re.compile(r"\[[^\]]*(?:\$\(|`)")
# Variables that make a shell or a program run code the rules never see: a file sourced at start
# (BASH_ENV), a prompt expanded under `set -x` (PS4), an exported function (BASH_FUNC_x%%), a
# preloaded library, a pager/editor/ssh command git or others run.
_RISKY_VARIABLE = re.compile(
    r"^\s*(?:export\s+)?(?:BASH_ENV|ENV|PS[0-4]|PROMPT_COMMAND|SHELLOPTS|BASHOPTS|BASH_FUNC_\S*"
    r"|LD_PRELOAD|LD_AUDIT|LD_LIBRARY_PATH|GIT_SSH|GIT_SSH_COMMAND|GIT_EXTERNAL_DIFF|GIT_PAGER"
    r"|GIT_EDITOR|GIT_SEQUENCE_EDITOR|GIT_ASKPASS|SSH_ASKPASS|GIT_EXEC_PATH|GIT_PROXY_COMMAND"
    r"|GIT_CONFIG\w*|GIT_TEMPLATE_DIR|PAGER|EDITOR|VISUAL|MANPAGER|LESSOPEN|LESSCLOSE"
    r"|NODE_OPTIONS|PERL5OPT|RUBYOPT|PYTHONSTARTUP|PYTHONINSPECT)\+?=")
# ...except what models write every day: GIT_PAGER=cat, EDITOR=true, GIT_CONFIG_NOSYSTEM=1.
_HARMLESS_ASSIGNMENT = re.compile(
    r"^\s*(?:export\s+)?(?:(?:GIT_)?PAGER|MANPAGER|(?:GIT_|GIT_SEQUENCE_)?EDITOR|VISUAL)="
    r"(['\"]?)(?:cat|true|:|less(?: -[A-Za-z]+)*|more|)\1\s*$|^\s*GIT_CONFIG_NOSYSTEM=")


@dataclass(frozen=True)
class CommandUse:
    """One simple command that can run. `argv` holds static values (None: known only at run
    time); `texts` the same words as written; `assignments` the NAME=VALUE words before it."""

    argv: Argv
    texts: tuple[str, ...]
    assignments: tuple[str, ...] = ()
    raw: str = ""  # its source text, redirections included
    transparent: bool = False  # a wrapper that only runs its inner command (timeout, env)


@dataclass(frozen=True)
class CommandAnalysis:
    commands: tuple[CommandUse, ...]
    opaque: tuple[str, ...] = ()  # why the command cannot be judged statically
    asks: tuple[str, ...] = ()  # analysable, but never auto-allowed (eval)
    writes: tuple[str, ...] = ()  # files written by redirections (as written)
    network: tuple[str, ...] = ()  # /dev/tcp and /dev/udp redirections


@dataclass
class _Collector:
    commands: list[CommandUse] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    asks: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    network: list[str] = field(default_factory=list)

    def result(self) -> CommandAnalysis:
        return CommandAnalysis(tuple(self.commands), tuple(dict.fromkeys(self.opaque)),
                               tuple(dict.fromkeys(self.asks)), tuple(self.writes),
                               tuple(self.network))


_PARSE_LOCK = threading.Lock()  # one Parser object; a parse is not re-entrant across threads


@lru_cache(maxsize=1)
def _parser() -> Parser:
    # Loaded on the first Bash permission check, not at start-up.
    import tree_sitter_bash
    from tree_sitter import Language, Parser

    return Parser(Language(tree_sitter_bash.language()))


@lru_cache(maxsize=512)
def analyse(command: str) -> CommandAnalysis:
    """Every simple command `command` can run, and what keeps it from being judged."""
    out = _Collector()
    if len(command) > MAX_COMMAND_CHARS:
        out.opaque.append("the command is too long to analyse")
        return out.result()
    if any(ord(ch) < 32 and ch not in "\t\n" or ord(ch) == 127 for ch in command):
        out.opaque.append("the command holds control characters")
    _analyse_text(command, out, 0, ())
    return out.result()


def _analyse_text(text: str, out: _Collector, depth: int, inherited: tuple[str, ...]) -> None:
    if depth > MAX_DEPTH:
        out.opaque.append("shell strings nested too deeply")
        return
    readings = [text]
    if "\\\n" in text:
        # tree-sitter splits a word at a backslash-newline; bash joins it (`r\<newline>m` is
        # rm). Judge the joined reading too: rules must hold for both.
        readings.append(text.replace("\\\n", ""))
    for reading in readings:
        source = reading.encode("utf-8", errors="surrogateescape")
        with _PARSE_LOCK:
            root = _parser().parse(source).root_node
        if root.has_error:
            out.opaque.append("the command does not parse cleanly")
        _Walker(out, depth, inherited, source).walk(root)


_GAP = re.compile(rb"(?:[ \t]|\\\n)+")
_REDIRECTS = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})


class _Walker:
    def __init__(self, out: _Collector, depth: int, inherited: tuple[str, ...],
                 source: bytes) -> None:
        self.out, self.depth, self.inherited, self.source = out, depth, inherited, source

    def _redirect_extras(self, node: Node) -> list[Node] | None:
        """Words after a redirection (`rm > out -rf x`, `rm <<EOF -rf x`) are the command's
        arguments in bash; the grammar hangs them on the redirection. None: misread."""
        parent = node.parent
        if parent is None or parent.type != "redirected_statement" \
                or parent.child_by_field_name("body") != node:
            return []
        extras: list[Node] = []
        redirects = [c for c in parent.children if c.type in _REDIRECTS]
        while redirects:
            redirect = redirects.pop()
            # a heredoc's redirection node also holds the redirections written after it
            redirects.extend(c for c in redirect.children if c.type in _REDIRECTS)
            words = _redirect_words(redirect)
            for left, right in zip(words, words[1:], strict=False):
                gap = self.source[left.end_byte:right.start_byte]
                if not _GAP.fullmatch(gap) or not gap.replace(b"\\\n", b""):
                    self.out.opaque.append(f"bash joins words the parser splits: "
                                           f"{_text(redirect)!r}")
                    return None
            extras.extend(words[1:] if redirect.type == "file_redirect" else words)
        return extras

    def _words_split_like_bash(self, node: Node) -> bool:
        """bash ends a word only at unquoted blanks: two word nodes with nothing, or anything
        but blanks, between them (`"r"\\m` is one word, rm) mean the grammar split a word."""
        children = node.children
        for left, right in zip(children, children[1:], strict=False):
            gap = self.source[left.end_byte:right.start_byte]
            if right.type in _REDIRECTS:
                continue  # an operator ends the word before it
            if not _GAP.fullmatch(gap) or not gap.replace(b"\\\n", b""):
                return False  # `'r'\\<newline>'m'`: a continuation alone joins the words
        return True

    def record(self, use: CommandUse) -> None:
        self.out.commands.append(use)
        for assignment in use.assignments:
            if _RISKY_VARIABLE.match(assignment) and not _HARMLESS_ASSIGNMENT.match(assignment):
                name = assignment.split("=", 1)[0].strip()
                self.out.opaque.append(f"{name}= makes programs run code the rules cannot see")

    def walk(self, root: Node) -> None:
        stack = [root]
        while stack:
            node = stack.pop()
            kind = node.type
            if kind == "command":
                self._command(node)
            elif kind == "variable_assignment" and node.parent is not None \
                    and node.parent.type not in ("command", "declaration_command"):
                text = _text(node)
                self.record(CommandUse((), (), (*self.inherited, text), text))
            elif kind in _DECLARATIONS:
                self._declaration(node)
            elif kind == "test_command" or (kind == "compound_statement"
                                            and node.children and node.children[0].type == "(("):
                text = _text(node)  # [ ], [[ ]], (( )): builtins, but rules still see them
                self.record(CommandUse((text,), (text,), self.inherited, text))
            elif kind == "expansion" and "@P" in _text(node):
                self.out.opaque.append("${var@P} runs prompt expansion (command substitution)")
            elif kind in _QUOTED and _SUBSCRIPT_SUBSTITUTION.search(_text(node)):
                self.out.opaque.append("a quoted array subscript bash may evaluate: "
                                       f"{_text(node)!r}")
            elif kind == "file_redirect":
                self._redirect(node)
            elif kind == "redirected_statement":
                body = node.child_by_field_name("body")
                if (body is None or body.type != "command") and _has_extra_words(node):
                    self.out.opaque.append("words after the redirection of a pipeline or a "
                                           "compound command")
            stack.extend(reversed(node.children))

    def _declaration(self, node: Node) -> None:
        words = [_text(child) for child in node.children]
        assignments = [w for w in words[1:] if "=" in w]
        self.record(CommandUse(tuple(words), tuple(words), (*self.inherited, *assignments),
                               _text(node)))
        if any(c.type in _QUOTED and ("$(" in _text(c) or "`" in _text(c))
               for c in node.children):
            # declare -a 'x=($(cmd))' runs cmd: a quoted compound assignment is evaluated
            self.out.opaque.append("a quoted assignment that declare may evaluate")

    def _command(self, node: Node) -> None:
        assignments = tuple(_text(c) for c in node.children if c.type == "variable_assignment")
        name = node.child_by_field_name("name")
        raw = _statement_text(node)
        if name is None:
            self.record(CommandUse((), (), (*self.inherited, *assignments), raw))
            return
        extras = self._redirect_extras(node)
        if extras is None:
            return
        word_nodes = [name.named_children[0] if name.named_children else name,
                      *sorted([*node.children_by_field_name("argument"), *extras],
                              key=lambda n: n.start_byte)]
        if not self._words_split_like_bash(node):
            self.out.opaque.append(f"bash joins words the parser splits: {_text(node)!r}")
            return
        try:
            argv = tuple(word_value(w) for w in word_nodes)
        except Misread as exc:
            self.out.opaque.append(f"bash reads this differently from the parser: {exc}")
            return
        texts = tuple(_text(w) for w in word_nodes)
        self._use(argv, texts, (*self.inherited, *assignments), raw, node)

    def _use(self, argv: Argv, texts: tuple[str, ...], assignments: tuple[str, ...],
             raw: str, node: Node | None) -> None:
        if argv[0] is None:
            self.out.opaque.append(f"the command name {texts[0]!r} is known only at run time")
            self.record(CommandUse(argv, texts, assignments, raw))
            return
        wrapped = unwrap(argv)
        # transparent only when it does run something rules then judge: `env` alone prints the
        # environment, `bash` alone reads whatever stdin holds
        transparent = wrapped is not None and wrapped.transparent and not wrapped.opaque and (
            bool(wrapped.inners) or wrapped.shell is not None
            or (wrapped.reads_stdin and node is not None and bool(_stdin_text(node))))
        self.record(CommandUse(argv, texts, assignments, raw, transparent))
        if wrapped is None:
            return
        if wrapped.opaque:
            self.out.opaque.append(wrapped.opaque)
        if wrapped.ask:
            self.out.asks.append(wrapped.ask)
        inner_env = (*assignments, *wrapped.assignments) if wrapped.transparent \
            else wrapped.assignments
        for inner in wrapped.inners:
            inner_texts = tuple(texts[len(argv) - len(inner):]) if _is_tail(argv, inner) \
                else tuple(w if w is not None else "$?" for w in inner)
            # the inner command inherits the wrapper's stdin (`timeout 5 bash <<< '...'`)
            self._use(inner, inner_texts, inner_env, " ".join(inner_texts), node)
        if wrapped.shell is not None:
            _analyse_text(wrapped.shell, self.out, self.depth + 1, inner_env)
        if wrapped.reads_stdin:
            self._stdin_script(node, inner_env, wrapped.shell_name)

    def _stdin_script(self, node: Node | None, env: tuple[str, ...], shell: str) -> None:
        """A shell reading its commands from stdin: a heredoc or here-string is parsed; a
        pipe (or anything else we cannot see) is opaque."""
        script = _stdin_text(node) if node is not None else None
        if script is None:
            if node is None or _in_pipeline(node):
                self.out.opaque.append("a shell reads its commands from a pipe")
            return
        if script == "":
            self.out.opaque.append("a shell reads its commands from a dynamic here-string")
            return
        judged = posix_string(script, shell)
        if judged.opaque:
            self.out.opaque.append(judged.opaque)
            return
        _analyse_text(script, self.out, self.depth + 1, env)

    def _redirect(self, node: Node) -> None:
        operator = next((c.type for c in node.children if not c.is_named), "")
        destinations = node.children_by_field_name("destination")
        target = destinations[0] if destinations else (
            node.named_children[-1] if node.named_children else None)
        if target is None or target.type in ("process_substitution", "file_descriptor"):
            return
        try:
            value = word_value(target)
        except Misread as exc:
            self.out.opaque.append(f"bash reads this differently from the parser: {exc}")
            return
        shown = value if value is not None else _text(target)
        if value is not None and value.startswith(("/dev/tcp/", "/dev/udp/")):
            self.out.network.append(value)
            return
        if operator not in _OUTPUT_OPS:
            return
        if operator in (">&", "<&") and (shown.isdigit() or shown == "-"):
            return  # 2>&1, >&-: a descriptor, not a file
        if value is not None and (value in _NOT_WRITES or value.startswith("/dev/fd/")):
            return
        self.out.writes.append(shown)


def _redirect_words(redirect: Node) -> list[Node]:
    """A file redirection's destination words; a heredoc's words after its delimiter."""
    if redirect.type == "file_redirect":
        return redirect.children_by_field_name("destination")
    if redirect.type == "heredoc_redirect":
        return redirect.children_by_field_name("argument")
    return []


def _has_extra_words(statement: Node) -> bool:
    redirects = [c for c in statement.children if c.type in _REDIRECTS]
    while redirects:
        redirect = redirects.pop()
        redirects.extend(c for c in redirect.children if c.type in _REDIRECTS)
        if len(_redirect_words(redirect)) > (redirect.type == "file_redirect"):
            return True
    return False


def _is_tail(argv: Argv, inner: Argv) -> bool:
    return len(inner) <= len(argv) and argv[len(argv) - len(inner):] == inner


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", errors="surrogateescape")


def _statement_text(node: Node) -> str:
    """The command with its own redirections (`make 2>&1`), as written."""
    parent = node.parent
    if parent is not None and parent.type == "redirected_statement" \
            and parent.child_by_field_name("body") == node:
        return _text(parent)
    return _text(node)


def _stdin_text(node: Node) -> str | None:
    """The script a heredoc or here-string feeds this command: None when there is none, ""
    when its value is dynamic."""
    for child in node.children:
        if child.type == "herestring_redirect" and child.named_children:
            try:
                value = word_value(child.named_children[-1])
            except Misread:
                return ""
            return value if value is not None else ""
    parent = node.parent
    if parent is not None and parent.type == "redirected_statement":
        for child in parent.children:
            if child.type == "heredoc_redirect":
                body = next((c for c in child.children if c.type == "heredoc_body"), None)
                return _text(body) if body is not None else " "
    return None


def _in_pipeline(node: Node) -> bool:
    current: Node | None = node
    while current is not None and current.type not in ("program", "command_substitution",
                                                       "process_substitution", "subshell"):
        if current.type in ("pipeline", "heredoc_redirect"):
            return True
        current = current.parent
    return False


def split_commands(command: str) -> list[str]:
    """The source text of each simple command, in order (redirections kept)."""
    analysis = analyse(command)
    return [use.raw.strip() for use in analysis.commands if use.raw.strip()]
