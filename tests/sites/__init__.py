"""Replica Chinese government CMS sites served over real HTTP on 127.0.0.1, for tests and the demo.

    with ReplicaFarm() as farm:            # trs (GBK, TRS table layout), cms, news, gkmlpt
        farm.sources_yaml(tmp / "sources.yaml")
        farm.expected(1)                   # what a crawl of state 1 should archive
        farm.set_state(2)                  # one edit, one withdrawal, one new report per site
"""
from .corpus import SiteChanges
from .farm import ExpectedArticle, ReplicaFarm
from .server import ReplicaSite, Request, Response

__all__ = ["ExpectedArticle", "ReplicaFarm", "ReplicaSite", "Request", "Response", "SiteChanges"]
