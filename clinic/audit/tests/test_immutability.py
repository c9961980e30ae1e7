"""The audit log is append-only, and it is the database that says so."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from clinic.audit.services import audit_record
from clinic.models import AuditEvent


@pytest.fixture
def row(db) -> AuditEvent:
    return audit_record(actor=None, action="test.recorded", object_type="clinic.thing")


def test_raw_sql_update_of_an_audit_row_is_refused_by_the_database(row):
    with (
        pytest.raises(DatabaseError, match="Cannot update or delete"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE clinic_auditevent SET action = %s WHERE id = %s", ["x", row.pk])
    row.refresh_from_db()
    assert row.action == "test.recorded"


def test_raw_sql_delete_of_an_audit_row_is_refused_by_the_database(row):
    with (
        pytest.raises(DatabaseError, match="Cannot update or delete"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM clinic_auditevent WHERE id = %s", [row.pk])
    assert AuditEvent.objects.filter(pk=row.pk).exists()


def test_orm_bulk_update_and_delete_are_refused_too(row):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=row.pk).update(action="tampered")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=row.pk).delete()
    row.refresh_from_db()
    assert row.action == "test.recorded"


def test_new_rows_can_still_be_appended(row):
    audit_record(actor=None, action="test.recorded_again")
    assert AuditEvent.objects.filter(action__startswith="test.").count() == 2
