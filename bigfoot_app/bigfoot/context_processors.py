from django.conf import settings


def release(request):
    """Expose which release / slot rendered the page (shown in the footer)."""
    return {
        "APP_RELEASE": settings.APP_RELEASE,
        "APP_SLOT": settings.APP_SLOT,
    }
