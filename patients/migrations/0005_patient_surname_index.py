"""Whole-surname patient search in page order: ``patient_org_surname`` on
(organization, lower(last_name), last_name, first_name, id).

Built CONCURRENTLY (outside a transaction) so adding it to a table of millions of patients
does not block writes while it builds.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models.functions import Lower


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("patients", "0004_referrals_and_authorizations"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="patient",
            index=models.Index(
                models.F("organization"),
                Lower("last_name"),
                models.F("last_name"),
                models.F("first_name"),
                models.F("id"),
                name="patient_org_surname",
            ),
        ),
    ]
