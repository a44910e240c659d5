"""A fake Talkdesk Explore API (report jobs), following shared/api-notes/talkdesk.md.

Tokens come from `/oauth/token` with Basic client credentials (`grant_type` in the form
body or, as Airbyte sends it, in the query string). Report jobs live under
`/data/reports/{type}/jobs`; their `timespan` is read in the job's `timezone` when it has no
offset (`from` inclusive, `to` exclusive, at most 31 days). A job moves created ->
processing -> uploading -> done as it is looked at; once done, its status call answers a
redirect (300, 302 or 303) whose Location is `/data/reports/{type}/files/{id}`, which in turn
redirects to a short-lived presigned link on the storage host. Where the notes leave a
shape open (status case, create answer wrapped or flat, a redirect's body, `created_at` on
jobs, the redirect codes, the json payload), a knob picks it; left unset, each test gets
one shape, the same on every run. Errors carry `{code, message, description, fields}`.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import random
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from tests.fakes.files import FakeFileHost
from tests.fakes.server import FakeAPI, Request, Response, json_response, varied

STAGES = ("created", "processing", "uploading", "done")
FORMATS = ("csv", "json", "json_bulk")
MAX_SPAN = timedelta(days=31)
COLUMNS = ("call_id", "type", "start_at", "end_at", "talk_time", "user_email", "notes")


@dataclass
class ReportJob:
    id: str
    report_type: str
    name: str
    timezone: str
    format: str
    span_from: str
    span_to: str
    created_at: float
    status: str = "created"
    observations: int = 0
    via_api: bool = False
    #: "failed", "canceled" or "deleted": where the job ends instead of done.
    ends: str | None = None
    links_given: int = 0
    body: bytes | None = None
    extra: dict = field(default_factory=dict)


class FakeTalkdesk(FakeAPI):
    def __init__(
        self,
        files: FakeFileHost,
        *,
        client_id: str = "td-client",
        client_secret: str = "td-secret",
        host: str = "127.0.0.1",
        port: int = 0,
        finish_after_polls: int = 2,
        token_ttl_seconds: int = 3600,
        link_ttl_seconds: float = 30,
        redirect_status: int | None = None,
        status_case: str | None = None,
        create_style: str | None = None,
        json_style: str | None = None,
        show_created_at: bool | None = None,
        per_page: int = 3,
    ) -> None:
        super().__init__(host, port)
        self.files = files
        self.client_id = client_id
        self.client_secret = client_secret
        self.finish_after_polls = finish_after_polls
        self.token_ttl_seconds = token_ttl_seconds
        self.link_ttl_seconds = link_ttl_seconds
        #: 300 (the Explore reference), 302 or 303 (the legacy and download pages).
        self.redirect_status = redirect_status
        #: "lower" (the reference) or "upper" (the docs' summary block).
        self.status_case = status_case
        #: "wrapped" (`{"job": {...}}`, what clients read) or "flat" (what the docs list).
        self.create_style = create_style
        #: "entries" (`{"type", "version", "entries", "total"}`), "bare" (`{"entries",
        #: "total"}`), "list" (a bare array) or "lines" (one object per line).
        self.json_style = json_style
        #: Whether jobs show a `created_at` (the notes' job objects have none).
        self.show_created_at = show_created_at
        self.per_page = per_page
        #: `files/{id}` answers the file itself (200) instead of redirecting to storage.
        self.serve_files_directly = False
        self.tokens: dict[str, float] = {}
        self.tokens_issued: list[str] = []
        self.requests_with_expired_tokens: list[Request] = []
        self.jobs: dict[str, ReportJob] = {}
        self.rows: dict[str, list[dict]] = {}
        #: The next `expire_links` presigned links are handed out already expired.
        self.expire_links = 0
        #: How the next jobs created end, in turn ("failed", "canceled", "deleted", or a
        #: status the notes do not list); once empty, jobs end done.
        self.endings: list[str] = []
        self.max_created_unfinished = 0
        self.route("POST", r"/oauth/token", self._token)
        self.route("POST", r"/data/reports/(?P<kind>[^/]+)/jobs", self._create)
        self.route("GET", r"/data/reports/(?P<kind>[^/]+)/jobs", self._list)
        self.route("GET", r"/data/reports/(?P<kind>[^/]+)/jobs/(?P<job_id>[^/]+)", self._status)
        self.route("GET", r"/data/reports/(?P<kind>[^/]+)/files/(?P<job_id>[^/]+)", self._file)
        files.clock = self.now

    # -- clock, data, shapes ----------------------------------------------------------

    def add_rows(
        self, report_type: str, n: int, start: datetime, end: datetime, seed: int = 3
    ) -> list[dict]:
        """Calls that ended between `start` and `end` (UTC), with awkward values."""
        rng = random.Random(f"{seed}:{report_type}")
        notes = ["", "NA", "null", 'said "hi", left', "line one\nline two", "日本語"]
        span = (end - start).total_seconds()
        rows = []
        for _ in range(n):
            ended = start + timedelta(seconds=int(rng.random() * span))
            rows.append(
                {
                    "call_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                    "type": rng.choice(["inbound", "outbound"]),
                    "start_at": (ended - timedelta(seconds=30)).strftime("%Y-%m-%d %H:%M:%S"),
                    "end_at": ended.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "talk_time": rng.randint(0, 900),
                    "user_email": f"agent{rng.randint(1, 40)}@example.com",
                    "notes": rng.choice(notes),
                }
            )
        self.rows.setdefault(report_type, []).extend(rows)
        return rows

    def add_job(
        self,
        report_type: str,
        *,
        status: str = "done",
        fmt: str = "json",
        start: datetime | None = None,
        end: datetime | None = None,
        name: str = "made in the Talkdesk UI",
    ) -> str:
        """A job someone else created; a done one gets its file now."""
        end = end or datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        start = start or end - timedelta(days=1)
        job = ReportJob(
            id=uuid.uuid4().hex,
            report_type=report_type,
            name=name,
            timezone="UTC",
            format=fmt,
            span_from=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            span_to=end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            created_at=self.now(),
            status=status,
        )
        with self.lock:
            self.jobs[job.id] = job
            if status == "done":
                self._publish(job)
        return job.id

    def created_jobs(self, report_type: str | None = None) -> list[ReportJob]:
        return sorted(
            (j for j in self.jobs.values() if j.via_api and report_type in (None, j.report_type)),
            key=lambda j: j.created_at,
        )

    def window_rows(self, job: ReportJob) -> list[dict]:
        low, high = _instant(job.span_from, job.timezone), _instant(job.span_to, job.timezone)
        return [
            row
            for row in self.rows.get(job.report_type, [])
            if low <= _instant(row["end_at"], "UTC") < high
        ]

    def _publish(self, job: ReportJob) -> None:
        rows = self.window_rows(job)
        if job.format == "csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\r\n")
            writer.writeheader()
            writer.writerows(rows)
            body = buffer.getvalue().encode()
        elif job.format == "json_bulk":
            body = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
        else:
            style = self.shape(self.json_style, "json", ("entries", "bare", "list", "lines"))
            if style == "entries":
                wrapped = {"type": job.report_type, "version": "v1", "entries": rows}
                body = json.dumps({**wrapped, "total": len(rows)}, indent=1).encode()
            elif style == "bare":
                body = json.dumps({"entries": rows, "total": len(rows)}).encode()
            elif style == "list":
                body = json.dumps(rows).encode()
            else:
                body = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
        job.body = body
        self.files.publish(f"reports/{job.id}.{job.format}", body)

    def _job_json(self, job: ReportJob) -> dict:
        upper = self.shape(self.status_case, "case", ("lower", "upper")) == "upper"
        shown = {
            "id": job.id,
            "name": job.name,
            "timezone": job.timezone,
            "status": job.status.upper() if upper else job.status,
            "format": job.format,
            "timespan": {"from": job.span_from, "to": job.span_to},
            **job.extra,
        }
        if self.shape(self.show_created_at, "created_at", (True, False)):
            created = datetime.fromtimestamp(job.created_at, timezone.utc)
            shown["created_at"] = created.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return shown

    def _links(self, job: ReportJob) -> dict:
        base = f"{self.url}/data/reports/{job.report_type}"
        return {
            "self": {"href": f"{base}/jobs/{job.id}"},
            "files": {"href": f"{base}/files/{job.id}"},
        }

    def _advance_job(self, job: ReportJob) -> None:
        if job.status not in STAGES[:-1]:
            return
        job.observations += 1
        if job.observations < self.finish_after_polls:
            job.status = STAGES[min(job.observations, 2)]
            return
        if job.ends:
            job.status = job.ends
            return
        job.status = "done"
        self._publish(job)

    # -- endpoints ----------------------------------------------------------------------

    def error_response(self, status: int) -> Response:
        codes = {
            400: ("0000400", "Bad Request"),
            401: ("0000401", "Unauthorized"),
            403: ("0000403", "Forbidden"),
            404: ("0000404", "Not Found"),
            429: ("0000429", "Too Many Requests"),
            503: ("0000503", "Unable to audit operation"),
        }
        code, message = codes.get(status, (f"0000{status}", "Error"))
        return _error(status, code, message, f"Injected failure {status}")

    def _token(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        try:
            pair = base64.b64decode(header.removeprefix("Basic ").strip()).decode()
        except ValueError:
            pair = ""
        grant = request.form().get("grant_type") or request.query.get("grant_type")
        if not header.startswith("Basic ") or pair != f"{self.client_id}:{self.client_secret}":
            body = {"error": "invalid_client", "error_description": "Client authentication failed"}
            return json_response(body, 401)
        if grant != "client_credentials":
            body = {"error": "unsupported_grant_type", "error_description": "grant_type"}
            return json_response(body, 400)
        token = secrets.token_hex(24)
        with self.lock:
            self.tokens[token] = self.now() + self.token_ttl_seconds
            self.tokens_issued.append(token)
        return json_response(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.token_ttl_seconds,
                "scope": "data-reports:read data-reports:write",
            }
        )

    def _authorized(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip()
        with self.lock:
            expires = self.tokens.get(token)
            if expires is not None and expires <= self.now():
                self.requests_with_expired_tokens.append(request)
            if header.startswith("Bearer ") and (expires or 0) > self.now():
                return None
        return _error(401, "0000401", "Unauthorized", "Invalid or expired access token")

    def _create(self, request: Request, kind: str) -> Response:
        if refused := self._authorized(request):
            return refused
        try:
            body = request.json() or {}
        except ValueError:
            return _error(400, "0000400", "Bad Request", "The body is not valid JSON")
        span = body.get("timespan") or {}
        problems = []
        if body.get("format") not in FORMATS:
            problems.append(("format", f"must be one of {', '.join(FORMATS)}"))
        try:
            ZoneInfo(body.get("timezone") or "")
        except (ValueError, KeyError):
            problems.append(("timezone", "must be an IANA time zone"))
        try:
            low = _instant(span.get("from"), body.get("timezone") or "UTC")
            high = _instant(span.get("to"), body.get("timezone") or "UTC")
        except (TypeError, ValueError, KeyError):
            problems.append(("timespan", "from and to must be date-times"))
        else:
            if not low < high:
                problems.append(("timespan.to", "must be after timespan.from"))
            elif high - low > MAX_SPAN:
                problems.append(("timespan", "at most one month of data per request"))
        if problems:
            return _error(
                400,
                "0000400",
                "Bad Request",
                "Invalid request",
                [{"name": name, "description": text} for name, text in problems],
            )
        with self.lock:
            job = ReportJob(
                id=uuid.uuid4().hex,
                report_type=kind,
                name=str(body.get("name") or ""),
                timezone=body["timezone"],
                format=body["format"],
                span_from=span["from"],
                span_to=span["to"],
                created_at=self.now(),
                via_api=True,
                ends=self.endings.pop(0) if self.endings else None,
            )
            self.jobs[job.id] = job
            unfinished = [j for j in self.created_jobs() if j.status in STAGES[:-1]]
            self.max_created_unfinished = max(self.max_created_unfinished, len(unfinished))
            shown = self._job_json(job)
        if self.shape(self.create_style, "create", ("wrapped", "flat")) == "wrapped":
            return json_response({"job": shown, "_links": self._links(job)}, 202)
        return json_response({**shown, "_links": self._links(job)}, 202)

    def _list(self, request: Request, kind: str) -> Response:
        if refused := self._authorized(request):
            return refused
        page = int(request.query.get("page") or 1)
        per_page = min(int(request.query.get("per_page") or self.per_page), self.per_page)
        with self.lock:
            jobs = sorted(
                (j for j in self.jobs.values() if j.report_type == kind),
                key=lambda j: j.created_at,
                reverse=True,
            )
            chunk = jobs[(page - 1) * per_page : page * per_page]
            listed = [{**self._job_json(j), "_links": self._links(j)} for j in chunk]
        base = f"{self.url}/data/reports/{kind}/jobs?per_page={per_page}"
        links = {"self": {"href": f"{base}&page={page}"}}
        if page * per_page < len(jobs):
            links["next"] = {"href": f"{base}&page={page + 1}"}
        return json_response(
            {
                "_embedded": {"jobs": listed},
                "total": len(jobs),
                "page": page,
                "per_page": per_page,
                "_links": links,
            }
        )

    def _find(self, kind: str, job_id: str) -> ReportJob | None:
        job = self.jobs.get(job_id)
        return job if job is not None and job.report_type == kind else None

    def _status(self, request: Request, kind: str, job_id: str) -> Response:
        if refused := self._authorized(request):
            return refused
        with self.lock:
            job = self._find(kind, job_id)
            if job is None:
                return _error(404, "0000404", "Not Found", "Report job not found")
            self._advance_job(job)
            body = {"job": self._job_json(job), "_links": self._links(job)}
        if job.status != "done":
            return json_response(body)
        status = self.shape(self.redirect_status, "redirect", (300, 302, 303))
        response = json_response(body, status)
        # A 302/303 may come without the job in its body.
        if status != 300 and varied(f"redirect-body:{job_id}") % 2:
            response = Response(status, b"")
        response.headers["Location"] = self._links(job)["files"]["href"]
        return response

    def _file(self, request: Request, kind: str, job_id: str) -> Response:
        if refused := self._authorized(request):
            return refused
        with self.lock:
            job = self._find(kind, job_id)
            if job is None or job.status == "deleted":
                return _error(404, "0000404", "Not Found", "Report file not found")
            if job.status != "done":
                return _error(409, "0000409", "Conflict", f"Report job is {job.status}")
            if self.serve_files_directly:
                content_type = "text/csv" if job.format == "csv" else "application/json"
                return Response(200, job.body or b"", {"Content-Type": content_type})
            job.links_given += 1
            expired = self.expire_links > 0
            self.expire_links = max(0, self.expire_links - 1)
            href = self.files.presign(
                f"reports/{job.id}.{job.format}", self.link_ttl_seconds, already_expired=expired
            )
        status = self.shape(None, f"file-redirect:{job_id}", (302, 303))
        return Response(status, b"", {"Location": href})


def _instant(value: str | None, zone: str) -> datetime:
    """A timespan bound: its own offset when it has one, else read in `zone`."""
    if not isinstance(value, str):
        raise TypeError("not a string")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed.astimezone(timezone.utc)


def _error(
    status: int, code: str, message: str, description: str, fields: list | None = None
) -> Response:
    return json_response(
        {"code": code, "message": message, "description": description, "fields": fields or []},
        status,
    )
