"""Shared fixtures: real git repositories (identity and helper in tests/helpers/git.py); the
suite's grouping for pytest-xdist (`make test` runs it in two processes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.git import git


@pytest.fixture
def git_repo(tmp_path: Path) -> Callable[..., Path]:
    """A factory for real git repositories with one commit of the given files."""

    def make(name: str = "repo", files: dict[str, str] | None = None) -> Path:
        root = tmp_path / name
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        for rel, text in (files or {"train.py": "print('train')\n"}).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "initial")
        return root

    return make


# Modules whose tests start Ray (a local one, or a cluster of `ray start` nodes): in one xdist
# worker, one after another (`--dist loadgroup`), so two Ray clusters never start side by side.
RAY_MODULES = ("test_ray_cluster.py", "test_executor_contract.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the Ray tests in one xdist group."""
    for item in items:
        if item.path.name in RAY_MODULES:
            item.add_marker(pytest.mark.xdist_group("ray"))
