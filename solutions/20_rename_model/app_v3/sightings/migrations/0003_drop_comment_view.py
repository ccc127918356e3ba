# Release v3, deployed once no server runs v1: nothing reads sightings_comment, or checks the
# comment permissions, any more (the contract step of expand/contract).

from django.db import migrations

ACTIONS = ("add", "change", "delete", "view")


def drop_comment_permissions(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="sightings", content_type__model="note",
                              codename__in=[f"{a}_comment" for a in ACTIONS]).delete()


def restore_comment_permissions(apps, schema_editor):
    """The way back to v2's state, where v1 runs beside v2: the old names again, held by whoever
    holds the new ones."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    note = ContentType.objects.filter(app_label="sightings", model="note").first()
    if note is None:
        return
    for action in ACTIONS:
        old, _ = Permission.objects.get_or_create(content_type=note, codename=f"{action}_comment",
                                                  defaults={"name": f"Can {action} comment"})
        new = Permission.objects.filter(content_type=note, codename=f"{action}_note").first()
        if new is not None:
            old.group_set.add(*new.group_set.all())
            old.user_set.add(*new.user_set.all())


class Migration(migrations.Migration):

    dependencies = [
        ('sightings', '0002_rename_comment_note'),
    ]

    operations = [
        migrations.RunSQL(
            "DROP VIEW sightings_comment",
            # the way back to v2's state: v2 runs beside v1, which needs the old name again
            reverse_sql="CREATE VIEW sightings_comment AS SELECT * FROM sightings_note",
        ),
        migrations.RunPython(drop_comment_permissions, restore_comment_permissions),
    ]
