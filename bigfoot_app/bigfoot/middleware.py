"""
Tiny bit of instrumentation so you can tell, from the outside, which server
answered a request and why it failed:

    X-App-Release: <APP_RELEASE>   on every response
    X-App-Slot:    <APP_SLOT>      on every response
    X-App-Error:   <ExceptionClass>: <first line of the message>
                   on a 500 caused by an unhandled exception

Keep this middleware FIRST in settings.MIDDLEWARE so it also wraps the static
files served by WhiteNoise and every error page Django produces.
"""
import sys

from django.conf import settings
from django.core.signals import got_request_exception

MAX_ERROR_LENGTH = 200


def describe_exception(exc):
    """'IntegrityError: null value in column "flagged" ...' on a single line."""
    message = str(exc).strip().splitlines()[0].strip() if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    # Header values must be single-line and latin-1; keep them plain ASCII.
    text = text.encode("ascii", "replace").decode("ascii")
    return text[:MAX_ERROR_LENGTH]


def _remember_exception(sender, request=None, **kwargs):
    # Django sends this signal for every unhandled exception, including ones
    # raised in other middleware, where process_exception() is not called.
    exc = sys.exc_info()[1]
    if request is not None and exc is not None and not hasattr(request, "_app_exception"):
        request._app_exception = exc


got_request_exception.connect(_remember_exception, dispatch_uid="bigfoot-app-error")


class ReleaseHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.release = settings.APP_RELEASE
        self.slot = settings.APP_SLOT

    def __call__(self, request):
        response = self.get_response(request)
        response["X-App-Release"] = self.release
        response["X-App-Slot"] = self.slot
        exc = getattr(request, "_app_exception", None)
        if exc is not None and response.status_code >= 500:
            response["X-App-Error"] = describe_exception(exc)
        return response

    def process_exception(self, request, exception):
        # Called when a view raises. Remember it; Django then renders the 500.
        request._app_exception = exception
        return None
