"""A fake Unicommerce Uniware tenant (export jobs), following shared/api-notes/uniware.md.

Tokens come from `/oauth/token` (GET as documented, POST as one client sends it) with the
password grant or a refresh token, all in the query string. Export jobs are created with
`POST /services/rest/v1/export/job/create` (the `Facility` header is required: without a
known one the answer is 403 "Illegal Access, facility is required") and followed with
`POST /services/rest/v1/export/job/status` by `jobCode`; nothing lists them. Business
failures are HTTP 200 with `successful: false` and the API's `errors` (`description` is the
text, `message` the code). A job is QUEUED, then RUNNING, then COMPLETE or SUCCESSFUL (the
notes' two names for done) with a `filePath`: an absolute presigned link on the storage
host, or a path relative to the tenant served with the bearer token (without it, the
tenant answers its HTML login page with 200). CSV headers are display captions, not the
column ids asked for, and may start with a BOM. Where the notes leave a shape open, a
knob picks it; unset, each test gets one shape, the same on every run.
"""

from __future__ import annotations

import csv
import io
import random
import secrets
import typing as t
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from tests.fakes.files import FakeFileHost
from tests.fakes.server import FakeAPI, Request, Response, json_response

API = "/services/rest/v1"
#: Column id -> the caption the CSV header carries.
CAPTIONS = {
    "saleOrderCode": "Sale Order Code",
    "displayOrderCode": "Display Order Code",
    "channel": "Channel Name",
    "status": "Sale Order Status",
    "addedOn": "Created",
    "notes": "Notes",
}
REPORTS = {"Sale Orders", "Purchase Orders", "Invoice"}
LOGIN_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Uniware | Login</title></head>"
    b"<body><form action='/login'>Username <input name='j_username'></form></body></html>"
)


@dataclass
class ExportJob:
    code: str
    facility: str
    report: str
    columns: list[str]
    start: datetime | None
    end: datetime | None
    created_at: float
    status: str = "QUEUED"
    observations: int = 0
    #: Where the job ends instead of done: "FAILED", "CANCELLED", "EMPTY" (done, no file),
    #: or a status the notes do not list (it stays there).
    ends: str | None = None
    file_path: str | None = None
    body: bytes | None = None
    facility_headers: list[str | None] = field(default_factory=list)
    #: Made by a create request (not in the UI).
    via_api: bool = False


def _envelope(**fields: t.Any) -> dict:
    return {"successful": True, "message": None, "errors": [], "warnings": [], **fields}


def _failure(description: str, code: str = "INVALID_REQUEST", field_name: str | None = None):
    error = {
        "code": 200204,
        "fieldName": field_name,
        "description": description,
        "message": code,
        "errorParams": {},
    }
    return json_response(
        {"successful": False, "message": None, "errors": [error], "warnings": []}, 200
    )


def parse_instant(value: t.Any) -> datetime:
    """`dateRange` bounds: ISO strings (`...T09:29:09.138Z`) or epoch milliseconds."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, timezone.utc)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class FakeUniware(FakeAPI):
    def __init__(
        self,
        files: FakeFileHost,
        *,
        username: str = "api-user@example.com",
        password: str = "p@ss%word",
        facilities: tuple[str, ...] = ("WH_DEL", "WH_BLR"),
        host: str = "127.0.0.1",
        port: int = 0,
        finish_after_polls: int = 2,
        token_ttl_seconds: int = 41621,
        done_status: str | None = None,
        file_paths: str | None = None,
        code_key: str | None = None,
        bom: bool | None = None,
    ) -> None:
        super().__init__(host, port)
        self.files = files
        self.username = username
        self.password = password
        self.facilities = set(facilities)
        self.finish_after_polls = finish_after_polls
        self.token_ttl_seconds = token_ttl_seconds
        #: "COMPLETE" (what clients see) or "SUCCESSFUL" (the status page's word).
        self.done_status = done_status
        #: "absolute" (a CDN link) or "relative" (a tenant path, served with the token).
        self.file_paths = file_paths
        #: Where the create answer puts the code: "jobCode", "exportJobCode" or "code".
        self.code_key = code_key
        self.bom = bom
        #: Serve tenant-hosted files as the login page even with a token (the trap).
        self.login_page_for_files = False
        self.tokens: dict[str, float] = {}
        self.refresh_tokens: set[str] = set()
        self.grants: list[str] = []
        self.jobs: dict[str, ExportJob] = {}
        self.rows: dict[str, list[dict]] = {}
        #: How the next jobs created end, in turn (see ExportJob.ends); then done.
        self.endings: list[str] = []
        self.max_created_unfinished = 0
        for method in ("GET", "POST"):
            self.route(method, r"/oauth/token", self._token)
        self.route("POST", rf"{API}/export/job/create", self._create)
        self.route("POST", rf"{API}/export/job/status", self._status)
        self.route("GET", r"/export/files/(?P<name>[^/]+)", self._tenant_file)
        files.clock = self.now

    # -- clock, data, shapes ----------------------------------------------------------

    def add_rows(
        self, facility: str, n: int, start: datetime, end: datetime, seed: int = 5
    ) -> list[dict]:
        """Sale order items of `facility` added between `start` and `end` (UTC)."""
        rng = random.Random(f"{seed}:{facility}:{start.isoformat()}")
        notes = ["", "NA", "null", 'gift, "wrapped"', "line one\nline two", "नमस्ते"]
        span = (end - start).total_seconds()
        rows = []
        for i in range(n):
            added = start + timedelta(seconds=int(rng.random() * span))
            rows.append(
                {
                    "saleOrderCode": f"SO-{facility}-{rng.getrandbits(40):010x}-{i}",
                    "displayOrderCode": f"#{rng.randint(1000, 99999)}",
                    "channel": rng.choice(["AMAZON_IN", "FLIPKART", "CUSTOM"]),
                    "status": rng.choice(["COMPLETE", "PROCESSING", "CANCELLED"]),
                    "addedOn": added,
                    "notes": rng.choice(notes),
                }
            )
        self.rows.setdefault(facility, []).extend(rows)
        return rows

    def add_job(self, facility: str, start: datetime, end: datetime, **fields: t.Any) -> str:
        """A job someone made in the Uniware UI (its code is all the tap can know)."""
        with self.lock:
            job = self._new_job(facility, "Sale Orders", list(CAPTIONS), start, end)
            del self.jobs[job.code]
            job.__dict__.update(fields)
            self.jobs[job.code] = job
        return job.code

    def created_jobs(self, facility: str | None = None) -> list[ExportJob]:
        return sorted(
            (j for j in self.jobs.values() if j.via_api and facility in (None, j.facility)),
            key=lambda j: j.created_at,
        )

    def expected_rows(self, job: ExportJob) -> list[dict]:
        """The job's rows as the file has them: captions -> strings."""
        return [{CAPTIONS[c]: _cell(row[c]) for c in job.columns} for row in self.window_rows(job)]

    def window_rows(self, job: ExportJob) -> list[dict]:
        return [
            row
            for row in self.rows.get(job.facility, [])
            if (job.start is None or job.start <= row["addedOn"])
            and (job.end is None or row["addedOn"] < job.end)
        ]

    def _new_job(self, facility, report, columns, start, end) -> ExportJob:
        job = ExportJob(
            code=f"EXP{secrets.token_hex(5).upper()}",
            facility=facility,
            report=report,
            columns=columns,
            start=start,
            end=end,
            created_at=self.now(),
            ends=self.endings.pop(0) if self.endings else None,
        )
        self.jobs[job.code] = job
        return job

    def _publish(self, job: ExportJob) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow([CAPTIONS[c] for c in job.columns])
        for row in self.window_rows(job):
            writer.writerow([_cell(row[c]) for c in job.columns])
        bom = self.shape(self.bom, f"bom:{job.code}", (True, False))
        job.body = (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode()
        name = f"{job.code}.csv"
        if self.shape(self.file_paths, "paths", ("absolute", "relative")) == "relative":
            job.file_path = f"/export/files/{name}"
        else:
            self.files.publish(f"uniware/{name}", job.body)
            job.file_path = self.files.presign(f"uniware/{name}", ttl_seconds=3600)

    def _advance_job(self, job: ExportJob) -> None:
        if job.status not in ("QUEUED", "RUNNING"):
            return
        job.observations += 1
        if job.observations < self.finish_after_polls:
            job.status = "RUNNING"
            return
        done = self.shape(self.done_status, "done", ("COMPLETE", "SUCCESSFUL"))
        if job.ends == "EMPTY":
            job.status = done
        elif job.ends:
            job.status = job.ends
        else:
            job.status = done
            self._publish(job)

    # -- endpoints ----------------------------------------------------------------------

    def error_response(self, status: int) -> Response:
        return json_response(
            {"successful": False, "message": f"Injected failure {status}", "errors": []}, status
        )

    def _token(self, request: Request) -> Response:
        query = request.query
        if query.get("client_id") != "my-trusted-client":
            return json_response({"error": "invalid_client", "error_description": "client"}, 401)
        grant = query.get("grant_type")
        with self.lock:
            if grant == "password":
                if (query.get("username"), query.get("password")) != (
                    self.username,
                    self.password,
                ):
                    body = {"error": "invalid_grant", "error_description": "Bad credentials"}
                    return json_response(body, 400)
            elif grant == "refresh_token":
                if query.get("refresh_token") not in self.refresh_tokens:
                    body = {"error": "invalid_grant", "error_description": "Invalid refresh token"}
                    return json_response(body, 401)
            else:
                return json_response({"error": "unsupported_grant_type"}, 400)
            self.grants.append(grant)
            token, refresh = secrets.token_hex(16), secrets.token_hex(16)
            self.tokens[token] = self.now() + self.token_ttl_seconds
            self.refresh_tokens.add(refresh)
        return json_response(
            {
                "access_token": token,
                "token_type": "bearer",
                "refresh_token": refresh,
                "expires_in": self.token_ttl_seconds,
                "scope": "read trust write",
            }
        )

    def expire_tokens(self) -> None:
        """Every access token stops working now (refresh tokens still do)."""
        with self.lock:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self.lock:
            return scheme.lower() == "bearer" and self.tokens.get(token.strip(), 0) > self.now()

    def _create(self, request: Request) -> Response:
        if not self._authorized(request):
            return json_response({"error": "invalid_token", "error_description": "expired"}, 401)
        facility = request.headers.get("facility")
        if facility not in self.facilities:
            return json_response(
                {"successful": False, "message": "Illegal Access, facility is required"}, 403
            )
        body = request.json() or {}
        if body.get("exportJobTypeName") not in REPORTS:
            return _failure("Invalid export job type", field_name="exportJobTypeName")
        columns = body.get("exportColums")
        if not isinstance(columns, list) or not columns:
            return _failure(
                "exportColums can not be empty", "MISSING_REQUIRED_PARAMETERS", "exportColums"
            )
        if unknown := [c for c in columns if c not in CAPTIONS]:
            return _failure(f"invalid column {unknown[0]}", field_name="exportColums")
        if not body.get("frequency"):
            return _failure(
                "frequency can not be empty", "MISSING_REQUIRED_PARAMETERS", "frequency"
            )
        start = end = None
        for flt in body.get("exportFilters") or []:
            # An unknown filter id is silently ignored: the whole table comes back.
            if flt.get("id") == "addedOn" and flt.get("dateRange"):
                start = parse_instant(flt["dateRange"]["start"])
                end = parse_instant(flt["dateRange"]["end"])
        with self.lock:
            job = self._new_job(facility, body["exportJobTypeName"], columns, start, end)
            job.via_api = True
            unfinished = [j for j in self.jobs.values() if j.status in ("QUEUED", "RUNNING")]
            self.max_created_unfinished = max(self.max_created_unfinished, len(unfinished))
        key = self.shape(self.code_key, "code", ("jobCode", "exportJobCode", "code"))
        return json_response(_envelope(**{key: job.code}))

    def _status(self, request: Request) -> Response:
        if not self._authorized(request):
            return json_response({"error": "invalid_token", "error_description": "expired"}, 401)
        code = (request.json() or {}).get("jobCode")
        with self.lock:
            job = self.jobs.get(code)
            if job is None:
                return _failure(f"Invalid job code {code}", field_name="jobCode")
            job.facility_headers.append(request.headers.get("facility"))
            self._advance_job(job)
            return json_response(_envelope(status=job.status, filePath=job.file_path))

    def _tenant_file(self, request: Request, name: str) -> Response:
        job = self.jobs.get(name.removesuffix(".csv"))
        if not self._authorized(request) or self.login_page_for_files:
            return Response(200, LOGIN_PAGE, {"Content-Type": "text/html;charset=UTF-8"})
        if job is None or job.body is None:
            return json_response({"successful": False, "message": "Not found"}, 404)
        return Response(200, job.body, {"Content-Type": "text/csv"})


def _cell(value: t.Any) -> str:
    # Dates in the file are IST wall-clock text, dd-mm-yyyy (api-notes §6).
    if isinstance(value, datetime):
        ist = value.astimezone(timezone(timedelta(hours=5, minutes=30)))
        return ist.strftime("%d-%m-%Y %H:%M:%S")
    return str(value)
