"""Fixtures for this folder's tests: hermetic real git repositories (tests/support/git_repos.py)."""

from tests.support.git_repos import hermetic_git, make_repo  # noqa: F401  (fixtures)
from tests.support.review_cli import pr_repo, server  # noqa: F401  (fixtures)
