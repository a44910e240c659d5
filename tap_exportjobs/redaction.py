"""Keeping download links' signatures out of every text the tap writes.

A presigned link's query values are its credentials. Any text made from a request for one
may carry them: an exception's message (urllib3 quotes the path and query without a scheme,
"...with url: /bucket/x.csv?...&Signature=..."), a storage host's error body (S3 echoes the
signature it was given), urllib3's own debug log. `scrub` is the one place such text is
cleaned: of every query value of the links in hand, however it is quoted and wherever it
appears, and of any value in a `?key=value` or `&key=value` shape.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit, urlunsplit

REDACTED = "REDACTED"
#: A value shorter than this is only removed where it stands as a query value: it could not
#: be told apart from ordinary words, and no signature or token is that short.
MIN_SECRET_LENGTH = 8
#: A query value in any text: after `?` or `&`, a name, `=`, then up to a space,
#: the next parameter, a fragment, a quote or a bracket.
_QUERY_VALUE = re.compile(r"([?&][^\s=&?#'\"<>]+=)[^\s&#'\"<>]+")
_USER_INFO = re.compile(r"(?<=//)[^\s/@'\"<>]+@")


def redact_url(url: str | None) -> str | None:
    """The link with every query value and any user-info replaced, so signatures never leak."""
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if "@" in parts.netloc:
        netloc = f"{REDACTED}@{netloc}"
    query = (
        "&".join(
            f"{pair.split('=', 1)[0]}={REDACTED}" if pair else pair
            for pair in parts.query.split("&")
        )
        if parts.query
        else ""
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def secrets_of(url: str) -> set[str]:
    """Every query value and the user-info password of `url`, in each form text may quote
    them (as written, decoded, encoded again)."""
    parts = urlsplit(url)
    raw = [pair.partition("=")[2] for pair in parts.query.split("&")]
    decoded = [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    values = {*raw, *decoded, parts.password or ""}
    values |= {quote(value, safe="") for value in decoded} | {quote_plus(v) for v in decoded}
    return {value for value in values if len(value) >= MIN_SECRET_LENGTH}


def scrub(text: str, *urls: str | None) -> str:
    """`text` without any query value of `urls`, nor any value shaped like a query's."""
    for secret in sorted({s for url in urls if url for s in secrets_of(url)}, key=len)[::-1]:
        text = text.replace(secret, REDACTED)
    text = _USER_INFO.sub(f"{REDACTED}@", text)
    return _QUERY_VALUE.sub(rf"\1{REDACTED}", text)


class ScrubbingFilter(logging.Filter):
    """Cleans query values out of a library's log records (urllib3 logs each request's path
    and query at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg, record.args = scrub(record.getMessage()), ()
        else:
            record.msg = scrub(str(record.msg))
        return True


def scrub_library_logs(*names: str) -> None:
    """Install the filter on these loggers, once."""
    for name in names:
        target = logging.getLogger(name)
        if not any(isinstance(f, ScrubbingFilter) for f in target.filters):
            target.addFilter(ScrubbingFilter())
