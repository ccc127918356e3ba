from django.contrib import admin

from .models import Remark, Sighting


class RemarkInline(admin.TabularInline):
    model = Remark
    extra = 0


@admin.register(Sighting)
class SightingAdmin(admin.ModelAdmin):
    list_display = ["title", "location", "sighted_at", "reporter", "score"]
    search_fields = ["title", "location", "reporter"]
    inlines = [RemarkInline]
    # Skip the extra "N total" COUNT(*) on big tables.
    show_full_result_count = False


@admin.register(Remark)
class RemarkAdmin(admin.ModelAdmin):
    list_display = ["author", "sighting", "created_at"]
    search_fields = ["author", "body"]
    list_select_related = ["sighting"]
    # A plain ID box instead of a <select> with a million sightings in it.
    raw_id_fields = ["sighting"]
    show_full_result_count = False
