"""Fixtures for this folder's tests: hermetic real git repositories (tests/support/git_repos.py)."""

from tests.support.commit_cli import model_env  # noqa: F401  (fixture)
from tests.support.git_repos import hermetic_git, make_repo  # noqa: F401  (fixtures)
