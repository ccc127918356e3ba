from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from .forms import CommentForm, SightingForm
from .models import Sighting

PAGE_SIZE = 20


def _positive_int(value):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _first_id(queryset):
    """Id of the first row of an ordered queryset, or None (ORDER BY id LIMIT 1).

    Used instead of .exists(): exists() drops the ORDER BY, and then
    PostgreSQL may pick a sequential scan that reads half the table before
    it finds a matching row.
    """
    return queryset.values_list("id", flat=True).first()


def sighting_list(request):
    """
    Newest sightings first, 20 per page.

    Keyset ("cursor") pagination instead of page numbers: ?before=<id> shows
    the next older page, ?after=<id> the next newer one. Every page is a
    short index scan on the primary key -- no COUNT(*) and no OFFSET, so the
    last page is as fast as the first one on a table with a million rows.
    """
    before = _positive_int(request.GET.get("before"))
    after = _positive_int(request.GET.get("after"))

    if after is not None:
        # Walking towards newer rows: the 20 just above `after`, oldest first,
        # plus one extra to know whether there is an even newer page...
        rows = list(Sighting.objects.filter(id__gt=after).order_by("id")[: PAGE_SIZE + 1])
        more_newer = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        rows.reverse()  # ...then shown newest first like every page.
        more_older = bool(rows) and _first_id(
            Sighting.objects.filter(id__lt=rows[-1].id).order_by("-id")
        ) is not None
    else:
        queryset = Sighting.objects.order_by("-id")
        if before is not None:
            queryset = queryset.filter(id__lt=before)
        rows = list(queryset[: PAGE_SIZE + 1])  # one extra: is there an older page?
        more_older = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        more_newer = bool(rows) and before is not None and _first_id(
            Sighting.objects.filter(id__gt=rows[0].id).order_by("id")
        ) is not None

    return render(
        request,
        "sightings/sighting_list.html",
        {
            "sightings": rows,
            "newer_id": rows[0].id if more_newer else None,
            "older_id": rows[-1].id if more_older else None,
        },
    )


def sighting_detail(request, pk):
    sighting = get_object_or_404(Sighting, pk=pk)
    return render(
        request,
        "sightings/sighting_detail.html",
        {
            "sighting": sighting,
            "comments": sighting.comments.all(),
            "form": CommentForm(),
        },
    )


@require_POST
def comment_create(request, pk):
    sighting = get_object_or_404(Sighting, pk=pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        comment = form.save(commit=False)
        comment.sighting = sighting
        # behind nginx: the first address in X-Forwarded-For is the client's
        forwarded = request.headers.get("X-Forwarded-For", "")
        comment.client_ip = (forwarded.split(",")[0].strip() or request.META.get("REMOTE_ADDR", ""))[:45]
        comment.save()
        return redirect(sighting)
    return render(
        request,
        "sightings/sighting_detail.html",
        {"sighting": sighting, "comments": sighting.comments.all(), "form": form},
    )


def sighting_create(request):
    if request.method == "POST":
        form = SightingForm(request.POST)
        if form.is_valid():
            sighting = form.save()
            return redirect(sighting)
    else:
        form = SightingForm()
    return render(request, "sightings/sighting_form.html", {"form": form})


@never_cache
@require_safe
def healthz(request):
    """Liveness + database check for load balancers and deploy scripts."""
    body = {
        "status": "ok",
        "release": settings.APP_RELEASE,
        "slot": settings.APP_SLOT,
        "database": "ok",
    }
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any DB problem means "not healthy"
        lines = str(exc).strip().splitlines()
        body["status"] = "error"
        body["database"] = f"{type(exc).__name__}: {lines[0] if lines else ''}".strip()
        return JsonResponse(body, status=503)
    return JsonResponse(body)
