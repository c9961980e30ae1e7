"""Two patient indexes for the list and search at millions of rows (bench.patients):

- ``patient_org_loc_name`` (organization, home_location, last_name, first_name, id): the
  list of one location read in page order, one page at a time; without it the planner walks
  the organization's name index and discards every other location's rows.
- ``patient_org_surname_prefix`` (organization, lower(last_name) text_pattern_ops, last_name):
  surname-prefix search (``patients.record.selectors``) finds the distinct surnames starting with
  what was typed by byte-wise ranges, whatever the database's collation, from the index alone.

Built CONCURRENTLY (outside a transaction) so a table of millions of patients keeps taking
writes while they build.
"""

from django.contrib.postgres.indexes import OpClass
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models.functions import Lower


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("patients", "0006_insurance_cards_pending_extractions_exports"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="patient",
            index=models.Index(
                fields=["organization", "home_location", "last_name", "first_name", "id"],
                name="patient_org_loc_name",
            ),
        ),
        AddIndexConcurrently(
            model_name="patient",
            index=models.Index(
                models.F("organization"),
                OpClass(Lower("last_name"), name="text_pattern_ops"),
                models.F("last_name"),
                name="patient_org_surname_prefix",
            ),
        ),
    ]
