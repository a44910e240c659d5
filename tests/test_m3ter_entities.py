"""m3ter entity streams (destinations, lookup tables, revisions): every entity on the first
sync whatever `start_date` says, then what changed; the job streams below still walk every
table and revision."""

from __future__ import annotations

from tests.conftest import days_ago, m3ter_config
from tests.fakes.m3ter import DAY, iso
from tests.tap_runner import run_tap

DESTINATIONS = "m3ter_export_destinations"
TABLES = "m3ter_lookup_tables"
REVISIONS = "m3ter_lookup_table_revisions"
LOOKUP_JOBS = "m3ter_lookup_table_data_jobs"
LOOKUP_ROWS = "m3ter_lookup_table_data_rows"
ENTITY_STREAMS = (DESTINATIONS, TABLES, REVISIONS)
FIELDS = [("region", "STRING"), ("rate", "NUMBER")]


def _ids(result, stream: str) -> set[str]:
    return {record["id"] for record in result.records(stream)}


def _last_modified(m3, entity: dict, days: float) -> dict:
    entity["dtLastModified"] = iso(m3.now() - days * DAY)
    return entity


def _seed(m3) -> dict[str, list[dict]]:
    """Entities last changed days apart, the newest two days ago (well before any run)."""
    destinations = [_last_modified(m3, m3.add_destination(), days) for days in (9, 5, 2)]
    tables, revisions = [], []
    for n, days in enumerate((8, 4, 2)):
        table_id, revision_ids = m3.add_table(f"t{n}", FIELDS, revisions=2, rows=3)
        tables.append(_last_modified(m3, m3.tables[table_id], days))
        for age, revision_id in zip((days + 0.5, days), revision_ids, strict=True):
            revisions.append(_last_modified(m3, m3.revisions[table_id][revision_id], age))
    return {DESTINATIONS: destinations, TABLES: tables, REVISIONS: revisions}


def test_a_destination_modified_long_before_start_date_is_emitted_on_the_first_sync(m3):
    old = _last_modified(m3, m3.add_destination("GCS"), 400)
    table_id, (revision_id,) = m3.add_table("rates", FIELDS)
    _last_modified(m3, m3.tables[table_id], 400)
    _last_modified(m3, m3.revisions[table_id][revision_id], 400)

    result = run_tap(m3ter_config(m3, start_date=days_ago(2).isoformat()))

    assert _ids(result, DESTINATIONS) == {old["id"]}
    assert _ids(result, TABLES) == {table_id}
    assert _ids(result, REVISIONS) == {revision_id}


def test_a_second_sync_emits_only_what_changed(m3):
    seeded = _seed(m3)
    first = run_tap(m3ter_config(m3))
    for stream in ENTITY_STREAMS:
        assert _ids(first, stream) == {entity["id"] for entity in seeded[stream]}

    second = run_tap(m3ter_config(m3), state=first.state)

    for stream in ENTITY_STREAMS:
        newest = max(seeded[stream], key=lambda entity: entity["dtLastModified"])
        # The bookmark is inclusive: the entity at it may come again, nothing older does.
        assert _ids(second, stream) <= {newest["id"]}, stream


def test_an_entity_changed_after_the_first_sync_is_emitted_again(m3):
    seeded = _seed(m3)
    first = run_tap(m3ter_config(m3))
    boundary = {
        stream: max(seeded[stream], key=lambda entity: entity["dtLastModified"])["id"]
        for stream in ENTITY_STREAMS
    }
    changed = {
        DESTINATIONS: m3.touch(seeded[DESTINATIONS][0], prefix="moved"),
        TABLES: m3.touch(seeded[TABLES][0], name="Renamed"),
        REVISIONS: m3.touch(seeded[REVISIONS][0], itemCount=99),
    }

    second = run_tap(m3ter_config(m3), state=first.state)

    for stream, entity in changed.items():
        assert entity["id"] in _ids(second, stream), stream
        assert _ids(second, stream) <= {entity["id"], boundary[stream]}, stream
    moved = next(r for r in second.records(DESTINATIONS) if r["id"] == changed[DESTINATIONS]["id"])
    assert (moved["prefix"], moved["version"]) == ("moved", 2)


def test_data_jobs_of_an_unchanged_table_and_revision_still_arrive_on_later_syncs(m3):
    seeded = _seed(m3)
    first = run_tap(m3ter_config(m3))
    oldest_table = seeded[TABLES][0]
    archived, published = list(m3.revisions[oldest_table["id"]])
    copy = m3.add_lookup_job(oldest_table["id"], archived, type="COPY", created_at=m3.now())
    download = m3.add_lookup_job(oldest_table["id"], published, created_at=m3.now())

    second = run_tap(m3ter_config(m3), state=first.state)

    assert oldest_table["id"] not in _ids(second, TABLES)
    assert not {archived, published} & _ids(second, REVISIONS)
    assert _ids(second, LOOKUP_JOBS) == {copy, download}
    assert {row["job_id"] for row in second.records(LOOKUP_ROWS)} == {download}
    assert len(second.records(LOOKUP_ROWS)) == 3


def test_revisions_name_their_table_and_tables_carry_their_active_revision(m3):
    table_id, (archived, published) = m3.add_table("rates", FIELDS, revisions=2)

    result = run_tap(m3ter_config(m3))

    revisions = {r["id"]: r for r in result.records(REVISIONS)}
    assert {revisions[archived]["lookupTableId"], revisions[published]["lookupTableId"]} == {
        table_id
    }
    [table] = result.records(TABLES)
    assert table["activeRevision"]["id"] == published
    assert table["activeRevision"]["status"] == "PUBLISHED"
    [listing] = m3.requests_to(r"/lookuptables$")
    assert listing.query["additional"] == "activeRevision"


def test_a_table_whose_active_revision_changed_is_emitted_again_with_it(m3):
    seeded = _seed(m3)
    first = run_tap(m3ter_config(m3))
    table = seeded[TABLES][0]  # the table itself is not edited: a revision is published
    new_revision = m3.publish_new_revision(table["id"])

    second = run_tap(m3ter_config(m3), state=first.state)

    tables = {r["id"]: r for r in second.records(TABLES)}
    assert tables[table["id"]]["activeRevision"]["id"] == new_revision
    assert new_revision in _ids(second, REVISIONS)


def test_an_entity_modified_while_the_listing_pages_is_read_again_despite_clock_skew(m3):
    m3.advance(-120)  # m3ter's clock two minutes behind the tap's
    m3.destination_page_cap = 2
    destinations = [_last_modified(m3, m3.add_destination(), 3) for _ in range(4)]
    first_page, second_page = destinations[:2], destinations[2:]

    def edit_while_listing(request):
        if request.query.get("nextToken"):  # the first page is served; edits land now
            m3.before_destination_page = None
            m3.touch(first_page[0], prefix="edited-mid-listing")
            m3.advance(1)
            m3.touch(second_page[0], prefix="also-edited")

    m3.before_destination_page = edit_while_listing
    first = run_tap(m3ter_config(m3))
    listed = {r["id"]: r for r in first.records(DESTINATIONS)}
    assert listed[first_page[0]["id"]]["prefix"] == "m3ter"  # read before the edit

    second = run_tap(m3ter_config(m3), state=first.state)

    records = {r["id"]: r for r in second.records(DESTINATIONS)}
    assert records[first_page[0]["id"]]["prefix"] == "edited-mid-listing"
