"""An S3-compatible bucket for static files: moto's standalone server, a real HTTP process on
127.0.0.1 speaking the S3 API (boto3 and django-storages talk to it as they would to AWS).

Used by chapter 12 and exercise 12 (static_mode = "bucket"). While a `StaticBucket` is open it
publishes where it is through environment variables, the way a platform hands a release its
settings: the releases the lab runs inherit them (lab/releases.py:build_env and
lab/slots.py:slot_env pass the environment through), and nginx's template reads
`LAB_STATIC_BUCKET_URL` (lab/proxy.py) to proxy /static/ to the bucket.

    with StaticBucket() as bucket:
        bucket.upload_dir(release.static)      # what a deploy's upload step does
        bucket.keys()                          # every object in the bucket
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from . import procs
from .errors import LabError

BUCKET_NAME = "bigfoot-static"
REGION = "us-east-1"
# moto accepts any key pair; these only have to be the same on both sides
ACCESS_KEY, SECRET_KEY = "lab-access-key", "lab-secret-key"
# What a release's settings read (exercise 12's settings_bucket.py) and what nginx reads.
ENV = ("STATIC_BUCKET_ENDPOINT", "STATIC_BUCKET_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
       "AWS_DEFAULT_REGION", "LAB_STATIC_BUCKET_URL")


def nginx_bucket_url() -> str:
    """The bucket's path-style URL nginx proxies /static/ to, or "" when no bucket is open."""
    return os.environ.get("LAB_STATIC_BUCKET_URL", "")


def _free_port() -> int:
    import random
    rng = random.Random()
    for _ in range(200):
        # below 32768, like the check labs' ports (lab/exercises.py:free_port_base), but odd
        # offsets, which the labs' bases (multiples of 10) + 0..4 never use
        port = rng.randrange(20005, 32000, 10)
        if not procs.port_in_use(port):
            return port
    raise LabError("no free port for the bucket server")


class StaticBucket:
    """moto's S3 server as a child process (own process group), one public-read bucket."""

    def __init__(self, log_dir: Path | None = None):
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.name = BUCKET_NAME
        self.url = f"{self.endpoint}/{self.name}"
        self._log_dir = log_dir
        self._proc: subprocess.Popen | None = None
        self._saved_env: dict[str, str | None] = {}

    def client(self):
        import boto3
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION)

    def __enter__(self) -> "StaticBucket":
        try:
            import moto.server  # noqa: F401  (a clear message if it is missing, not a dead child)
        except ImportError as e:
            raise LabError("moto's S3 server is not installed (package moto[server])", "run `make install`") from e
        log = open(self._log_dir / "bucket.log", "ab") if self._log_dir else subprocess.DEVNULL
        self._proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                      stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
        try:
            if not procs.wait_for(lambda: procs.port_in_use(self.port), 30, proc=self._proc):
                raise LabError(f"the bucket server (moto) did not listen on {self.port} within 30 s")
            s3 = self.client()
            s3.create_bucket(Bucket=self.name)
            # Anyone may read (a CDN or nginx in front, no signed URLs); GetObject + ListBucket
            # so a missing file is a 404 (NoSuchKey), as for a public bucket, not a 403.
            s3.put_bucket_policy(Bucket=self.name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{self.name}", f"arn:aws:s3:::{self.name}/*"]}]}))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        values = {"STATIC_BUCKET_ENDPOINT": self.endpoint, "STATIC_BUCKET_NAME": self.name,
                  "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                  "AWS_DEFAULT_REGION": REGION, "LAB_STATIC_BUCKET_URL": self.url}
        for k, v in values.items():
            self._saved_env[k] = os.environ.get(k)
            os.environ[k] = v
        return self

    def __exit__(self, *exc) -> None:
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env = {}
        if self._proc is not None:
            procs.terminate(self._proc.pid, timeout=5)
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self._proc = None

    # ------------------------------------------------------------------ what is in it
    def keys(self) -> dict[str, int]:
        """Every object: key -> size in bytes."""
        s3, out, token = self.client(), {}, None
        while True:
            page = s3.list_objects_v2(Bucket=self.name, **({"ContinuationToken": token} if token else {}))
            out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
            if not page.get("IsTruncated"):
                return out
            token = page["NextContinuationToken"]

    def upload_dir(self, folder: Path) -> int:
        """Upload every file of a collectstatic output as it is (hashed names, nothing deleted):
        what a release's upload did before the lab started. Returns the number of files."""
        import mimetypes
        s3, n = self.client(), 0
        for f in sorted(Path(folder).rglob("*")):
            if f.is_file():
                ctype = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
                s3.upload_file(str(f), self.name, f.relative_to(folder).as_posix(), ExtraArgs={"ContentType": ctype})
                n += 1
        return n

