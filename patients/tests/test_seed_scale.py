"""``manage.py seed_scale`` at a tiny size: counts, tenant scoping, valid phones, member ids
the application can decrypt and find, document metadata the document pages can read and
search, no change history, and a clear refusal to reseed."""

from __future__ import annotations

from io import StringIO

import phonenumbers
import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from clinic.crypto import lookup_hash
from clinic.models import Location, Organization, Role
from clinic.tests.factories import staff_user
from patients.documents.selectors import documents_of_patient, documents_search
from patients.management.commands.seed_scale import (
    BULK_MODELS,
    DOCUMENT_TEXTS,
    SEED_STORAGE_PREFIX,
    seed,
)
from patients.models import (
    Document,
    DocumentVersion,
    ExtractionStatus,
    InsurancePolicy,
    Patient,
    PatientStatus,
    Physician,
    Referral,
    normalize_name,
    npi_is_valid,
)
from patients.record.selectors import patient_search, patients_visible_to

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded() -> Organization:
    out = StringIO()
    call_command(
        "seed_scale",
        "--locations=2",
        "--patients-per-location=20",
        "--org=tiny",
        "--member-id-pool=5",
        stdout=out,
    )
    assert "40 patients" in out.getvalue()
    assert "documents" in out.getvalue()
    return Organization.objects.get(slug="tiny")


def test_seed_scale_creates_the_requested_locations_and_patients(seeded):
    locations = list(Location.objects.filter(organization=seeded))
    assert len(locations) == 2
    for location in locations:
        assert Patient.objects.filter(home_location=location).count() == 20
    assert Patient.objects.filter(organization=seeded).count() == 40


def test_seeded_rows_belong_to_the_organization_and_a_location_of_it(seeded):
    patients = Patient.objects.filter(organization=seeded)
    own_locations = set(Location.objects.filter(organization=seeded).values_list("id", flat=True))
    assert set(patients.values_list("home_location_id", flat=True)) == own_locations
    physicians = Physician.objects.filter(organization=seeded)
    assert physicians.exists()
    assert all(npi_is_valid(p.npi) for p in physicians)
    assert not patients.exclude(referring_physician__isnull=True).exclude(
        referring_physician__organization=seeded
    )
    policies = InsurancePolicy.objects.filter(organization=seeded)
    assert policies.exists()
    assert not policies.exclude(patient__organization=seeded).exists()
    assert not policies.exclude(payer__organization=seeded).exists()
    assert not Referral.objects.filter(organization=seeded).exclude(patient__organization=seeded)
    assert Referral.objects.filter(organization=seeded).exists()


def test_seeded_patients_have_valid_e164_phones_known_statuses_and_searchable_names(seeded):
    patients = list(Patient.objects.filter(organization=seeded))
    phones = [p for patient in patients for p in (patient.phone_mobile, patient.phone_home) if p]
    assert phones
    for phone in phones:
        parsed = phonenumbers.parse(phone, None)
        assert phonenumbers.is_valid_number(parsed), phone
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == phone
    assert {p.status for p in patients} <= set(PatientStatus.values)
    assert len({p.mrn for p in patients}) == 40
    someone = patients[0]
    assert someone.search_name == normalize_name(
        someone.first_name, someone.middle_name, someone.last_name, someone.preferred_name
    )
    found = patient_search(Patient.objects.filter(organization=seeded), someone.last_name)
    assert someone in found


def test_seeded_member_ids_decrypt_and_match_their_lookup_hash(seeded):
    policies = list(InsurancePolicy.objects.filter(organization=seeded))
    assert policies
    for policy in policies:
        assert policy.member_id  # decrypted by the field on load
        assert policy.member_id_hash == lookup_hash(policy.member_id)


def test_seed_data_has_no_change_history(seeded):
    event_model = Patient.pgh_event_model
    assert not event_model.objects.filter(pgh_obj__organization=seeded).exists()


def test_seed_scale_refuses_an_existing_organization_and_adds_nothing(seeded):
    with pytest.raises(CommandError, match="already exists"):
        call_command("seed_scale", "--locations=1", "--patients-per-location=5", "--org=tiny")
    assert Patient.objects.filter(organization=seeded).count() == 40
    assert Location.objects.filter(organization=seeded).count() == 2


def test_name_search_on_seeded_data_finds_every_match_of_my_location_and_no_other(seeded):
    mine, other = Location.objects.filter(organization=seeded).order_by("id")
    employee = staff_user(role=Role.EMPLOYEE, location=mine)
    elsewhere = Patient.objects.filter(home_location=other).order_by("id").first()
    assert elsewhere is not None
    found = set(patient_search(patients_visible_to(employee), elsewhere.last_name.upper()))
    expected = {
        p
        for p in Patient.objects.filter(home_location=mine)
        if normalize_name(elsewhere.last_name) in p.search_name
    }
    assert expected <= found
    assert elsewhere not in found
    assert all(p.home_location_id == mine.pk for p in found)


def test_seeded_documents_belong_to_seeded_patients_and_point_at_their_newest_version(seeded):
    documents = list(Document.objects.filter(organization=seeded).select_related("patient"))
    assert documents
    assert all(d.patient.organization_id == seeded.pk for d in documents)
    versions = list(DocumentVersion.objects.filter(document__organization=seeded))
    assert len(versions) >= len(documents)
    by_document: dict[int, list[DocumentVersion]] = {}
    for version in versions:
        by_document.setdefault(version.document_id, []).append(version)
    assert set(by_document) == {d.pk for d in documents}  # every document has a file
    for document in documents:
        mine = sorted(by_document[document.pk], key=lambda v: v.number)
        assert [v.number for v in mine] == list(range(1, len(mine) + 1))
        assert document.current_version_id == mine[-1].pk
    for version in versions:
        assert version.storage_name.startswith(SEED_STORAGE_PREFIX + "/")  # no file behind it
        assert len(version.sha256) == 64 and version.size > 0
        if version.kind == "pdf":
            assert version.content_type == "application/pdf"
            assert version.extraction_status == ExtractionStatus.DONE
            assert version.text in DOCUMENT_TEXTS
        else:
            assert (version.kind, version.content_type) == ("jpeg", "image/jpeg")
            assert version.extraction_status == ExtractionStatus.NOT_APPLICABLE
            assert version.text == "" and version.search_vector is None


def test_seeded_documents_show_on_the_record_and_their_text_is_searchable(seeded):
    admin = staff_user(
        role=Role.ADMIN, location=Location.objects.filter(organization=seeded).first()
    )
    document = (
        Document.objects.filter(
            organization=seeded, entered_in_error=False, current_version__kind="pdf"
        )
        .select_related("current_version", "patient")
        .first()
    )
    assert document is not None
    listed = documents_of_patient(admin, document.patient)
    assert document in listed
    # A word of its text finds it through the stored search vector, as for an upload.
    word = document.current_version.text.split()[0].strip(",;.")
    found = {v.document_id for v in documents_search(admin, word)}
    assert document.pk in found


def test_rows_added_after_the_seed_take_fresh_ids(seeded):
    """The seed reserves ids from each table's sequence, so the application's next patient,
    document and version are numbered after the seeded ones."""
    from patients.documents.tests.factories import document_rows_for_tenant_walk
    from patients.tests.factories import PatientFactory

    seeded_max = {
        model: model.objects.order_by("-pk").values_list("pk", flat=True).first()
        for model in (Patient, Document, DocumentVersion)
    }
    patient = PatientFactory(home_location=Location.objects.filter(organization=seeded).first())
    document_rows_for_tenant_walk(patient)
    document = Document.objects.get(patient=patient)
    assert patient.pk > seeded_max[Patient]
    assert document.pk > seeded_max[Document]
    assert document.current_version_id > seeded_max[DocumentVersion]


def _indexes(tables: list[str]) -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [tables]
        )
        return set(cursor.fetchall())


def test_deferred_indexes_are_built_again_and_the_data_is_the_same():
    tables = [m._meta.db_table for m in BULK_MODELS]
    before = _indexes(tables)
    assert any(name == "patient_mrn_per_org" for name, _ in before)
    call_command(
        "seed_scale",
        "--locations=2",
        "--patients-per-location=20",
        "--org=deferred",
        "--member-id-pool=5",
        "--defer-indexes",
        stdout=StringIO(),
    )
    assert _indexes(tables) == before
    org = Organization.objects.get(slug="deferred")
    assert Patient.objects.filter(organization=org).count() == 40
    # The unique constraint is back in force.
    with pytest.raises(IntegrityError), transaction.atomic():
        patient = Patient.objects.filter(organization=org).first()
        Patient.objects.filter(organization=org).exclude(pk=patient.pk).filter(
            pk=Patient.objects.filter(organization=org).exclude(pk=patient.pk).values("pk")[:1]
        ).update(mrn=patient.mrn)


def test_a_batched_load_stopped_early_keeps_what_it_loaded_with_its_indexes():
    tables = [m._meta.db_table for m in BULK_MODELS]
    before = _indexes(tables)
    asked = iter([False, True])  # asked before each location: stop before the second
    totals = seed(
        slug="halted",
        locations=3,
        per_location=5,
        member_id_pool=2,
        defer_indexes=True,
        commit_batches=True,
        stop=lambda: next(asked),
    )
    assert totals["loaded locations"] == 1 and totals["patients"] == 5
    org = Organization.objects.get(slug="halted")
    assert Location.objects.filter(organization=org).count() == 3
    assert Patient.objects.filter(organization=org).count() == 5
    assert _indexes(tables) == before
