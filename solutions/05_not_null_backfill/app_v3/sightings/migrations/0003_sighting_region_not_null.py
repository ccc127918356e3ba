from django.db import migrations, models

CONSTRAINT = "sightings_sighting_region_not_null"


class Migration(migrations.Migration):
    """Make `region` NOT NULL without holding an ACCESS EXCLUSIVE lock during a full-table scan.

    A plain `ALTER COLUMN region SET NOT NULL` checks every row while it holds ACCESS EXCLUSIVE:
    on a big table, nothing reads or writes it for as long as the scan takes. Instead:

    1. ADD CONSTRAINT ... CHECK (region IS NOT NULL) NOT VALID: checks new writes only; a brief
       ACCESS EXCLUSIVE lock, no scan.
    2. VALIDATE CONSTRAINT: scans the old rows under SHARE UPDATE EXCLUSIVE, which lets reads
       and writes go on. It must commit separately from step 1 (a transaction keeps the locks it
       took until it ends): hence `atomic = False`, so each statement commits on its own.
    3. SET NOT NULL: PostgreSQL (12+) sees the valid CHECK and skips its own scan.
    4. DROP the CHECK, now redundant: the database ends as Django's state describes it.

    If step 2 fails, some rows are still NULL: run `manage.py backfill_region` and migrate again
    (steps 1 and 4 are written so that a second run works).
    """

    atomic = False

    dependencies = [
        ("sightings", "0002_sighting_region"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"ALTER TABLE sightings_sighting DROP CONSTRAINT IF EXISTS {CONSTRAINT}; "
                f"ALTER TABLE sightings_sighting ADD CONSTRAINT {CONSTRAINT} CHECK (region IS NOT NULL) NOT VALID",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RunSQL(
            sql=f"ALTER TABLE sightings_sighting VALIDATE CONSTRAINT {CONSTRAINT}",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="sighting",
            name="region",
            field=models.CharField(editable=False, max_length=100),
        ),
        migrations.RunSQL(
            sql=f"ALTER TABLE sightings_sighting DROP CONSTRAINT IF EXISTS {CONSTRAINT}",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
