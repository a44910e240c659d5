"""A throwaway S3-compatible server for tests: moto's server mode on 127.0.0.1.

`running_s3()` starts moto's S3 (a WSGI server on a thread of this process, on a free port)
and stops it on exit, also when the body raised; what it stored goes with it. Other
processes (the tap and the target that Meltano starts) reach it through `S3Server.env()`:
AWS_ENDPOINT_URL and the AWS_* credential variables, which botocore (and so s3fs and
fsspec's `s3://` URLs) reads in any process. `objects()` lists a bucket with what S3
keeps about each object: its key, its headers and user metadata, and its content.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3
from moto.server import ThreadedMotoServer

#: moto accepts any credentials; these are its documented test values, not secrets.
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
REGION = "us-east-1"
#: What a HEAD of an object answers beyond the bookkeeping of the response itself.
_RESPONSE_BOOKKEEPING = {"ResponseMetadata", "LastModified", "ETag", "AcceptRanges"}


@dataclass(frozen=True)
class S3Object:
    key: str
    #: The object's headers as S3 keeps them (ContentType, ContentLength, Metadata, ...).
    metadata: dict
    body: bytes


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def env(self) -> dict[str, str]:
        """Variables that point botocore, in any process, at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            region_name=REGION,
        )

    def create_bucket(self, bucket: str) -> None:
        self.client().create_bucket(Bucket=bucket)

    def objects(self, bucket: str) -> list[S3Object]:
        """Every object in the bucket, by key, with its metadata and content."""
        client = self.client()
        found = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for listed in page.get("Contents", []):
                key = listed["Key"]
                head = client.head_object(Bucket=bucket, Key=key)
                metadata = {k: v for k, v in head.items() if k not in _RESPONSE_BOOKKEEPING}
                body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                found.append(S3Object(key, metadata, body))
        return sorted(found, key=lambda o: o.key)


@contextmanager
def running_s3() -> Iterator[S3Server]:
    """An S3 server on 127.0.0.1, on a free port, for the duration of the block."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()
