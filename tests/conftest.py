"""Shared fixtures: the replica sites over real HTTP, a sources.yaml for them, a fresh archive path."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sites import ReplicaFarm


@pytest.fixture
def replica() -> Iterator[ReplicaFarm]:
    """All replica sites started on 127.0.0.1 (state 1); stopped after the test."""
    with ReplicaFarm() as farm:
        yield farm


@pytest.fixture
def replica_config(replica: ReplicaFarm, tmp_path: Path) -> Path:
    """A config/sources.yaml pointing at the running replica sites."""
    return replica.sources_yaml(tmp_path / "config" / "sources.yaml")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where a test's archive database lives (not created)."""
    return tmp_path / "archive.db"


@pytest.fixture
def dept() -> Iterator[ReplicaFarm]:
    """A farm holding only the department-prefixed gkmlpt site (tests/sites/gkmlpt.py)."""
    from tests.sites.gkmlpt import GkmlptDeptSite

    farm = ReplicaFarm(sites=())
    farm.sites["gkmlpt"] = GkmlptDeptSite(farm)
    with farm:
        yield farm


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under mutmut (MUTANT_UNDER_TEST set), tests that start crawl processes (marked `crawl(rank)`) run
    last, cheapest and most telling first, so a mutant that a fast test fails (mutmut stops at the first
    failure) costs no crawl, and one that a crawl test fails costs as few as possible."""
    import os

    def cost(item: pytest.Item) -> tuple[bool, int]:
        mark = item.get_closest_marker("crawl")
        return (mark is not None, mark.args[0] if mark and mark.args else 0)

    if os.environ.get("MUTANT_UNDER_TEST"):
        items.sort(key=cost)
