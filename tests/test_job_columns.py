"""A job table has one column per fact: the provider's fields that the tap normalizes arrive
under their normalized name only, never also under the API's name (no twin columns)."""

from __future__ import annotations

import pytest

from tap_exportjobs.jobs.record import JOB_CORE_PROPERTIES
from tap_exportjobs.jobs.stream import JobStream
from tap_exportjobs.tap import TapExportJobs

CORE = [p.name for p in JOB_CORE_PROPERTIES]


def _job_streams() -> list[JobStream]:
    tap = TapExportJobs(
        config={
            "elasticpath": {"client_id": "id", "client_secret": "secret"},
            "m3ter": {"org_id": "org", "client_id": "id", "client_secret": "secret"},
        },
        parse_env_config=False,
        validate_config=True,
    )
    return [s for s in tap.streams.values() if isinstance(s, JobStream)]


def _sentinel(name: str, schema: dict, counter: list[int]):
    """A value of the property's type that no other property has (leaves are unique)."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    counter[0] += 1
    if "object" in types:
        return {
            key: _sentinel(f"{name}.{key}", sub, counter)
            for key, sub in schema.get("properties", {}).items()
        }
    if "integer" in types or "number" in types:
        return 7_000_000 + counter[0]
    # URL-shaped, so link fields are taken as links; never a host the tap treats as an API.
    return f"https://sentinel.invalid/{name}"


def _leaves(value) -> list:
    if isinstance(value, dict):
        return [leaf for sub in value.values() for leaf in _leaves(sub)]
    return [value]


@pytest.mark.parametrize("stream", _job_streams(), ids=lambda s: s.name)
def test_no_provider_column_twins_a_normalized_one(stream):
    partitions = {p.name for p in stream.partition_properties}
    provider = {
        name: schema
        for name, schema in stream.schema["properties"].items()
        if name not in CORE and name not in partitions
    }
    assert provider, f"{stream.name} keeps no provider field at all"
    counter = [0]
    raw = {name: _sentinel(name, schema, counter) for name, schema in provider.items()}
    raw.setdefault("id", "job-1")
    normalized = stream.normalize_job(raw, {name: "partition" for name in partitions})
    sentinels = {
        leaf: name for name, value in raw.items() if name != "id" for leaf in _leaves(value)
    }
    twins = {
        column: sentinels[normalized[column]]
        for column in CORE
        if isinstance(normalized.get(column), (str, int)) and normalized[column] in sentinels
    }
    assert twins == {}, f"{stream.name}: core column <- provider column it twins: {twins}"
