"""The settings a deploy uploads static files with:
`manage.py collectstatic --noinput --settings bigfoot.settings_bucket`.

The app's own settings, with one change: where collectstatic puts the files (the bucket, through
django-storages and boto3). The servers keep bigfoot.settings: they only read the manifest
collectstatic wrote at build time to name the files in their pages. The bucket's address and keys
come from the environment, as a platform would give them (the lab's bucket: lab/bucket.py).
"""
import os

from storages.backends.s3 import S3StaticStorage

from .settings import *  # noqa: F401,F403
from .settings import STORAGES


class BucketStorage(S3StaticStorage):
    def get_modified_time(self, name):
        # collectstatic skips a file whose copy in the bucket is newer than the source file.
        # A release's files keep the times they had in the repository, older than any upload,
        # so a changed file would never be uploaded: give no time, and every file is uploaded.
        raise NotImplementedError

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
