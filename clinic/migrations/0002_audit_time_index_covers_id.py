"""The activity log's date-window index also carries ``id``, so the newest ids inside a window
come from an index-only scan (see bench/audit_log.py and docs/benchmarks.md).

Built CONCURRENTLY: on a big audit table a plain CREATE INDEX would block every audit write
(and so every audited action) for the whole build.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("clinic", "0001_core"),
    ]

    operations = [
        RemoveIndexConcurrently(
            model_name="auditevent",
            name="audit_org_time",
        ),
        AddIndexConcurrently(
            model_name="auditevent",
            index=models.Index(
                fields=["organization", "occurred_at"], include=("id",), name="audit_org_time"
            ),
        ),
    ]
