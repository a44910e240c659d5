"""A fake m3ter Config API, following shared/api-notes/m3ter.md.

Basic-auth client-credentials tokens that expire (an expired token answers 403, as m3ter's
error guide files it), `pageSize`/`nextToken` paging on every list, lookup tables ->
revisions -> data jobs that move from PENDING to SUCCEEDED, DOWNLOAD links on the separate
storage host with `downloadUrlExpiry`, data export jobs whose `getdownloadurl` links live 15
minutes and only for jobs of the last 24 hours, and the ad-hoc export trigger.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import random
import secrets
import time
import typing as t
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tests.fakes.files import FakeFileHost
from tests.fakes.server import FakeAPI, Request, Response, json_response

DAY = 24 * 3600
ORG = r"/organizations/(?P<org>[^/]+)"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


#: `jobDate` and `downloadUrlExpiry` are untyped strings in a format the notes cannot pin
#: down; lookup jobs take these plausible spellings in turn (all UTC, as m3ter's times are).
UNTYPED_TIME_STYLES = (
    iso,
    lambda epoch: datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds"),
    lambda epoch: (
        datetime.fromtimestamp(epoch, timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    ),
    lambda epoch: str(int(epoch * 1000)),
    lambda epoch: (
        datetime.fromtimestamp(epoch, timezone.utc)
        .replace(tzinfo=None)
        .isoformat(timespec="milliseconds")
    ),
)


@dataclass
class FakeLookupJob:
    id: str
    table_id: str
    revision_id: str
    type: str
    created_at: float
    status: str = "PENDING"
    content_type: str = "text/csv"
    failure_reason: str | None = None
    destination_revision_id: str | None = None
    finish_after_polls: int = 2
    observations: int = 0
    version: int = 1
    #: The failureReason it ends FAILED with instead of succeeding, if any.
    fail_with: str | None = None


@dataclass
class FakeExportJob:
    id: str
    created_at: float
    source_type: str = "USAGE"
    status: str = "PENDING"
    content: bytes = b""
    schedule_id: str | None = None
    finish_after_polls: int = 2
    observations: int = 0
    request: dict = field(default_factory=dict)
    #: When it finished: the file is kept (and getdownloadurl answers) 24 hours after this.
    completed_at: float | None = None
    #: Ad-hoc exports may name destinations themselves (scheduled ones, through the schedule).
    destination_ids: list[str] = field(default_factory=list)
    #: Finish this long (wall time) after creation instead of after `finish_after_polls`.
    finish_after_seconds: float | None = None
    #: End FAILED instead of SUCCEEDED.
    fails: bool = False


class FakeM3ter(FakeAPI):
    def __init__(
        self,
        files: FakeFileHost,
        *,
        org_id: str = "org-0001",
        client_id: str = "m3ter-access-key",
        client_secret: str = "m3ter-api-secret",
        host: str = "127.0.0.1",
        port: int = 0,
        token_ttl_seconds: int = 18000,
        lookup_page_cap: int = 100,
        download_link_ttl: int = 300,
        seed: int | None = None,
    ) -> None:
        super().__init__(host, port)
        self.files = files
        #: A seed makes ids repeat across restarts (the sandbox), as a real org's would.
        self._ids = random.Random(seed) if seed is not None else None
        self.org_id = org_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl_seconds = token_ttl_seconds
        #: The notes find no documented maximum pageSize for the lookup-table lists.
        self.lookup_page_cap = lookup_page_cap
        self.download_link_ttl = download_link_ttl
        self.expire_next_download_links = 0
        #: Config API limit per organization; past it, 429 for the rest of that second.
        self.requests_per_second = 50
        self.rate_limited = 0
        self._second = (0, 0)
        self._last_pages = 0
        self.tokens: dict[str, float] = {}
        self.tokens_issued: list[str] = []
        self.destinations: list[dict] = []
        self.destination_page_cap = 100
        #: Called before each destinations page is served (to change data mid-listing).
        self.before_destination_page: t.Callable[[Request], None] | None = None
        self.tables: dict[str, dict] = {}
        self.revisions: dict[str, dict[str, dict]] = {}
        self.revision_rows: dict[str, list[dict]] = {}
        self.lookup_jobs: dict[str, FakeLookupJob] = {}
        #: Triggered DOWNLOAD jobs still to end FAILED instead of succeeding.
        self.fail_triggered_downloads = 0
        #: The notes do not say whether an ad-hoc export job carries a scheduleId: when
        #: True, each gets one of its own (an AD_HOC schedule); when False, none.
        self.adhoc_schedule_ids = False
        self.export_jobs: dict[str, FakeExportJob] = {}
        #: Ad-hoc exports run this long (wall time) each; None: `finish_after_polls`.
        self.adhoc_finish_after_seconds: float | None = None
        #: Ad-hoc exports still to end FAILED instead of succeeding.
        self.fail_adhoc_exports = 0
        #: The most ad-hoc exports unfinished at once (counted at each trigger).
        self.max_adhoc_unfinished = 0
        self.schedules: dict[str, dict] = {}
        #: The most DOWNLOAD jobs pending at once (the tap's budget caps it).
        self.most_downloads_pending = 0
        #: How many looks a triggered DOWNLOAD job takes to finish.
        self.triggered_download_polls = 2
        files.clock = self.now
        self.route("POST", r"/oauth/token", self._token)
        routes = [
            ("GET", ORG + r"/dataexports/destinations", self._destinations),
            ("GET", ORG + r"/lookuptables", self._tables),
            ("GET", ORG + r"/lookuptables/(?P<tid>[^/]+)/revisions", self._revisions),
            ("GET", ORG + r"/lookuptables/(?P<tid>[^/]+)/revisions/(?P<rid>[^/]+)", self._revision),
            (
                "GET",
                ORG + r"/lookuptables/(?P<tid>[^/]+)/revisions/(?P<rid>[^/]+)/data/jobs",
                self._lookup_jobs,
            ),
            (
                "POST",
                ORG + r"/lookuptables/(?P<tid>[^/]+)/revisions/(?P<rid>[^/]+)/data/jobs"
                r"/download",
                self._trigger_download,
            ),
            (
                "GET",
                ORG + r"/lookuptables/(?P<tid>[^/]+)/revisions/(?P<rid>[^/]+)/data/jobs"
                r"/(?P<jid>[^/]+)",
                self._lookup_job,
            ),
            ("GET", ORG + r"/dataexports/schedules", self._schedules),
            ("GET", ORG + r"/dataexports/jobs", self._exports),
            ("GET", ORG + r"/dataexports/jobs/(?P<jid>[^/]+)", self._export),
            ("GET", ORG + r"/dataexports/jobs/(?P<jid>[^/]+)/getdownloadurl", self._download_url),
            ("POST", ORG + r"/dataexports/adhoc", self._adhoc),
        ]
        for method, pattern, handler in routes:
            self.route(method, pattern, self._guarded(handler))

    def _new_id(self) -> str:
        if self._ids is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    # -- clock, tokens ----------------------------------------------------------------

    def expire_tokens(self) -> None:
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = 0

    def _token(self, request: Request) -> Response:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        body = request.form() if b"=" in request.body else (request.json() or {})
        if request.headers.get("authorization") != f"Basic {expected}":
            return json_response({"message": "Bad credentials"}, 401)
        if body.get("grant_type") != "client_credentials":
            return json_response({"message": "Unsupported grant type"}, 400)
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = self.now() + self.token_ttl_seconds
            self.tokens_issued.append(token)
        return json_response(
            {
                "token_type": "Bearer",
                "access_token": token,
                "expires_in": self.token_ttl_seconds,
                "scope": None,
            }
        )

    def _guarded(self, handler):
        def guarded(request: Request, org: str | None = None, **kwargs):
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            with self.lock:
                valid = self.tokens.get(token, 0) > self.now()
            if not valid:
                # m3ter's error guide files an expired bearer token under 403.
                return json_response(
                    {"message": "Forbidden or Unauthorized: the bearer token has expired"}, 403
                )
            if org != self.org_id:
                return json_response({"message": "Organization not found"}, 404)
            with self.lock:
                if self._over_rate_limit():
                    self.rate_limited += 1
                    return json_response({"message": "Rate limit exceeded"}, 429)
                return handler(request, **kwargs)

        return guarded

    def _over_rate_limit(self) -> bool:
        second, count = self._second
        now = int(time.time())
        count = count + 1 if now == second else 1
        self._second = (now, count)
        return count > self.requests_per_second

    # -- paging -------------------------------------------------------------------------

    def _page(self, request: Request, items: list[dict], cap: int = 100) -> Response:
        size = int(request.query.get("pageSize", 10))
        if not 1 <= size <= 200:
            return json_response({"message": "pageSize must be between 1 and 200"}, 400)
        size = min(size, cap)
        start = (
            int(base64.urlsafe_b64decode(request.query["nextToken"]).decode())
            if request.query.get("nextToken")
            else 0
        )
        page = items[start : start + size]
        body: dict = {"data": page}
        if start + size < len(items):
            body["nextToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        else:
            # The last page's nextToken is missing, null or empty (all three end a listing).
            with self.lock:
                self._last_pages += 1
                ending = self._last_pages % 3
            if ending:
                body["nextToken"] = None if ending == 1 else ""
        return json_response(body)

    # -- data ---------------------------------------------------------------------------

    def add_destination(self, destination_type: str = "S3", **fields) -> dict:
        now = self.now()
        common = {
            "id": self._new_id(),
            "version": 1,
            "name": f"{destination_type} dest",
            "code": f"dest_{len(self.destinations)}",
            "destinationType": destination_type,
            "dtCreated": iso(now - 3600),
            "dtLastModified": iso(now - 1800),
            "createdBy": "svc-user",
            "lastModifiedBy": "svc-user",
            "bucketName": "acme-exports",
            "prefix": "m3ter",
            "partitionOrder": "TIME_FIRST",
        }
        if destination_type == "S3":
            common["iamRoleArn"] = "arn:aws:iam::123456789012:role/m3ter-export"
        else:
            common.update(
                projectNumber="123456789012",
                poolId="m3ter-pool",
                providerId="m3ter-provider",
                serviceAccountEmail="export@acme.iam.gserviceaccount.com",
            )
        common.update(fields)
        self.destinations.append(common)
        return common

    def add_table(
        self, code: str, fields: list[tuple[str, str]], revisions: int = 1, rows: int = 5
    ) -> tuple[str, list[str]]:
        """A table with `revisions` revisions (the last PUBLISHED, earlier ARCHIVED)."""
        now = self.now()
        table_id = self._new_id()
        self.tables[table_id] = {
            "id": table_id,
            "version": 1,
            "name": code.title(),
            "code": code,
            "customFields": {"owner": "pricing"},
            "dtCreated": iso(now - 5 * DAY),
            "dtLastModified": iso(now - DAY),
            "createdBy": "u",
            "lastModifiedBy": "u",
        }
        self.revisions[table_id] = {}
        revision_ids = []
        for n in range(revisions):
            revision_id = self._new_id()
            self.revisions[table_id][revision_id] = {
                "id": revision_id,
                "version": 1,
                "name": f"{code} r{n + 1}",
                "status": "PUBLISHED" if n == revisions - 1 else "ARCHIVED",
                "startDate": iso(now - (revisions - n) * DAY),
                "fields": [{"name": name, "type": kind} for name, kind in fields],
                "keys": [fields[0][0]],
                "itemCount": rows,
                "customFields": {},
                "dtCreated": iso(now - (revisions - n) * DAY),
                "dtLastModified": iso(now - DAY),
                "createdBy": "u",
                "lastModifiedBy": "u",
            }
            self.revision_rows[revision_id] = [
                {
                    name: (f'{name}-{i}, "q"' if kind == "STRING" else f"{i}.{n}5")
                    for name, kind in fields
                }
                for i in range(rows)
            ]
            revision_ids.append(revision_id)
        return table_id, revision_ids

    def active_revision(self, table_id: str) -> dict | None:
        published = [r for r in self.revisions[table_id].values() if r["status"] == "PUBLISHED"]
        return published[-1] if published else None

    def publish_new_revision(self, table_id: str) -> str:
        """A new PUBLISHED revision of the table; the one before is ARCHIVED."""
        previous = self.active_revision(table_id) or next(iter(self.revisions[table_id].values()))
        if previous["status"] == "PUBLISHED":
            self.touch(previous, status="ARCHIVED")
        revision_id = self._new_id()
        self.revisions[table_id][revision_id] = {
            **previous,
            "id": revision_id,
            "version": 1,
            "name": f"{previous['name']} (new)",
            "status": "PUBLISHED",
            "startDate": iso(self.now()),
            "dtCreated": iso(self.now()),
            "dtLastModified": iso(self.now()),
        }
        self.revision_rows[revision_id] = list(self.revision_rows[previous["id"]])
        return revision_id

    def touch(self, entity: dict, **fields) -> dict:
        """Change an entity as an edit in the Console would: new version, dtLastModified now."""
        entity.update(
            fields,
            version=entity["version"] + 1,
            dtLastModified=iso(self.now()),
            lastModifiedBy="console-user",
        )
        return entity

    def add_lookup_job(
        self,
        table_id: str,
        revision_id: str,
        *,
        type: str = "DOWNLOAD",
        status: str = "SUCCEEDED",
        created_at: float | None = None,
        content_type: str = "text/csv",
        finish_after_polls: int = 2,
        failure_reason: str | None = None,
    ) -> str:
        job = FakeLookupJob(
            id=self._new_id(),
            table_id=table_id,
            revision_id=revision_id,
            type=type,
            created_at=created_at if created_at is not None else self.now() - 600,
            status=status,
            content_type=content_type,
            finish_after_polls=finish_after_polls,
            failure_reason=failure_reason or ("Invalid file" if status == "FAILED" else None),
            destination_revision_id=self._new_id() if type == "COPY" else None,
        )
        self.lookup_jobs[job.id] = job
        if status == "SUCCEEDED":
            self._publish_lookup_file(job)
        return job.id

    def lookup_file(self, job_id: str) -> bytes:
        job = self.lookup_jobs[job_id]
        rows = self.revision_rows[job.revision_id]
        if job.content_type == "application/jsonl":
            return "".join(json.dumps(r) + "\n" for r in rows).encode()
        buffer = io.StringIO()
        names = [f["name"] for f in self.revisions[job.table_id][job.revision_id]["fields"]]
        writer = csv.DictWriter(buffer, names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().encode()

    def _publish_lookup_file(self, job: FakeLookupJob) -> None:
        ext = "jsonl" if job.content_type == "application/jsonl" else "csv"
        self.files.publish(
            f"lookup/{job.id}.{ext}", self.lookup_file(job.id), content_type=job.content_type
        )

    def add_export_job(
        self,
        *,
        created_at: float | None = None,
        status: str = "SUCCEEDED",
        rows: list[dict] | None = None,
        file_format: str = "CSV",
        gzipped: bool = True,
        source_type: str = "USAGE",
        finish_after_polls: int = 2,
        completed_at: float | None = None,
        destination_ids: list[str] | None = None,
        ad_hoc: bool = False,
    ) -> str:
        """An export job of a schedule (or ad hoc), sending its files to `destination_ids`,
        if any."""
        created = created_at if created_at is not None else self.now() - 600
        job = FakeExportJob(
            id=self._new_id(),
            created_at=created,
            source_type=source_type,
            status=status,
            finish_after_polls=finish_after_polls,
        )
        if ad_hoc:
            job.destination_ids = list(destination_ids or [])
        else:
            schedule = self.add_schedule(source_type=source_type, destination_ids=destination_ids)
            job.schedule_id = schedule["id"]
        if status in ("SUCCEEDED", "FAILED"):
            job.completed_at = completed_at if completed_at is not None else created + 60
        job.content = export_file(
            rows if rows is not None else usage_rows(20), file_format, gzipped
        )
        self.export_jobs[job.id] = job
        self.files.publish(f"exports/{job.id}", job.content, content_type="application/gzip")
        return job.id

    def add_schedule(
        self, *, source_type: str = "USAGE", destination_ids: list[str] | None = None
    ) -> dict:
        schedule = {
            "id": self._new_id(),
            "version": 1,
            "name": f"{source_type.lower()} schedule",
            "code": f"schedule_{len(self.schedules)}",
            "sourceType": source_type,
            "destinationIds": list(destination_ids or []),
            "scheduleType": "DAY",
            "period": 1,
            "exportFileFormat": "CSV",
        }
        self.schedules[schedule["id"]] = schedule
        return schedule

    # -- progression ----------------------------------------------------------------------

    def _observe_lookup(self, job: FakeLookupJob) -> None:
        if job.status == "PENDING":
            job.observations += 1
            if job.observations >= job.finish_after_polls and job.fail_with:
                job.status, job.failure_reason = "FAILED", job.fail_with
                job.version += 1
            elif job.observations >= job.finish_after_polls:
                job.status = "SUCCEEDED"
                job.version += 1
                if job.type == "DOWNLOAD":
                    self._publish_lookup_file(job)

    def _observe_export(self, job: FakeExportJob) -> None:
        if job.status in ("PENDING", "RUNNING"):
            job.observations += 1
            job.status = "RUNNING"
            if job.finish_after_seconds is not None:
                done = self.now() - job.created_at >= job.finish_after_seconds
            else:
                done = job.observations >= job.finish_after_polls
            if done:
                job.status = "FAILED" if job.fails else "SUCCEEDED"
                job.completed_at = self.now()

    def _adhoc_unfinished(self) -> int:
        """Ad-hoc exports not finished by now (a job on a clock finishes whether or not
        anyone looks)."""
        return sum(
            1
            for job in self.export_jobs.values()
            if job.request
            and job.status in ("PENDING", "RUNNING")
            and not (
                job.finish_after_seconds is not None
                and self.now() - job.created_at >= job.finish_after_seconds
            )
        )

    def _lookup_json(self, job: FakeLookupJob) -> dict:
        untyped_time = UNTYPED_TIME_STYLES[list(self.lookup_jobs).index(job.id) % 5]
        body = {
            "id": job.id,
            "version": job.version,
            "lookupTableId": job.table_id,
            "lookupTableRevisionId": job.revision_id,
            "jobDate": untyped_time(job.created_at),
            "type": job.type,
            "status": job.status,
        }
        if job.type == "DOWNLOAD":
            ext = "jsonl" if job.content_type == "application/jsonl" else "csv"
            body["fileName"] = f"{job.table_id}-{job.revision_id}.{ext}"
        if job.type == "COPY":
            body["destinationLookupTableRevisionId"] = job.destination_revision_id
        if job.failure_reason:
            body["failureReason"] = job.failure_reason
        if job.type == "DOWNLOAD" and job.status == "SUCCEEDED":
            expired = self.expire_next_download_links > 0
            if expired:
                self.expire_next_download_links -= 1
            ttl = -60 if expired else self.download_link_ttl
            body["downloadUrl"] = self.files.presign(f"lookup/{job.id}.{ext}", ttl)
            body["downloadUrlExpiry"] = untyped_time(self.now() + ttl)
        return body

    def _export_json(self, job: FakeExportJob) -> dict:
        body = {
            "id": job.id,
            "version": 1,
            "scheduleId": job.schedule_id,
            "sourceType": job.source_type,
            "status": job.status,
            "dateCreated": iso(job.created_at),
        }
        if job.status != "PENDING":
            body["startedAt"] = iso(job.created_at + 5)
        return body

    # -- endpoints ------------------------------------------------------------------------

    def _destinations(self, request: Request) -> Response:
        if self.before_destination_page:
            self.before_destination_page(request)
        return self._page(request, self.destinations, self.destination_page_cap)

    def _tables(self, request: Request) -> Response:
        # `additional` is a comma-separated list of non-default fields (notes §4.1).
        wanted = request.query.get("additional", "").split(",")
        tables = [
            {**table, "activeRevision": active}
            if "activeRevision" in wanted and (active := self.active_revision(table["id"]))
            else table
            for table in self.tables.values()
        ]
        return self._page(request, tables, self.lookup_page_cap)

    def _revisions(self, request: Request, tid: str) -> Response:
        if tid not in self.tables:
            return json_response({"message": "Lookup table not found"}, 404)
        return self._page(request, list(self.revisions[tid].values()), self.lookup_page_cap)

    def _revision(self, request: Request, tid: str, rid: str) -> Response:
        revision = self.revisions.get(tid, {}).get(rid)
        return (
            json_response(revision)
            if revision
            else json_response({"message": "Revision not found"}, 404)
        )

    def _lookup_jobs(self, request: Request, tid: str, rid: str) -> Response:
        jobs = [j for j in self.lookup_jobs.values() if j.table_id == tid and j.revision_id == rid]
        for job in jobs:
            self._observe_lookup(job)
        return self._page(request, [self._lookup_json(j) for j in jobs], self.lookup_page_cap)

    def _lookup_job(self, request: Request, tid: str, rid: str, jid: str) -> Response:
        job = self.lookup_jobs.get(jid)
        if not job or job.table_id != tid or job.revision_id != rid:
            return json_response({"message": "Job not found"}, 404)
        self._observe_lookup(job)
        return json_response(self._lookup_json(job))

    def _trigger_download(self, request: Request, tid: str, rid: str) -> Response:
        if rid not in self.revisions.get(tid, {}):
            return json_response({"message": "Revision not found"}, 404)
        content_type = (request.json() or {}).get("contentType", "text/csv")
        if content_type not in ("text/csv", "application/jsonl"):
            return json_response(
                {"message": "contentType must be text/csv or application/jsonl"}, 400
            )
        job_id = self.add_lookup_job(
            tid,
            rid,
            status="PENDING",
            created_at=self.now(),
            content_type=content_type,
            finish_after_polls=self.triggered_download_polls,
        )
        if self.fail_triggered_downloads:
            self.fail_triggered_downloads -= 1
            self.lookup_jobs[job_id].fail_with = "Internal error while exporting the revision"
        pending = [
            j for j in self.lookup_jobs.values() if j.type == "DOWNLOAD" and j.status == "PENDING"
        ]
        self.most_downloads_pending = max(self.most_downloads_pending, len(pending))
        return json_response({"jobId": job_id})

    def _exports(self, request: Request) -> Response:
        start = request.query.get("dateCreatedStart")
        jobs = sorted(self.export_jobs.values(), key=lambda j: j.created_at)
        if start:
            try:
                floor = (
                    datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ")
                    .replace(tzinfo=timezone.utc)
                    .timestamp()
                )
            except ValueError:
                return json_response(
                    {"message": "dateCreatedStart must be yyyy-MM-dd'T'HH:mm:ss'Z'"}, 400
                )
            jobs = [j for j in jobs if j.created_at >= floor]
        for job in jobs:
            self._observe_export(job)
        return self._page(request, [self._export_json(j) for j in jobs])

    def _export(self, request: Request, jid: str) -> Response:
        job = self.export_jobs.get(jid)
        if not job:
            return json_response({"message": "Job not found"}, 404)
        self._observe_export(job)
        return json_response(self._export_json(job))

    def _download_url(self, request: Request, jid: str) -> Response:
        job = self.export_jobs.get(jid)
        if not job:
            return json_response({"message": "Job not found"}, 404)
        if job.status != "SUCCEEDED":
            return json_response({"message": "The export job has not completed"}, 400)
        schedule = self.schedules.get(job.schedule_id or "") or {}
        if job.destination_ids or schedule.get("destinationIds"):
            return json_response(
                {
                    "message": "Download URLs are only available for exports without "
                    "destinations; this export was delivered to its destinations"
                },
                400,
            )
        if self.now() - (job.completed_at or job.created_at) > DAY:
            return json_response(
                {
                    "message": "Download URLs are only available for export "
                    "jobs run in the past 24 hours"
                },
                400,
            )
        return json_response(
            {
                "url": self.files.presign(f"exports/{job.id}", 900),
                "expirationTime": iso(self.now() + 900),
            }
        )

    def _schedules(self, request: Request) -> Response:
        wanted = [i for i in request.query.get("ids", "").split(",") if i]
        items = [s for s in self.schedules.values() if not wanted or s["id"] in wanted]
        return self._page(request, items)

    def _adhoc(self, request: Request) -> Response:
        body = request.json() or {}
        source = body.get("sourceType")
        if source == "USAGE" and not (body.get("startDate") and body.get("endDate")):
            return json_response({"message": "startDate and endDate are required"}, 400)
        if source == "OPERATIONAL" and not body.get("operationalDataTypes"):
            return json_response({"message": "operationalDataTypes is required"}, 400)
        if source not in ("USAGE", "OPERATIONAL"):
            return json_response({"message": "sourceType must be USAGE or OPERATIONAL"}, 400)
        job_id = self.add_export_job(
            created_at=self.now(),
            status="PENDING",
            source_type=source,
            file_format=body.get("exportFileFormat", "CSV"),
            destination_ids=body.get("destinationIds"),
            ad_hoc=True,
        )
        self.export_jobs[job_id].request = body
        self.export_jobs[job_id].finish_after_seconds = self.adhoc_finish_after_seconds
        if self.fail_adhoc_exports:
            self.fail_adhoc_exports -= 1
            self.export_jobs[job_id].fails = True
        self.max_adhoc_unfinished = max(self.max_adhoc_unfinished, self._adhoc_unfinished())
        if self.adhoc_schedule_ids:
            schedule = self.add_schedule(source_type=source)
            schedule["scheduleType"] = "AD_HOC"
            self.export_jobs[job_id].schedule_id = schedule["id"]
        return json_response({"jobId": job_id})


def usage_rows(n: int, seed: int = 3) -> list[dict]:
    return [
        {
            "accountCode": f"acct-{i % 7}",
            "meterCode": "api_calls",
            "timestamp": iso(1_700_000_000 + i * 60),
            "value": f"{(i * seed) % 97}.25",
            "dimension": 'region=eu, tier="gold"' if i % 5 == 0 else "",
        }
        for i in range(n)
    ]


def export_file(rows: list[dict], file_format: str = "CSV", gzipped: bool = True) -> bytes:
    if file_format == "JSONL":
        raw = "".join(json.dumps(r) + "\n" for r in rows).encode()
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, list(rows[0]) if rows else ["value"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        raw = buffer.getvalue().encode()
    return gzip.compress(raw) if gzipped else raw
