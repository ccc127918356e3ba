"""The Bigfoot deployment lab: releases, two slots, nginx, PostgreSQL, deploys and traffic."""
from .api import Lab
from .errors import LabError

__all__ = ["Lab", "LabError"]
