"""Keyset paging of a patient's documents page: newest first, every document once, the same
number of queries on any page however many documents there are."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import Role
from patients.models import Document, DocumentVersion
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def employee(location, make_staff):
    return make_staff(Role.EMPLOYEE, location)


@pytest.fixture
def client(employee, signed_in):
    return signed_in(employee)


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location)


def page(p) -> str:
    return reverse("patients:documents", kwargs={"public_id": p.public_id})


def add_documents(patient, uploader, n: int) -> list[Document]:
    """Rows only (the page never opens the files): ``n`` documents with two versions each."""
    made = []
    for _ in range(n):
        doc = Document.objects.create(
            organization_id=patient.organization_id,
            patient=patient,
            category="general",
            description=f"Doc {uuid.uuid4().hex[:8]}",
            created_by=uploader,
        )
        for number in (1, 2):
            version = DocumentVersion.objects.create(
                document=doc,
                number=number,
                storage_name=f"documents/test/{uuid.uuid4().hex}",
                size=100,
                sha256="0" * 64,
                kind="pdf",
                content_type="application/pdf",
                uploaded_by=uploader,
            )
        doc.current_version = version
        doc.save(update_fields=["current_version"])
        made.append(doc)
    return made


def listed(response) -> list[uuid.UUID]:
    return [d.public_id for d in response.context["documents"]]


def test_pages_walk_every_document_once_newest_first(client, employee, patient):
    made = add_documents(patient, employee, 57)
    seen: list[uuid.UUID] = []
    params: dict[str, str] = {}
    pages = 0
    while True:
        response = client.get(page(patient), params)
        assert response.status_code == 200
        seen += listed(response)
        pages += 1
        if not response.context["has_next"]:
            break
        assert 'rel="next"' in response.content.decode()
        params = {"after": str(response.context["next_after"])}
    assert pages == 3
    assert seen == [d.public_id for d in reversed(made)]


def test_documents_with_the_same_upload_time_are_neither_skipped_nor_repeated(
    client, employee, patient
):
    made = add_documents(patient, employee, 30)
    same = made[0].created_at
    Document.objects.filter(patient=patient).update(created_at=same)
    first = client.get(page(patient))
    rest = client.get(page(patient), {"after": str(first.context["next_after"])})
    assert sorted(listed(first) + listed(rest)) == sorted(d.public_id for d in made)
    assert len(set(listed(first)) & set(listed(rest))) == 0


def test_a_bad_or_foreign_cursor_starts_from_the_newest(client, employee, patient):
    made = add_documents(patient, employee, 3)
    other = add_documents(PatientFactory(home_location=patient.home_location), employee, 1)
    newest_first = [d.public_id for d in reversed(made)]
    for cursor in ("nonsense", str(uuid.uuid4()), str(other[0].public_id)):
        assert listed(client.get(page(patient), {"after": cursor})) == newest_first


def test_every_page_runs_the_same_number_of_queries_however_many_documents(
    client, employee, patient
):
    def count(params: dict[str, str]) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(page(patient), params).status_code == 200
        return len(ctx.captured_queries)

    add_documents(patient, employee, 30)
    cursor = {"after": str(client.get(page(patient)).context["next_after"])}
    first, second = count({}), count(cursor)
    add_documents(patient, employee, 60)
    assert count({}) == first
    assert count(cursor) == second
