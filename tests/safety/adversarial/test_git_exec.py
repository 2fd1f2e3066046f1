"""Adversarial: git that kimi-code itself runs is not an execution vector (issue 15, class 1).

A hostile repository chooses its .git/config (and nested repositories', worktree configs,
included files, attributes, hooks); a hostile environment sets GIT_* variables. Each test item
is one attack: it arms the world, proves the trap is live under plain git where that can be
shown, then drives one kimi-code call site through its real code. It passes when the trap
never ran and the canary API key never reached any git process's environment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kimi_code.app.commit import user_editor
from kimi_code.git.repo import open_repo
from kimi_code.git.runner import GitError, run_git
from kimi_code.git.worktrees import snapshot_base
from kimi_code.index.scan import list_files as index_list_files
from kimi_code.ui.mentions import list_files as mention_list_files
from tests.support import git_call_sites as site
from tests.support.git_call_sites import Action, Ctx
from tests.support.git_repos import hermetic_git  # noqa: F401  (autouse fixture)
from tests.support.hostile_git import (
    CANARY,
    arm_hooks,
    assert_live,
    configure,
    git,
    install_spy,
    make_stat_dirty,
    make_trap,
    new_repo,
    touch_stat,
)

ATTACK_CLASS = "git-exec"

Setup = Callable[[Ctx], None]


@dataclass(frozen=True)
class Attack:
    name: str
    setup: Setup
    act: Action
    allowed: str | None = None  # marker lines the attack may leave (the user's commit hooks)
    refused: bool = False  # the defence is a refusal before any git starts


def _cfg(**pairs: str) -> dict[str, str]:
    return {k.replace("__", "."): v for k, v in pairs.items()}


def _attrs(ctx: Ctx, line: str, where: str = ".gitattributes") -> None:
    path = ctx.repo / where
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(line + "\n")


def _filter_in(ctx: Ctx, key: str, file: Path | None = None, *, name: str = "evil",
               live: tuple[str, ...] = ("status",)) -> None:
    """A `filter.<name>.<key>` (clean/smudge/process) program selected for every file."""
    configure(ctx.repo, {f"filter.{name}.{key}": ctx.trap.command(key)}, file=file)
    _attrs(ctx, f"* filter={name}", ".git/info/attributes")
    if live:
        assert_live(ctx.repo, ctx.trap, *live)


def fsmonitor(ctx: Ctx) -> None:
    configure(ctx.repo, {"core.fsmonitor": ctx.trap.command("fsmonitor")})
    assert_live(ctx.repo, ctx.trap, "status")


def nested_repo(ctx: Ctx) -> None:
    """A repository inside the workspace (vendored, or made by the model mid-session)."""
    nested = new_repo(ctx.repo / "vendor" / "lib", {"lib.py": "y = 1\n"})
    configure(nested, {"core.fsmonitor": ctx.trap.command("nested-fsmonitor")})
    assert_live(nested, ctx.trap, "status")


def include_fsmonitor(ctx: Ctx) -> None:
    """include.path points at a file in the work tree the model can write."""
    (ctx.repo / "evil.cfg").write_text(f"[core]\n\tfsmonitor = {ctx.trap.command('inc')}\n")
    configure(ctx.repo, {"include.path": "../evil.cfg"})
    assert_live(ctx.repo, ctx.trap, "status")


def include_filter(ctx: Ctx, condition: str = "") -> None:
    """A filter defined only in an included file (plain, includeIf gitdir:/onbranch:)."""
    (ctx.repo / "inc.cfg").write_text(f'[filter "incf"]\n\tclean = {ctx.trap.command("clean")}\n')
    section = f"includeIf.{condition}.path" if condition else "include.path"
    configure(ctx.repo, {section: str(ctx.repo / "inc.cfg")})
    _attrs(ctx, "* filter=incf", ".git/info/attributes")
    assert_live(ctx.repo, ctx.trap, "status")


def include_chain(ctx: Ctx) -> None:
    (ctx.repo / "b.cfg").write_text(f'[filter "deep"]\n\tclean = {ctx.trap.command("clean")}\n')
    (ctx.repo / "a.cfg").write_text(f"[include]\n\tpath = {ctx.repo / 'b.cfg'}\n")
    configure(ctx.repo, {"include.path": str(ctx.repo / "a.cfg")})
    _attrs(ctx, "* filter=deep", ".git/info/attributes")
    assert_live(ctx.repo, ctx.trap, "status")


def raw_config(text: str, attr: str) -> Setup:
    """Config text appended verbatim (odd spellings git accepts), with attributes."""
    def setup(ctx: Ctx) -> None:
        with open(ctx.repo / ".git" / "config", "a") as handle:
            handle.write(text.replace("TRAP", ctx.trap.command("clean")))
        _attrs(ctx, attr, ".git/info/attributes")
        assert_live(ctx.repo, ctx.trap, "status")
    return setup


def worktree_config(ctx: Ctx) -> None:
    configure(ctx.repo, {"extensions.worktreeConfig": "true"})
    git(ctx.repo, "config", "--worktree", "filter.wt.clean", ctx.trap.command("clean"))
    _attrs(ctx, "* filter=wt", ".git/info/attributes")
    assert_live(ctx.repo, ctx.trap, "status")


def textconv(ctx: Ctx) -> None:
    configure(ctx.repo, {"diff.evil.textconv": ctx.trap.command("textconv")})
    _attrs(ctx, "* diff=evil", ".git/info/attributes")
    assert_live(ctx.repo, ctx.trap, "diff", "main", "feature")


def external_diff(ctx: Ctx) -> None:
    configure(ctx.repo, {"diff.external": ctx.trap.command("extdiff")})
    assert_live(ctx.repo, ctx.trap, "diff", "main", "feature")


def diff_command(ctx: Ctx) -> None:
    configure(ctx.repo, {"diff.evil.command": ctx.trap.command("diffcmd")})
    _attrs(ctx, "* diff=evil", ".git/info/attributes")
    assert_live(ctx.repo, ctx.trap, "diff", "main", "feature")


def env_attack(live: tuple[str, ...] = ("diff", "main", "feature"), **variables: str) -> Setup:
    """Variables in kimi-code's own environment that would make git run a program."""
    def setup(ctx: Ctx) -> None:
        values = {k: v.replace("TRAP", ctx.trap.command(k)) for k, v in variables.items()}
        if "GIT_DIR" in values:
            evil = new_repo(ctx.tmp / "evil-gitdir-repo", commit=False)
            configure(evil, {"core.fsmonitor": ctx.trap.command("gitdir")})
            values["GIT_DIR"] = str(evil / ".git")
        make_stat_dirty(ctx.repo / "src" / "app.py")
        assert_live(ctx.repo, ctx.trap, *live, env=values)
        for key, value in values.items():  # now in kimi-code's own environment
            ctx.monkeypatch.setenv(key, value)
    return setup


def hooks_in(where: str) -> Setup:
    """Every hook, in .git/hooks or in a core.hooksPath the work tree holds."""
    def setup(ctx: Ctx) -> None:
        hooks = ctx.repo / where
        arm_hooks(hooks, ctx.trap)
        if where != ".git/hooks":
            configure(ctx.repo, {"core.hooksPath": str(hooks)})
        assert_live(ctx.repo, ctx.trap, "commit", "--allow-empty", "-qm", "live")
    return setup


def post_index_change(ctx: Ctx) -> None:
    arm_hooks(ctx.repo / ".git" / "hooks", ctx.trap)
    make_stat_dirty(ctx.repo / "README.md")
    assert_live(ctx.repo, ctx.trap, "add", "-A")


def merge_driver(ctx: Ctx) -> None:
    configure(ctx.repo, {"merge.evil.driver": ctx.trap.command("merge") + " %O %A %B"})
    _attrs(ctx, "* merge=evil", ".git/info/attributes")
    for branch, text in (("m1", "one\n"), ("m2", "two\n")):
        git(ctx.repo, "branch", branch, "main")
        git(ctx.repo, "worktree", "add", "-q", str(ctx.tmp / branch), branch)
        (ctx.tmp / branch / "README.md").write_text(text)
        git(ctx.tmp / branch, "commit", "-qam", branch)
    assert_live(ctx.repo, ctx.trap, "merge-tree", "--write-tree", "m1", "m2")


def submodule(ctx: Ctx) -> None:
    """A submodule whose own config names programs; status of the superproject."""
    lib = new_repo(ctx.tmp / "libsrc", {"l.py": "1\n"})
    git(ctx.repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    git(ctx.repo, "commit", "-qm", "add lib")
    sub_git = Path(git(ctx.repo / "lib", "rev-parse", "--absolute-git-dir").stdout.decode().strip())
    configure(ctx.repo / "lib", {"core.fsmonitor": ctx.trap.command("sub-fsmonitor")},
              file=sub_git / "config")
    make_stat_dirty(ctx.repo / "lib" / "l.py")
    assert_live(ctx.repo, ctx.trap, "status")


def gitfile_pointer(ctx: Ctx) -> None:
    """The workspace's .git is a file pointing at a git directory elsewhere."""
    gitdir = ctx.repo / ".git"
    moved = ctx.tmp / "elsewhere.git"
    gitdir.rename(moved)
    (ctx.repo / ".git").write_text(f"gitdir: {moved}\n")
    configure(ctx.repo, {"core.fsmonitor": ctx.trap.command("pointer-fsmonitor")})
    assert_live(ctx.repo, ctx.trap, "status")


def linked_worktree(ctx: Ctx) -> None:
    """The workspace is a linked worktree; the filter sits in the common config."""
    wt = ctx.tmp / "linked"
    git(ctx.repo, "worktree", "add", "-q", str(wt), "main")
    _filter_in(ctx, "clean", live=())
    ctx.repo = wt  # the attack runs in the linked worktree
    make_stat_dirty(wt / "README.md")
    assert_live(wt, ctx.trap, "status")


def editor(ctx: Ctx) -> None:
    configure(ctx.repo, {"core.editor": ctx.trap.command("editor")})
    assert_live(ctx.repo, ctx.trap, "commit", "--allow-empty")


def user_editor_is_not_the_repos(ctx: Ctx) -> None:
    chosen = user_editor(open_repo(ctx.repo))
    assert str(ctx.trap.script) not in chosen


def gpg_program(ctx: Ctx) -> None:
    # gpg.program is run without a shell: the bare path
    configure(ctx.repo, {"gpg.program": str(ctx.trap.quick_script), "commit.gpgSign": "true"})
    assert_live(ctx.repo, ctx.trap, "commit", "--allow-empty", "-qm", "signed")


def hook_env_has_no_key(ctx: Ctx) -> None:
    """The user's commit hooks run in `kimi-code commit`, but never see the API key."""
    hook = ctx.repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\nenv >> '{ctx.tmp / 'hook-env'}'\n")
    hook.chmod(0o755)
    (ctx.repo / "README.md").write_text("commit me\n")


def hook_env_checked(ctx: Ctx) -> None:
    site.commit(ctx)
    text = (ctx.tmp / "hook-env").read_text()
    assert "PATH=" in text and CANARY not in text


def transport_ext(ctx: Ctx) -> None:
    """The repository allows the ext:: transport by name (protocol.ext.allow beats
    protocol.allow) and a remote runs a command through it."""
    configure(ctx.repo, {"protocol.ext.allow": "always",
                         "remote.o.url": f"ext::sh -c {ctx.trap.quick_script}"})
    assert_live(ctx.repo, ctx.trap, "ls-remote", "o")


def transport_ssh(ctx: Ctx) -> None:
    configure(ctx.repo, {"core.sshCommand": ctx.trap.quick("ssh"), "remote.o.url": "ssh://h/r"})
    assert_live(ctx.repo, ctx.trap, "ls-remote", "o")


def transport_uploadpack(ctx: Ctx) -> None:
    other = new_repo(ctx.tmp / "other")
    configure(ctx.repo, {"protocol.file.allow": "always", "remote.o.url": str(other),
                         "remote.o.uploadpack": ctx.trap.quick("uploadpack")})
    assert_live(ctx.repo, ctx.trap, "ls-remote", "o")


SECRET_KEY = "-----BEGIN OPENSSH PRIVATE KEY----- attack"


def worktree_redirect(ctx: Ctx) -> None:
    """core.worktree points git at a credential store: plain git lists (and `add -A` would
    hash) the user's private key as if it were a workspace file. (git reads core.worktree
    from the repository's own file only, never through an include.)"""
    store = ctx.tmp / "home" / ".ssh"
    store.mkdir(parents=True)
    (store / "id_rsa").write_text(SECRET_KEY + "\n")
    configure(ctx.repo, {"core.worktree": str(store)})
    listed = git(ctx.repo, "ls-files", "-o").stdout.decode()
    assert "id_rsa" in listed, "sanity: plain git should list the redirected work tree"


def no_key_listed(act: Callable[[Ctx], object]) -> Action:
    """Run a listing call site; the key must not be among the names it returns."""
    def run(ctx: Ctx) -> None:
        names = act(ctx)
        assert names is not None and not any("id_rsa" in str(n) for n in names), names
    return run


def glob_names(ctx: Ctx) -> list[str]:
    from kimi_code.tools.globmatch import git_files

    names = asyncio.run(git_files(ctx.repo))
    assert names is not None, "git's listing failed: the attack proves nothing"
    return names


def key_not_in_swarm_base(ctx: Ctx) -> None:
    base = snapshot_base(ctx.repo)
    tree = run_git(["ls-tree", "-r", "--name-only", base], cwd=ctx.repo).stdout.decode()
    assert "id_rsa" not in tree and "README.md" in tree


def bare_with_worktree(ctx: Ctx) -> None:
    """The workspace is a bare repository whose core.worktree is the credential store."""
    store = ctx.tmp / "home" / ".ssh"
    store.mkdir(parents=True)
    (store / "id_rsa").write_text(SECRET_KEY + "\n")
    bare = ctx.tmp / "bare.git"
    git(ctx.tmp, "clone", "-q", "--bare", str(ctx.repo), str(bare))
    configure(bare, {"core.bare": "false", "core.worktree": str(store)})
    assert "id_rsa" in git(bare, "ls-files", "-o").stdout.decode()
    ctx.repo = bare


def bare_refused(ctx: Ctx) -> None:
    with pytest.raises(GitError, match="core.worktree"):
        run_git(["ls-files", "-o"], cwd=ctx.repo)


def late_include(ctx: Ctx) -> None:
    """The include target does not exist at the first call; it is written before the second."""
    configure(ctx.repo, {"include.path": str(ctx.repo / "later.cfg")})
    _attrs(ctx, "* filter=late", ".git/info/attributes")


def late_include_act(ctx: Ctx) -> None:
    site.status_bar(ctx)
    (ctx.repo / "later.cfg").write_text(f'[filter "late"]\n\tclean = {ctx.trap.command("c")}\n')
    make_stat_dirty(ctx.repo / "README.md")
    site.status_bar(ctx)
    site.swarm(ctx)


ATTACKS = [
    Attack("fsmonitor-in-repo-config-status-bar", fsmonitor, site.status_bar),
    Attack("fsmonitor-index-scan-of-a-subdirectory", fsmonitor, lambda c: site.index_scan(c, "src")),
    Attack("fsmonitor-mentions-listing", fsmonitor, site.mentions),
    Attack("fsmonitor-glob-listing", fsmonitor, site.glob),
    Attack("fsmonitor-review", fsmonitor, site.review),
    Attack("fsmonitor-review-uncommitted", fsmonitor, site.review_uncommitted),
    Attack("fsmonitor-checkpoints", fsmonitor, site.checkpoints),
    Attack("fsmonitor-commit-diffs", fsmonitor, site.commit_diffs),
    Attack("fsmonitor-nested-repo-glob-path", nested_repo, lambda c: site.glob(c, "vendor/lib")),
    Attack("fsmonitor-nested-repo-index-scan", nested_repo, lambda c: site.index_scan(c, "vendor/lib")),
    Attack("fsmonitor-nested-repo-mentions", nested_repo, lambda c: site.mentions(c, "vendor/lib")),
    Attack("fsmonitor-via-include-of-worktree-file", include_fsmonitor, site.status_bar),
    Attack("fsmonitor-gitfile-pointing-outside", gitfile_pointer, site.index_scan),
    Attack("fsmonitor-of-a-submodule-status-bar", submodule, site.status_bar),
    Attack("clean-filter-swarm-base-snapshot", lambda c: _filter_in(c, "clean"), site.swarm),
    Attack("clean-filter-status-bar", lambda c: _filter_in(c, "clean"), site.status_bar),
    Attack("clean-filter-review-uncommitted", lambda c: _filter_in(c, "clean"), site.review_uncommitted),
    Attack("clean-filter-commit-diffs", lambda c: _filter_in(c, "clean"), site.commit_diffs),
    Attack("process-filter-swarm", lambda c: _filter_in(c, "process"), site.swarm),
    Attack("smudge-filter-swarm-worktree-checkout",
           lambda c: _filter_in(c, "smudge", live=("checkout", "-q", "main", "--", "README.md")),
           site.swarm),
    Attack("smudge-filter-review-export",
           lambda c: _filter_in(c, "smudge", live=("checkout", "-q", "main", "--", "README.md")),
           site.review),
    Attack("smudge-filter-checkpoint-restore",
           lambda c: _filter_in(c, "smudge", live=("checkout", "-q", "main", "--", "README.md")),
           site.checkpoints),
    Attack("filter-via-include-path", include_filter, site.swarm),
    Attack("filter-via-includeif-gitdir", lambda c: include_filter(c, f"gitdir:{c.repo}/"),
           site.review_uncommitted),
    Attack("filter-via-includeif-onbranch", lambda c: include_filter(c, "onbranch:feature"),
           site.status_bar),
    Attack("filter-via-include-chain", include_chain, site.commit_diffs),
    Attack("filter-include-written-between-calls", late_include, late_include_act),
    Attack("filter-legacy-section-syntax",
           raw_config("[filter.legacy]\n\tclean = TRAP\n", "* filter=legacy"), site.swarm),
    Attack("filter-name-with-equals",
           raw_config('[filter "a=b"]\n\tclean = TRAP\n', "* filter=a=b"), site.status_bar),
    Attack("filter-name-with-escaped-quote",
           raw_config('[filter "q\\"x"]\n\tclean = TRAP\n', '* filter=q"x'), site.swarm),
    Attack("filter-uppercase-section-and-key",
           raw_config('[FILTER "Up"]\n\tCLEAN = TRAP\n', "* filter=Up"), site.swarm),
    Attack("filter-header-and-key-on-one-line",
           raw_config('[filter "one"] clean = TRAP\n', "* filter=one"), site.commit_diffs),
    Attack("filter-in-worktree-config", worktree_config, site.swarm),
    Attack("filter-in-linked-worktree-common-config", linked_worktree, site.review_uncommitted),
    Attack("textconv-review-diff", textconv, site.review),
    Attack("textconv-commit-diffs", textconv, site.commit_diffs),
    Attack("external-diff-review", external_diff, site.review),
    Attack("external-diff-commit-diffs", external_diff, site.commit_diffs),
    Attack("diff-driver-command-review", diff_command, site.review),
    Attack("env-GIT_EXTERNAL_DIFF", env_attack(GIT_EXTERNAL_DIFF="TRAP"), site.review),
    Attack("env-GIT_CONFIG_PARAMETERS",
           env_attack(GIT_CONFIG_PARAMETERS="'diff.external'='TRAP'"), site.commit_diffs),
    Attack("env-GIT_CONFIG_COUNT", env_attack(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="diff.external",
                                              GIT_CONFIG_VALUE_0="TRAP"), site.review),
    Attack("env-GIT_DIR-to-hostile-gitdir", env_attack(("status",), GIT_DIR="set in setup"), site.glob),
    Attack("hooks-in-dot-git-swarm", hooks_in(".git/hooks"), site.swarm),
    Attack("hooks-in-worktree-hookspath-swarm", hooks_in("tools/githooks"), site.swarm),
    Attack("hooks-post-index-change-on-status", post_index_change, site.status_bar),
    Attack("hooks-during-checkpoints", hooks_in(".git/hooks"), site.checkpoints),
    Attack("merge-driver-swarm-merge-back", merge_driver, site.swarm),
    Attack("repo-core-editor-commit", editor, user_editor_is_not_the_repos),
    Attack("repo-gpg-program-on-kimi-commit", gpg_program, site.commit),
    Attack("commit-hooks-never-see-the-api-key", hook_env_has_no_key, hook_env_checked,
           allowed=""),
    Attack("worktree-redirect-index-scan", worktree_redirect,
           no_key_listed(lambda c: index_list_files(c.repo)[0])),
    Attack("worktree-redirect-mentions", worktree_redirect,
           no_key_listed(lambda c: mention_list_files(c.repo))),
    Attack("worktree-redirect-swarm-base", worktree_redirect, key_not_in_swarm_base),
    Attack("worktree-redirect-glob", worktree_redirect, no_key_listed(glob_names)),
    Attack("worktree-redirect-of-a-bare-workspace", bare_with_worktree, bare_refused,
           refused=True),
    Attack("transport-ext-allowed-by-name", transport_ext, site.runner("ls-remote", "o")),
    Attack("transport-ssh-command", transport_ssh, site.runner("ls-remote", "o")),
    Attack("transport-uploadpack-of-file-remote", transport_uploadpack,
           site.runner("ls-remote", "o")),
]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ctx:
    repo = new_repo(tmp_path / "ws", {"README.md": "hello\n", "src/app.py": "x = 1\n"})
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "src" / "app.py").write_text("x = 2\n")
    git(repo, "commit", "-qam", "feature change")
    make_stat_dirty(repo / "README.md")
    (repo / "new.txt").write_text("untracked\n")
    spy = install_spy(tmp_path, monkeypatch)
    return Ctx(repo, make_trap(tmp_path / "trap"), spy, tmp_path, monkeypatch)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_git_exec_attack(attack: Attack, world: Ctx) -> None:
    attack.setup(world)
    # the proofs under plain git refreshed the index: make git read the files again
    for rel in ("README.md", "src/app.py"):
        if (world.repo / rel).is_file():
            touch_stat(world.repo / rel)
    world.trap.reset()
    world.spy.log.unlink(missing_ok=True)
    attack.act(world)
    ran = [line for line in world.trap.lines()
           if attack.allowed is None or not line.startswith("hook ")]
    assert ran == [], f"{attack.name}: the repository's program ran: {ran}"
    assert attack.refused or world.spy.calls(), f"{attack.name}: no git ran, proves nothing"
    assert not world.spy.saw_canary(), f"{attack.name}: the API key reached git's environment"
    for name in ("GIT_EXTERNAL_DIFF", "GIT_CONFIG_PARAMETERS", "GIT_SSH_COMMAND", "GIT_EDITOR"):
        assert world.spy.env_values(name) == [], f"{name} reached git"
    assert set(world.spy.env_values("GIT_PAGER")) <= {"cat"}
