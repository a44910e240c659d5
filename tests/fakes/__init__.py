"""Fake vendor APIs served over real HTTP on loopback, for tests and the demo sandbox."""

from tests.fakes.elasticpath import FakeElasticPath
from tests.fakes.files import FakeFileHost
from tests.fakes.m3ter import FakeM3ter
from tests.fakes.server import FakeHost, Request, Response
from tests.fakes.talkdesk import FakeTalkdesk
from tests.fakes.uniware import FakeUniware

__all__ = [
    "FakeElasticPath",
    "FakeFileHost",
    "FakeHost",
    "FakeM3ter",
    "FakeTalkdesk",
    "FakeUniware",
    "Request",
    "Response",
]
