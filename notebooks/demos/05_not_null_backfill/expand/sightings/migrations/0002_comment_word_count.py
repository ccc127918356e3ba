from django.db import migrations, models


class Migration(migrations.Migration):
    """Expand: a NULL-able column, no default. A catalogue change, no rewrite; v1 never notices."""

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="comment",
            name="word_count",
            field=models.IntegerField(editable=False, null=True),
        ),
    ]
