"""A fake Elastic Path Commerce Cloud Exporter service, following shared/api-notes/elasticpath.md.

Where the sources disagree (status spelling, create response, file-link body, what
`link.href` holds, pagination, the token answer), a knob selects each shape so the tap is
tested on all; paging and the token answer, left unset, differ from test to test.
Timestamps are Go's RFC3339Nano, so jobs show fractions of 0 to 9 digits.
"""

from __future__ import annotations

import csv
import io
import random
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from tests.fakes.files import FakeFileHost
from tests.fakes.server import FakeAPI, Request, Response, json_response, varied

WEEK = 7 * 24 * 3600
NO_RESULTS = "No results matched the supplied filter"
ZERO_TIME = "0001-01-01T00:00:00Z"
STATUS_STYLES = {
    "spec": {"pending": "PENDING", "running": "STARTED", "success": "SUCCESS", "failed": "FAILED"},
    "moltin": {
        "pending": "pending",
        "running": "processing",
        "success": "completed",
        "failed": "failed",
    },
    "jssdk": {
        "pending": "pending",
        "running": "processing",
        "success": "complete",
        "failed": "failed",
    },
}
ORDER_COLUMNS = [
    "id",
    "order_number",
    "status",
    "payment",
    "shipping",
    "customer_name",
    "customer_email",
    "with_tax",
    "without_tax",
    "currency",
    "created_at",
    "updated_at",
    "notes",
]
FILTER_ATTRIBUTES = {
    "status",
    "payment",
    "shipping",
    "name",
    "email",
    "customer_id",
    "account_id",
    "currency",
    "with_tax",
    "without_tax",
    "created_at",
    "updated_at",
    "order_number",
    "external_ref",
    "customer_email",
}


def rfc3339_nanos(epoch: float, digits: int = 9) -> str:
    """RFC 3339 with nanoseconds as Go's RFC3339Nano writes them (the zero time 0001-01-01
    says the Exporter is Go): trailing zeros dropped, so a fraction has 0 to 9 digits.
    `digits` is how many this instant shows; its last digit is never 0."""
    whole = int(epoch)
    fraction = ""
    if digits:
        shown = f"{round((epoch - whole) * 1e9) % 1_000_000_000:09d}"[:digits]
        fraction = "." + shown[:-1] + (shown[-1] if shown[-1] != "0" else "1")
    return (
        datetime.fromtimestamp(whole, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
    )


@dataclass
class FakeJob:
    id: str
    created_at: float
    filter: str | None = None
    state: str = "pending"  # pending | running | success | failed
    error: str = ""
    csv: bytes | None = None
    updated_at: float | None = None
    observations: int = 0
    started_at: float | None = None
    finish_after_polls: int | None = None
    finish_after_seconds: float | None = None
    fail_with: str | None = None
    links_given: int = 0
    job_type: str = "order_export"
    created_via_api: bool = False


class FakeElasticPath(FakeAPI):
    def __init__(
        self,
        files: FakeFileHost,
        *,
        client_id: str = "ep-client",
        client_secret: str = "ep-secret",
        host: str = "127.0.0.1",
        port: int = 0,
        status_style: str = "spec",
        create_style: str = "spec",
        file_style: str = "spec",
        link_href_style: str = "file_url",
        paginate: bool | None = None,
        link_ttl_seconds: float = 300,
        expire_first_link: bool = False,
        token_ttl_seconds: int = 3600,
        finish_after_polls: int = 2,
        finish_after_seconds: float | None = None,
        token_style: str | None = None,
        foreign_file_endpoint: str | None = None,
    ) -> None:
        super().__init__(host, port)
        self.files = files
        self.client_id = client_id
        self.client_secret = client_secret
        self.status_style = status_style
        self.create_style = create_style
        self.file_style = file_style
        self.link_href_style = link_href_style
        #: Whether listings are paged with `meta.page` (notes §3.3: uncertain); None: each
        #: test gets one shape or the other, the same on every run.
        self.paginate = paginate
        self.link_ttl_seconds = link_ttl_seconds
        self.expire_first_link = expire_first_link
        self.token_ttl_seconds = token_ttl_seconds
        self.finish_after_polls = finish_after_polls
        self.finish_after_seconds = finish_after_seconds
        #: The token answer's shape: "docs" (fields at the top, as the docs and the JS SDK
        #: show it) or "spec" (under `data`, as EP's own OpenAPI file shows it); None: each
        #: test gets one or the other, the same on every run.
        self.token_style = token_style
        #: A base URL on another host: `link.href` (style "api_file_endpoint") and `/file`'s
        #: href point at `{base}/v2/jobs/{id}/file` there, as a hostile or confused answer
        #: would.
        self.foreign_file_endpoint = foreign_file_endpoint
        #: Each token issued and when it expires (fake clock, epoch seconds).
        self.tokens: dict[str, float] = {}
        self.tokens_issued: list[str] = []
        #: Requests that arrived carrying a token this fake issued but that had expired.
        self.requests_with_expired_tokens: list[Request] = []
        self.jobs: dict[str, FakeJob] = {}
        self.orders: list[dict] = []
        self.fail_created_jobs_with: str | None = None
        #: The most jobs created through the API that were unfinished at once (counted at
        #: each create).
        self.max_created_unfinished = 0
        self.route("POST", r"/oauth/access_token", self._token)
        self.route("GET", r"/v2/jobs", self._list)
        self.route("POST", r"/v2/jobs", self._create)
        self.route("GET", r"/v2/jobs/(?P<job_id>[^/]+)", self._get)
        self.route("GET", r"/v2/jobs/(?P<job_id>[^/]+)/file", self._file)
        files.clock = self.now

    # -- clock and data -------------------------------------------------------------

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def generate_orders(self, n: int, start: datetime, end: datetime, seed: int = 7) -> list[dict]:
        rng = random.Random(seed)
        names = [
            "Ada Lovelace",
            'Grace "Amazing" Hopper',
            "Alan Turing, Jr.",
            "Zoë Ångström",
            "Edsger\nDijkstra",
            "",
            "NA",
            "李小龍",
        ]
        span = (end - start).total_seconds()
        orders = []
        for i in range(n):
            created = start + timedelta(seconds=rng.random() * span)
            total = rng.randint(100, 500_000)
            orders.append(
                {
                    "id": str(uuid.UUID(int=rng.getrandbits(128))),
                    "order_number": str(10_000 + i),
                    "status": rng.choice(["complete", "incomplete", "processing", "cancelled"]),
                    "payment": rng.choice(["paid", "unpaid", "refunded", "authorized"]),
                    "shipping": rng.choice(["fulfilled", "unfulfilled"]),
                    "customer_name": rng.choice(names),
                    "customer_email": f"customer{rng.randint(1, 400)}@example.com",
                    "with_tax": str(total),
                    "without_tax": str(int(total / 1.2)),
                    "currency": rng.choice(["USD", "EUR", "GBP"]),
                    "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "updated_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "notes": rng.choice(["", "gift, wrap it", "leave at door", "null", "1,2,3"]),
                }
            )
        self.orders.extend(orders)
        return orders

    def add_job(
        self,
        *,
        created_at: datetime | float | None = None,
        state: str = "success",
        filter: str | None = None,
        csv_bytes: bytes | None = None,
        error: str = "",
        finish_after_polls: int | None = None,
    ) -> str:
        """Preload a job created by someone else; a finished one gets its file now."""
        when = (
            created_at.timestamp()
            if isinstance(created_at, datetime)
            else (created_at if created_at is not None else self.now())
        )
        job = FakeJob(
            id=str(uuid.uuid4()),
            created_at=when,
            filter=filter,
            finish_after_polls=finish_after_polls,
        )
        with self.lock:
            self.jobs[job.id] = job
            if state in ("success", "failed"):
                self._finish(job, csv_bytes=csv_bytes, error=error or None, forced=state)
            elif state == "running":
                job.state, job.started_at = "running", self.now()
                job.csv = csv_bytes
        return job.id

    # -- the jobs' lives --------------------------------------------------------------

    def _alive(self) -> list[FakeJob]:
        cutoff = self.now() - WEEK
        return [j for j in self.jobs.values() if j.created_at >= cutoff]

    def _matching_orders(self, text: str | None) -> list[dict]:
        clauses = parse_filter(text or "")
        return [o for o in self.orders if all(_matches(o, *c) for c in clauses)]

    def _finish(
        self,
        job: FakeJob,
        *,
        csv_bytes: bytes | None = None,
        error: str | None = None,
        forced: str | None = None,
    ) -> None:
        job.updated_at = self.now()
        if forced == "failed" or error or job.fail_with:
            job.state, job.error = "failed", error or job.fail_with or "Internal error"
            return
        if csv_bytes is None and job.csv is None:
            rows = self._matching_orders(job.filter)
            if not rows:
                job.state, job.error = "failed", NO_RESULTS
                return
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, ORDER_COLUMNS, lineterminator="\r\n")
            writer.writeheader()
            writer.writerows(rows)
            csv_bytes = buffer.getvalue().encode()
        job.csv = csv_bytes if csv_bytes is not None else job.csv
        job.state = "success"
        self.files.publish(f"exports/{job.id}.csv", job.csv)

    def _progress(self) -> None:
        """Jobs run one at a time, first in first out: only the oldest unfinished one moves."""
        queue = sorted(
            (j for j in self._alive() if j.state in ("pending", "running")),
            key=lambda j: j.created_at,
        )
        if not queue:
            return
        head = queue[0]
        if head.state == "pending":
            head.state, head.started_at, head.updated_at = "running", self.now(), self.now()
        polls = head.finish_after_polls or self.finish_after_polls
        by_polls = self.finish_after_seconds is None and head.observations >= polls
        by_time = (
            self.finish_after_seconds is not None
            and self.now() - (head.started_at or self.now()) >= self.finish_after_seconds
        )
        if by_polls or by_time:
            self._finish(head)
            self._progress()

    def _observe(self, jobs: list[FakeJob]) -> None:
        for job in jobs:
            if job.state in ("pending", "running"):
                job.observations += 1
        self._progress()

    def _job_json(self, job: FakeJob) -> dict:
        digits = list(self.jobs).index(job.id) % 10  # jobs show 0..9 fraction digits in turn
        href = ""
        if job.state == "success":
            if self.link_href_style == "file_url":
                href = self.files.presign(f"exports/{job.id}.csv", self.link_ttl_seconds)
            elif self.link_href_style == "api_file_endpoint":
                href = f"{self.foreign_file_endpoint or self.url}/v2/jobs/{job.id}/file"
        return {
            "id": job.id,
            "type": "job",
            "job_type": job.job_type,
            "status": STATUS_STYLES[self.status_style][job.state],
            "error": job.error,
            "link": {"href": href},
            "links": {"self": f"{self.url}/v2/jobs/{job.id}"},
            "timestamps": {
                "created_at": rfc3339_nanos(job.created_at, digits),
                "updated_at": rfc3339_nanos(job.updated_at, digits)
                if job.updated_at
                else ZERO_TIME,
            },
        }

    # -- endpoints ----------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        form = request.form()
        if form.get("grant_type") != "client_credentials" or (
            form.get("client_id"),
            form.get("client_secret"),
        ) != (self.client_id, self.client_secret):
            return _error(401, "Unauthorized", "Invalid client credentials")
        token = secrets.token_hex(20)
        with self.lock:
            self.tokens[token] = self.now() + self.token_ttl_seconds
            self.tokens_issued.append(token)
        fields = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_ttl_seconds,
            "expires": int(self.now() + self.token_ttl_seconds),
            "identifier": "client_credentials",
        }
        style = self.token_style or ("docs", "spec")[varied("token") % 2]
        return json_response(fields if style == "docs" else {"data": fields})

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip()
        with self.lock:
            expires = self.tokens.get(token)
            if expires is not None and expires <= self.now():
                self.requests_with_expired_tokens.append(request)
            return header.startswith("Bearer ") and (expires or 0) > self.now()

    def _list(self, request: Request) -> Response:
        if not self._authorized(request):
            return _unauthorized()
        with self.lock:
            self._observe(self._alive())
            jobs = sorted(self._alive(), key=lambda j: j.created_at, reverse=True)
            paginate = self.paginate if self.paginate is not None else varied("paging") % 2
            if not paginate:
                return json_response({"data": [self._job_json(j) for j in jobs]})
            limit = min(int(request.query.get("page[limit]", 25)), 100)
            offset = int(request.query.get("page[offset]", 0))
            page = jobs[offset : offset + limit]
            total_pages = max(1, -(-len(jobs) // limit))
            current = offset // limit + 1

            def link(page_offset: int) -> str:
                return f"{self.url}/v2/jobs?page[limit]={limit}&page[offset]={page_offset}"

            return json_response(
                {
                    "data": [self._job_json(j) for j in page],
                    "links": {
                        "current": link(offset),
                        "first": link(0),
                        "last": link((total_pages - 1) * limit),
                        "next": link(offset + limit) if current < total_pages else None,
                        "prev": link(max(0, offset - limit)) if offset else None,
                    },
                    "meta": {
                        "page": {
                            "limit": limit,
                            "offset": offset,
                            "current": current,
                            "total": total_pages,
                        },
                        "results": {"total": len(jobs)},
                    },
                }
            )

    def _live_job(self, request: Request, job_id: str) -> FakeJob | Response:
        """The job, or the error the API answers instead (401, 404)."""
        if not self._authorized(request):
            return _unauthorized()
        job = next((j for j in self._alive() if j.id == job_id), None)
        return job if job is not None else _not_found()

    def _get(self, request: Request, job_id: str) -> Response:
        with self.lock:
            job = self._live_job(request, job_id)
            if isinstance(job, Response):
                return job
            self._observe([job])
            return json_response({"data": self._job_json(job)})

    def _file(self, request: Request, job_id: str) -> Response:
        with self.lock:
            job = self._live_job(request, job_id)
            if isinstance(job, Response):
                return job
            if job.state != "success":
                status = STATUS_STYLES["moltin"][job.state]
                return _error(
                    422,
                    "Unprocessable Entity",
                    f"Job has no file to download. Job status: {status}",
                )
            job.links_given += 1
            expired = self.expire_first_link and job.links_given == 1
            href = self.files.presign(
                f"exports/{job.id}.csv", self.link_ttl_seconds, already_expired=expired
            )
        if self.foreign_file_endpoint:
            href = f"{self.foreign_file_endpoint}/v2/jobs/{job.id}/file"
        body = {"href": href} if self.file_style == "jssdk" else {"data": {"href": href}}
        return json_response(body)

    def _create(self, request: Request) -> Response:
        if not self._authorized(request):
            return _unauthorized()
        try:
            data = (request.json() or {}).get("data") or {}
        except ValueError:
            return _error(400, "Bad Request", "The request body is not valid JSON")
        if data.get("type") != "job":
            return _error(422, "Failed Validation", "data.type must be job")
        if data.get("job_type") != "order_export":
            return _error(422, "Failed Validation", "data.job_type must be order_export")
        text = data.get("filter") or ""
        try:
            parse_filter(text)
        except ValueError as error:
            return _error(400, "Bad Request", str(error))
        with self.lock:
            job = FakeJob(
                id=str(uuid.uuid4()),
                created_at=self.now(),
                filter=text,
                fail_with=self.fail_created_jobs_with,
                created_via_api=True,
            )
            self.jobs[job.id] = job
            body = self._job_json(job)
            self._progress()  # jobs on a clock finish whether or not anyone looks
            unfinished = [j for j in self.created_jobs() if j.state in ("pending", "running")]
            self.max_created_unfinished = max(self.max_created_unfinished, len(unfinished))
        if self.create_style == "moltin":
            return json_response({"data": body}, 201)
        return json_response({"data": [body]}, 202)

    # -- for tests ----------------------------------------------------------------------

    def created_jobs(self) -> list[FakeJob]:
        """Jobs created through POST /v2/jobs, oldest first."""
        return sorted(
            (j for j in self.jobs.values() if j.created_via_api), key=lambda j: j.created_at
        )


def parse_filter(text: str) -> list[tuple[str, str, str]]:
    """`op(attr,value)` clauses joined by `:`; at most 10 clauses and 8 KB, as the API says."""
    if len(text.encode()) > 8 * 1024:
        raise ValueError("Filter exceeds the maximum length of 8KB")
    clauses = [c for c in text.split(":") if c]
    if len(clauses) > 10:
        raise ValueError("A request may contain at most 10 filters")
    parsed = []
    for clause in clauses:
        match = re.fullmatch(r"(eq|ge|gt|le|lt|like)\(([\w.]+),(.*)\)", clause.strip())
        if not match:
            raise ValueError(f"Invalid filter clause: {clause}")
        if match.group(2) not in FILTER_ATTRIBUTES:
            raise ValueError(f"Unsupported filter attribute: {match.group(2)}")
        parsed.append((match.group(1), match.group(2), match.group(3)))
    return parsed


def _matches(order: dict, op: str, attribute: str, value: str) -> bool:
    attribute = {"email": "customer_email", "name": "customer_name"}.get(attribute, attribute)
    actual = str(order.get(attribute, ""))
    if attribute in ("created_at", "updated_at"):
        actual = actual[: len(value)] if len(value) == 10 else actual
    elif attribute in ("with_tax", "without_tax"):
        actual, value = int(actual), int(value)  # type: ignore[assignment]
    if op == "like":
        return re.fullmatch(re.escape(value).replace(r"\*", ".*"), str(actual)) is not None
    return {
        "eq": actual == value,
        "ge": actual >= value,
        "gt": actual > value,
        "le": actual <= value,
        "lt": actual < value,
    }[op]


def _error(status: int, title: str, detail: str) -> Response:
    return json_response(
        {
            "errors": [
                {
                    "status": status,
                    "title": title,
                    "detail": detail,
                    "request_id": str(uuid.uuid4()),
                }
            ]
        },
        status,
    )


def _unauthorized() -> Response:
    return _error(401, "Unauthorized", "Unable to validate access token")


def _not_found() -> Response:
    return _error(404, "Resource Not Found", "The resource you are requesting does not exist")
