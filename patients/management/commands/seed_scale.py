"""``manage.py seed_scale``: a realistic, large patient dataset for benchmarks and load tests.

One new organization with ``--locations`` locations and ``--patients-per-location`` patients
each, plus referring physicians, payers, insurance policies and referrals, loaded with
PostgreSQL COPY in batches of one location. Names come from fixed lists with a seeded RNG
(the same ``--seed`` gives the same people), so benchmark queries can name real rows.

Choices made for speed, all visible in the data:

- Member ids are encrypted (``clinic.crypto.encrypt_text``) and hashed (``lookup_hash``) for
  a fixed pool of ``--member-id-pool`` distinct values that policies share: encrypting five
  million values would take longer than the rest of the load, and every stored value is
  still a real ciphertext the application decrypts.
- Patients, policies and referrals are loaded with ``session_replication_role = replica``
  (superuser only), which skips row triggers: seed data has no change history (pghistory)
  and its foreign keys are right by construction. The role is restored afterwards.
- Ids come from the tables' own sequences, reserved in one step per batch, so the rows live
  beside real ones; run it offline (nothing else inserting patients meanwhile).
- ``--defer-indexes`` (for a database of its own): the secondary indexes and unique
  constraints of the bulk tables are dropped at the start and built again at the end, in the
  same transaction, so the load writes only the tables and each index is built once by a
  sort instead of millions of insertions. The tables stay locked against every other session
  until the end, which is why it is not the default.
"""

from __future__ import annotations

import itertools
import random
import signal
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.text import slugify

from clinic.crypto import encrypt_text, lookup_hash
from clinic.models import Location, Organization
from patients.models import (
    Document,
    DocumentCategory,
    DocumentVersion,
    InsurancePolicy,
    Patient,
    PatientFlag,
    PatientStatus,
    Payer,
    Physician,
    Referral,
    normalize_name,
)

# Common US first and last names, most frequent first (the RNG weights them so), with a few
# that people often misspell (Nguyen, Schneider, Kowalczyk, Thompson, McDonald, O'Brien).
FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty",
    "Anthony", "Margaret", "Mark", "Sandra", "Donald", "Ashley", "Steven", "Kimberly", "Paul",
    "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda",
    "Brian", "Dorothy", "George", "Melissa", "Timothy", "Deborah", "Siobhan", "Bartholomew",
    "Guadalupe", "Xiomara", "Krzysztof", "Nguyet", "Aoife", "Rhiannon", "Jacqueline", "Zoë",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Schneider", "Kowalczyk",
    "McDonald", "O'Brien", "Fitzgerald", "Abernathy", "Papadopoulos", "Wojciechowski",
    "Featherstonehaugh", "Bhattacharya", "Oyelaran", "Van der Berg", "St. Claire", "Müller",
]  # fmt: skip
STREETS = ["Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Park Rd", "Elm St", "Pine Ct"]
CITIES = [
    ("Boston", "MA", "617"), ("Chicago", "IL", "312"), ("Houston", "TX", "713"),
    ("Seattle", "WA", "206"), ("Miami", "FL", "305"), ("Atlanta", "GA", "404"),
    ("Portland", "OR", "503"), ("Phoenix", "AZ", "602"), ("Denver", "CO", "303"),
    ("New York", "NY", "212"),
]  # fmt: skip
PAYERS = [
    ("Medicare Part B", "medicare"), ("Medicaid", "medicaid"), ("Aetna", "commercial"),
    ("Blue Cross Blue Shield", "commercial"), ("Cigna", "commercial"),
    ("UnitedHealthcare", "commercial"), ("Humana", "commercial"), ("Kaiser", "commercial"),
]  # fmt: skip
REFERRAL_REASONS = [
    "Hearing evaluation", "Hearing aid fitting", "Tinnitus assessment", "Balance testing",
    "Follow-up after audiogram", "Sudden hearing loss",
]  # fmt: skip
STATUS_WEIGHTS = [
    (PatientStatus.ACTIVE, 45), (PatientStatus.COMPLETED, 20),
    (PatientStatus.PENDING_SCHEDULE, 10), (PatientStatus.SCHEDULED, 10),
    (PatientStatus.INACTIVE, 8), (PatientStatus.PENDING_CLAIM, 3),
    (PatientStatus.OUTSTANDING_BALANCE, 2), (PatientStatus.TRANSFERRED, 2),
]  # fmt: skip
PHYSICIANS_PER_LOCATION = 8
# Documents per patient (0-3) and how they look: the category decides what was uploaded
# (cards and IDs are photos, the rest mostly PDFs whose text was extracted).
DOCUMENTS_PER_PATIENT_WEIGHTS = [45, 30, 15, 10]
DOCUMENT_CATEGORY_WEIGHTS = [
    (DocumentCategory.GENERAL, 5), (DocumentCategory.MEDICAL_HISTORY, 10),
    (DocumentCategory.PRESCRIPTION, 8), (DocumentCategory.AUTHORIZATION, 6),
    (DocumentCategory.INSURANCE_CARD_FRONT, 14), (DocumentCategory.INSURANCE_CARD_BACK, 12),
    (DocumentCategory.CLAIM, 4), (DocumentCategory.LAB_REPORT, 3),
    (DocumentCategory.DIAGNOSTIC_STUDY_REPORT, 10), (DocumentCategory.TREATMENT_PRESCRIPTION, 4),
    (DocumentCategory.CONSENT_FORM, 8), (DocumentCategory.REFERRAL, 8),
    (DocumentCategory.CORRESPONDENCE, 3), (DocumentCategory.INVOICE, 2),
    (DocumentCategory.PAYMENT_RECEIPT, 1), (DocumentCategory.IDENTITY_DOCUMENT, 2),
    (DocumentCategory.PROOF_OF_DELIVERY, 2),
]  # fmt: skip
PHOTO_CATEGORIES = {
    DocumentCategory.INSURANCE_CARD_FRONT, DocumentCategory.INSURANCE_CARD_BACK,
    DocumentCategory.IDENTITY_DOCUMENT,
}  # fmt: skip
# What an extracted PDF says (no names: seed text is not about anyone in particular).
DOCUMENT_TEXTS = [
    "Audiogram shows moderate sensorineural hearing loss, bilateral, sloping.",
    "Prior authorization approved for binaural hearing aids, twelve months.",
    "Referral for vestibular assessment after recurrent vertigo episodes.",
    "Tympanometry normal; otoacoustic emissions absent at high frequencies.",
    "Consent to treatment and release of information signed at intake.",
    "Claim submitted for hearing aid fitting and follow-up visits.",
]
DOCUMENT_TAGS = ["intake", "signed", "scanned", "fax", "follow-up", "urgent"]
# Storage names that no storage holds: the seed has document metadata, not files.
SEED_STORAGE_PREFIX = "documents/seed-scale"


def _zipf_weights(n: int) -> list[float]:
    return [1 / (rank + 1) ** 0.8 for rank in range(n)]


def phone_e164(rng: random.Random, area: str) -> str:
    """A valid, dialable-looking US number: exchange 201-989, never N11 nor 555."""
    while True:
        exchange = rng.randint(201, 989)
        if exchange % 100 != 11 and exchange != 555:
            return f"+1{area}{exchange}{rng.randint(0, 9999):04d}"


def npi_with_check(body: str) -> str:
    """Nine digits plus the Luhn check digit (see patients.models.npi_is_valid)."""
    total = 24
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def _reserve_ids(table: str, count: int) -> int:
    """The first of ``count`` consecutive ids taken from ``table``'s id sequence."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        sequence = cursor.fetchone()[0]
        cursor.execute("SELECT nextval(%s)", [sequence])
        first = int(cursor.fetchone()[0])
        if count > 1:
            cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


def copy_rows(model: type[models.Model], rows: Iterable[dict[str, Any]]) -> int:
    """COPY ``rows`` (dicts by attname; missing fields take the model's defaults) into
    ``model``'s table; returns how many."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    # Without an id the table's identity column numbers the rows.
    fields = [
        f for f in model._meta.concrete_fields if not (f.primary_key and f.attname not in first)
    ]
    constant: dict[str, Any] = {}
    per_row: dict[str, models.Field[Any, Any]] = {}
    for field in fields:
        if callable(field.default):
            per_row[field.attname] = field
        elif field.has_default():
            constant[field.attname] = field.get_default()
    columns = ", ".join(f'"{f.column}"' for f in fields)
    names = [f.attname for f in fields]
    count = 0
    raw = connection.cursor().cursor  # the psycopg cursor: Django has no COPY API
    with raw.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN') as copy:
        for row in itertools.chain([first], rows):
            values = []
            for name in names:
                if name in row:
                    values.append(row[name])
                elif name in per_row:
                    values.append(per_row[name].get_default())
                else:
                    values.append(constant.get(name))
            copy.write_row(values)
            count += 1
    return count


class Command(BaseCommand):
    help = "Load a large, realistic organization of patients with COPY (for benchmarks)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--locations", type=int, default=500)
        parser.add_argument("--patients-per-location", type=int, default=10000)
        parser.add_argument("--org", default="scale", help="slug of the organization to create")
        parser.add_argument(
            "--seed", type=int, default=1, help="random seed (same seed, same data)"
        )
        parser.add_argument("--member-id-pool", type=int, default=5000)
        parser.add_argument(
            "--defer-indexes",
            action="store_true",
            help="drop the bulk tables' secondary indexes during the load and build them after "
            "(faster; locks those tables until the end: use a database of its own)",
        )
        parser.add_argument(
            "--commit-batches",
            action="store_true",
            help="commit each location's batch; SIGINT/SIGTERM then stops after the current "
            "batch and keeps what is loaded (indexes built, tables analyzed)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        locations = options["locations"]
        per_location = options["patients_per_location"]
        if locations < 1 or per_location < 0 or options["member_id_pool"] < 1:
            raise CommandError("--locations and --member-id-pool must be at least 1.")
        slug = slugify(options["org"])
        if not slug:
            raise CommandError("--org must be a slug, e.g. 'scale'.")
        if Organization.objects.filter(slug=slug).exists():
            raise CommandError(
                f"Organization '{slug}' already exists; seed_scale only creates new ones. "
                "Choose another --org."
            )
        started = timezone.now()
        totals = seed(
            slug=slug,
            locations=locations,
            per_location=per_location,
            seed_value=options["seed"],
            member_id_pool=options["member_id_pool"],
            defer_indexes=options["defer_indexes"],
            progress=self.stdout.write if options["verbosity"] > 1 else None,
            commit_batches=options["commit_batches"],
            stop=_stop_on_signal() if options["commit_batches"] else None,
        )
        took = (timezone.now() - started).total_seconds()
        self.stdout.write(
            f"Organization '{slug}': "
            + ", ".join(f"{n:,} {label}" for label, n in totals.items())
            + f" in {took:.1f} s."
        )


def _stop_on_signal() -> Callable[[], bool]:
    """From now on SIGINT and SIGTERM ask the load to stop after its current batch."""
    asked: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _frame: asked.append(number))
    return lambda: bool(asked)


def seed(*, commit_batches: bool = False, **kwargs: Any) -> dict[str, int]:
    """Create organization ``slug`` and its data; returns row counts by kind. One transaction,
    or with ``commit_batches`` one per location (then ``stop()`` may end the load early)."""
    if commit_batches:
        return _seed(**kwargs)
    kwargs.pop("stop", None)
    with transaction.atomic():
        return _seed(**kwargs)


def _seed(
    *,
    slug: str,
    locations: int,
    per_location: int,
    seed_value: int = 1,
    member_id_pool: int = 5000,
    defer_indexes: bool = False,
    progress: Any = None,
    stop: Callable[[], bool] | None = None,
) -> dict[str, int]:
    rng = random.Random(seed_value)  # noqa: S311 - test data, not secrets
    now = timezone.now()
    org = Organization.objects.create(name=f"Scale {slug}", slug=slug)
    city_of = [CITIES[i % len(CITIES)] for i in range(locations)]
    locs = Location.objects.bulk_create(
        [
            Location(
                organization=org,
                name=f"{city_of[i][0]} clinic {i + 1}",
                address=f"{100 + i} {rng.choice(STREETS)}, {city_of[i][0]}, {city_of[i][1]}",
                phone=phone_e164(rng, city_of[i][2]),
            )
            for i in range(locations)
        ]
    )
    npis = rng.sample(range(100_000_000, 299_999_999), locations * PHYSICIANS_PER_LOCATION)
    physicians = Physician.objects.bulk_create(
        [
            Physician(
                organization=org,
                first_name=rng.choice(FIRST_NAMES),
                last_name=rng.choice(LAST_NAMES),
                practice=f"{city_of[i // PHYSICIANS_PER_LOCATION][0]} ENT Associates",
                npi=npi_with_check(str(npis[i])),
                phone=phone_e164(rng, city_of[i // PHYSICIANS_PER_LOCATION][2]),
            )
            for i in range(locations * PHYSICIANS_PER_LOCATION)
        ]
    )
    payers = Payer.objects.bulk_create(
        [Payer(organization=org, name=name, kind=kind) for name, kind in PAYERS]
    )
    pool = []
    for _ in range(member_id_pool):
        member = f"{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{rng.randint(10**8, 10**9 - 1)}"
        pool.append((encrypt_text(member), lookup_hash(member)))

    # Cumulative weights computed once: rng.choices draws the same values with them, without
    # summing the weights again for every row.
    first_weights = list(itertools.accumulate(_zipf_weights(len(FIRST_NAMES))))
    last_weights = list(itertools.accumulate(_zipf_weights(len(LAST_NAMES))))
    statuses = [s for s, _w in STATUS_WEIGHTS]
    status_weights = list(itertools.accumulate(w for _s, w in STATUS_WEIGHTS))
    flag_values = list(PatientFlag.values)
    dob_start = date(1925, 1, 1).toordinal()
    dob_span = date(2022, 12, 31).toordinal() - dob_start
    totals = {"locations": locations, "loaded locations": 0}
    totals.update({"physicians": len(physicians), "patients": 0})
    totals.update({"insurance policies": 0, "referrals": 0, "documents": 0, "document versions": 0})
    vectors = _search_vectors(DOCUMENT_TEXTS)

    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        previous_role = cursor.fetchone()[0]
    with transaction.atomic():
        rebuild = _drop_secondary_indexes(BULK_MODELS) if defer_indexes else []
    for index, loc in enumerate(locs):
        if stop is not None and stop():
            if progress:
                progress(f"  stopped after {index} locations")
            break
        city, state, area = city_of[index]
        loc_physicians = physicians[
            index * PHYSICIANS_PER_LOCATION : (index + 1) * PHYSICIANS_PER_LOCATION
        ]
        first_id = _reserve_ids(Patient._meta.db_table, per_location) if per_location else 0
        patients: list[dict[str, Any]] = []
        for n in range(per_location):
            first = rng.choices(FIRST_NAMES, cum_weights=first_weights)[0]
            last = rng.choices(LAST_NAMES, cum_weights=last_weights)[0]
            middle = rng.choice(FIRST_NAMES)[0] if rng.random() < 0.3 else ""
            preferred = first[:3] if rng.random() < 0.05 else ""
            flags = rng.sample(flag_values, rng.choice((1, 1, 2))) if rng.random() < 0.1 else []
            physician = rng.choice(loc_physicians) if rng.random() < 0.8 else None
            patients.append(
                {
                    "id": first_id + n,
                    "public_id": uuid.uuid4(),
                    "created_at": now,
                    "updated_at": now,
                    "organization_id": org.pk,
                    "home_location_id": loc.pk,
                    "mrn": f"{index + 1:04d}{n + 1:07d}",
                    "first_name": first,
                    "middle_name": middle,
                    "last_name": last,
                    "preferred_name": preferred,
                    "search_name": normalize_name(first, middle, last, preferred),
                    "date_of_birth": date.fromordinal(dob_start + rng.randrange(dob_span)),
                    "sex": rng.choice("FFMMU"),
                    "phone_mobile": phone_e164(rng, area) if rng.random() < 0.85 else "",
                    "phone_home": phone_e164(rng, area) if rng.random() < 0.3 else "",
                    "email": f"{normalize_name(first)}.{n}@example.com"
                    if rng.random() < 0.4
                    else "",
                    "address_line1": f"{rng.randint(1, 9999)} {rng.choice(STREETS)}",
                    "city": city,
                    "state": state,
                    "postal_code": f"{rng.randint(10000, 99999)}",
                    "flags": flags,
                    "status": rng.choices(statuses, cum_weights=status_weights)[0],
                    "referring_physician_id": physician.pk if physician else None,
                }
            )
        documents, versions = _documents(rng, org.pk, patients, vectors, now)
        # SET LOCAL lasts until the transaction ends (a savepoint's release does not end it),
        # so the role is put back explicitly; an error rolls everything back anyway.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            totals["patients"] += copy_rows(Patient, patients)
            totals["insurance policies"] += copy_rows(
                InsurancePolicy, _policies(rng, org.pk, patients, payers, pool, now)
            )
            totals["referrals"] += copy_rows(Referral, _referrals(rng, org.pk, patients, now))
            totals["documents"] += copy_rows(Document, documents)
            totals["document versions"] += copy_rows(DocumentVersion, versions)
            cursor.execute(
                "SELECT set_config('session_replication_role', %s, true)", [previous_role]
            )
        if progress and (index + 1) % 10 == 0:
            progress(f"  {index + 1}/{locations} locations, {totals['patients']:,} patients")
        totals["loaded locations"] = index + 1
    if rebuild:
        if progress:
            progress(f"  building {len(rebuild)} indexes")
        with transaction.atomic(), connection.cursor() as cursor:
            # Each index is one sort: give it memory (until this transaction ends).
            cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
            for statement in rebuild:
                cursor.execute(statement)
    with connection.cursor() as cursor:
        for model in (Patient, InsurancePolicy, Referral, Physician, Document, DocumentVersion):
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')
    return totals


BULK_MODELS = (Patient, InsurancePolicy, Referral, Document, DocumentVersion)


def _drop_secondary_indexes(bulk_models: Sequence[type[models.Model]]) -> list[str]:
    """Drop every index of the tables of ``bulk_models`` but their primary keys (a unique or
    exclusion constraint with its constraint); returns the statements that build them again,
    read from the catalog so they follow the migrations."""
    tables = [m._meta.db_table for m in bulk_models]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text,
                   pg_get_indexdef(i.indexrelid), c.conname, pg_get_constraintdef(c.oid)
              FROM pg_index i
              LEFT JOIN pg_constraint c
                ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
               AND c.contype IN ('u', 'x')
             WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
             ORDER BY 1, 2
            """,
            [tables],
        )
        found = cursor.fetchall()
        rebuild = []
        for table, index, index_def, constraint, constraint_def in found:
            if constraint:
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"')
                rebuild.append(
                    f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {constraint_def}'
                )
            else:
                cursor.execute(f"DROP INDEX {index}")
                rebuild.append(index_def)
    return rebuild


def _policies(
    rng: random.Random,
    org_id: int,
    patients: Sequence[dict[str, Any]],
    payers: Sequence[Payer],
    pool: Sequence[tuple[str, str]],
    now: Any,
) -> Iterable[dict[str, Any]]:
    """Nine patients in ten have a primary policy, one in five a secondary too."""
    for patient in patients:
        ranks = []
        if rng.random() < 0.9:
            ranks.append("PRIMARY")
            if rng.random() < 0.22:
                ranks.append("SECONDARY")
        for rank in ranks:
            member_id, member_hash = rng.choice(pool)
            start = date(2020, 1, 1) + timedelta(days=rng.randrange(1800))
            yield {
                "public_id": uuid.uuid4(),
                "created_at": now,
                "updated_at": now,
                "organization_id": org_id,
                "patient_id": patient["id"],
                "rank": rank,
                "payer_id": rng.choice(payers).pk,
                "plan_name": "Standard",
                "member_id": member_id,
                "member_id_hash": member_hash,
                "group_number": f"G{rng.randint(1000, 99999)}",
                "subscriber_name": f"{patient['first_name']} {patient['last_name']}",
                "effective_from": start,
                "is_active": True,
            }


def _referrals(
    rng: random.Random,
    org_id: int,
    patients: Sequence[dict[str, Any]],
    now: Any,
) -> Iterable[dict[str, Any]]:
    """Patients with a referring physician have one referral from them, mostly closed."""
    today = now.date()
    for patient in patients:
        if patient["referring_physician_id"] is None:
            continue
        yield {
            "public_id": uuid.uuid4(),
            "created_at": now,
            "updated_at": now,
            "organization_id": org_id,
            "patient_id": patient["id"],
            "physician_id": patient["referring_physician_id"],
            "received_on": today - timedelta(days=rng.randrange(1500)),
            "reason": rng.choice(REFERRAL_REASONS),
            "status": rng.choices(
                ["CLOSED", "SCHEDULED", "CONTACTED", "RECEIVED"], [70, 10, 10, 10]
            )[0],
        }


def _search_vectors(texts: Sequence[str]) -> dict[str, str]:
    """Each text's search vector as PostgreSQL writes it, computed once: the same
    ``to_tsvector('english', ...)`` the text extraction task stores."""
    with connection.cursor() as cursor:
        return {
            text: _fetch_text(cursor, "SELECT to_tsvector('english', %s)::text", text)
            for text in texts
        }


def _fetch_text(cursor: Any, sql: str, param: str) -> str:
    cursor.execute(sql, [param])
    return str(cursor.fetchone()[0])


def _documents(
    rng: random.Random,
    org_id: int,
    patients: Sequence[dict[str, Any]],
    vectors: dict[str, str],
    now: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Document metadata (0-3 documents a patient, one in ten with a second version) with
    storage names no storage holds: the rows, without the files. Photos of cards and IDs are
    JPEGs with nothing extracted; the rest are PDFs with extracted text and its vector."""
    categories = [c for c, _w in DOCUMENT_CATEGORY_WEIGHTS]
    category_weights = list(itertools.accumulate(w for _c, w in DOCUMENT_CATEGORY_WEIGHTS))
    document_weights = list(itertools.accumulate(DOCUMENTS_PER_PATIENT_WEIGHTS))
    counts = range(len(DOCUMENTS_PER_PATIENT_WEIGHTS))
    documents: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    for patient in patients:
        for _ in range(rng.choices(counts, cum_weights=document_weights)[0]):
            category = rng.choices(categories, cum_weights=category_weights)[0]
            created = now - timedelta(days=rng.randrange(1500), seconds=rng.randrange(86400))
            document = {
                "public_id": uuid.uuid4(),
                "created_at": created,
                "updated_at": created,
                "organization_id": org_id,
                "patient_id": patient["id"],
                "category": category,
                "tags": rng.sample(DOCUMENT_TAGS, rng.choice((0, 0, 1, 2))),
                "description": "",
                "entered_in_error": rng.random() < 0.01,
            }
            documents.append(document)
            for number in range(1, 3 if rng.random() < 0.1 else 2):
                at = created + timedelta(days=(number - 1) * rng.randrange(1, 60))
                photo = category in PHOTO_CATEGORIES
                text = "" if photo else rng.choice(DOCUMENT_TEXTS)
                versions.append(
                    {
                        "document": document,
                        "public_id": uuid.uuid4(),
                        "created_at": at,
                        "updated_at": at,
                        "number": number,
                        "storage_name": f"{SEED_STORAGE_PREFIX}/{at:%Y}/{at:%m}/{uuid.uuid4().hex}",
                        "size": rng.randint(40_000, 900_000 if photo else 2_500_000),
                        "sha256": f"{rng.getrandbits(256):064x}",
                        "kind": "jpeg" if photo else "pdf",
                        "content_type": "image/jpeg" if photo else "application/pdf",
                        "text": text,
                        "search_vector": vectors[text] if text else None,
                        "extraction_status": "not_applicable" if photo else "done",
                    }
                )
    if not documents:
        return [], []
    first_document = _reserve_ids(Document._meta.db_table, len(documents))
    for n, document in enumerate(documents):
        document["id"] = first_document + n
    first_version = _reserve_ids(DocumentVersion._meta.db_table, len(versions))
    for n, version in enumerate(versions):
        version["id"] = first_version + n
        document = version.pop("document")
        version["document_id"] = document["id"]
        document["current_version_id"] = version["id"]  # the last one wins: the newest
    return documents, versions
