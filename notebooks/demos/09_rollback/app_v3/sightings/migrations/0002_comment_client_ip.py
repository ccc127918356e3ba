from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        # db_default: PostgreSQL fills "" for the INSERTs of v2 (and v1), which don't name the column.
        migrations.AddField(
            model_name="comment",
            name="client_ip",
            field=models.CharField(blank=True, db_default="", editable=False, max_length=45),
        ),
    ]
