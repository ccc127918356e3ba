"""The settings a deploy uploads static files with:
`manage.py collectstatic --noinput --settings bigfoot.settings_bucket`.

The app's own settings, with one change: where collectstatic puts the files (the bucket, through
django-storages and boto3). The servers keep bigfoot.settings: they only read the manifest
collectstatic wrote at build time to name the files in their pages. The bucket's address and keys
come from the environment, as a platform would give them (the lab's bucket: lab/bucket.py).
"""
import hashlib
import os
from datetime import datetime, timezone

from django.contrib.staticfiles import finders
from storages.backends.s3 import S3StaticStorage
from storages.utils import clean_name

from .settings import *  # noqa: F401,F403
from .settings import STORAGES


class BucketStorage(S3StaticStorage):
    # An upload asks the bucket "is this file there, is it older?" for every file, several times:
    # one listing (key -> MD5 of its content) answers all of that, and a file whose content the
    # bucket already has is not sent again (like Collectfast does).
    def _bucket_md5(self) -> dict:
        if not hasattr(self, "_md5"):
            pages = self.connection.meta.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket_name)
            self._md5 = {o["Key"]: o["ETag"].strip('"') for page in pages for o in page.get("Contents", [])}
        return self._md5

    def _key(self, name):
        return self._normalize_name(clean_name(name))

    def exists(self, name):
        return self._key(name) in self._bucket_md5()

    def get_modified_time(self, name):
        # collectstatic skips a file whose copy in the bucket is not older than the source. A
        # release's files keep the times they had in the repository, so times say nothing here:
        # "unmodified" when the bucket has the same bytes, else no time, and the file is uploaded.
        source = finders.find(name)
        if source and self._bucket_md5().get(self._key(name)) == hashlib.md5(open(source, "rb").read()).hexdigest():
            return datetime.fromtimestamp(os.path.getmtime(source), tz=timezone.utc)
        raise NotImplementedError

    def _save(self, name, content):
        content.seek(0)
        data = content.read()
        content.seek(0)
        digest = hashlib.md5(data.encode() if isinstance(data, str) else data).hexdigest()
        if self._bucket_md5().get(self._key(name)) == digest:
            return clean_name(name)       # the same bytes under the same name: nothing to send
        name = super()._save(name, content)
        self._bucket_md5()[self._key(name)] = digest
        return name

    def delete(self, name):
        # An upload only adds. S3 replaces an object in one step, so nothing needs deleting
        # first; but Django's post-processing deletes a hashed .css/.js before saving it again
        # under the same name, and on a live bucket that is a moment where pages get 404.
        pass


STORAGES = {
    **STORAGES,
    "staticfiles": {
        "BACKEND": "bigfoot.settings_bucket.BucketStorage",
        "OPTIONS": {
            "endpoint_url": os.environ["STATIC_BUCKET_ENDPOINT"],
            "bucket_name": os.environ["STATIC_BUCKET_NAME"],
            "access_key": os.environ["AWS_ACCESS_KEY_ID"],
            "secret_key": os.environ["AWS_SECRET_ACCESS_KEY"],
            "region_name": os.environ["AWS_DEFAULT_REGION"],
            "querystring_auth": False,   # public files: plain URLs, no signatures that expire
        },
    },
}
