"""CSV import and export of patients.

Import is two steps: ``patients_import_check`` validates every row with the rules of
``patients.record.services`` (the same phone, name, date and MRN rules as the create form) and lists
every bad row with its line number and a reason; ``patients_import`` writes the rows only when
the whole file is valid, in one transaction, and leaves one ``patients.imported`` audit row
with the count. Reasons name columns, never the values, so they are safe to show and keep.

Export writes the rows of a filtered list as CSV, one chunk of rows at a time, with every cell
that a spreadsheet would run as a formula defused.

Progress of long jobs lives in the cache under a random job id (``job_*``); the page polls it.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet

from clinic.audit.services import audit_record
from clinic.errors import ApplicationError
from clinic.models import Location, Role
from clinic.phones import phone_normalize
from clinic.tenancy import scope_queryset
from patients.models import Patient, Sex, normalize_name
from patients.record.services import mrn_generate, patient_fields_clean

if TYPE_CHECKING:
    from clinic.models import User

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
BATCH_SIZE = 500
EXPORT_CHUNK = 2000

REQUIRED_COLUMNS = (
    "mrn",
    "first_name",
    "last_name",
    "date_of_birth",
    "sex",
    "phone_mobile",
    "email",
    "home_location",
)
OPTIONAL_COLUMNS = (
    "middle_name",
    "phone_home",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
)
# Written by the export, read and ignored by the import (a new patient starts PENDING_SCHEDULE),
# so an exported file imports back as it is.
IGNORED_COLUMNS = ("status",)
_TEXT_LIMITS = {
    name: int(Patient._meta.get_field(name).max_length or 0)  # type: ignore[union-attr]
    for name in (
        "mrn",
        "first_name",
        "middle_name",
        "last_name",
        "email",
        "address_line1",
        "address_line2",
        "city",
        "state",
        "postal_code",
    )
}
_SEX_WORDS = {
    "": Sex.UNKNOWN,
    **{s.value.lower(): s.value for s in Sex},
    **{s.label.lower(): s.value for s in Sex},
}
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class CsvFileRefused(ApplicationError):
    code = "csv_refused"


class CsvImportInvalid(ApplicationError):
    code = "csv_invalid"


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    reason: str


@dataclass
class ImportCheck:
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors and bool(self.rows)


def can_import_patients(user: User) -> bool:
    return user.is_org_admin or user.has_role(Role.EMPLOYEE)


def can_export_patients(user: User) -> bool:
    return user.is_org_admin


def import_locations(user: User) -> QuerySet[Location]:
    """Locations ``user`` may import patients into: all active ones of the organization for
    an ADMIN, otherwise those where they are EMPLOYEE."""
    qs = scope_queryset(Location.objects.filter(is_active=True), user, all_locations=True)
    if user.is_org_admin:
        return qs
    ids = {m.location_id for m in user._memberships if m.role == Role.EMPLOYEE}
    return qs.filter(pk__in=ids)


def csv_decode(data: bytes) -> str:
    """The text of an uploaded file: UTF-8, with or without a byte-order mark."""
    if len(data) > MAX_BYTES:
        raise CsvFileRefused(f"The file is too large: at most {MAX_BYTES // (1024 * 1024)} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFileRefused(
            "The file is not UTF-8 text. In your spreadsheet choose “CSV UTF-8” when saving."
        ) from exc
    if "\x00" in text:
        raise CsvFileRefused("The file is not a CSV text file.")
    return text


def _unescape(value: str) -> str:
    # Our export writes "'+1555…" for cells that look like formulas; take them back as written.
    if len(value) > 1 and value[0] == "'" and value[1] in _FORMULA_START:
        return value[1:]
    return value


def _read(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvFileRefused("The file is empty.") from None
    except csv.Error as exc:
        raise CsvFileRefused("The file is not a readable CSV file.") from exc
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS + IGNORED_COLUMNS]
    if missing or unknown or len(set(columns)) != len(columns):
        parts = []
        if missing:
            parts.append("missing column(s): " + ", ".join(missing))
        if unknown:
            parts.append("unknown column(s): " + ", ".join(unknown[:10]))
        if len(set(columns)) != len(columns):
            parts.append("a column appears twice")
        raise CsvFileRefused(
            "The first line must name the columns "
            + ", ".join(REQUIRED_COLUMNS)
            + " (address columns optional); "
            + "; ".join(parts)
            + "."
        )
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(rows) >= MAX_ROWS:
                raise CsvFileRefused(f"The file has too many rows: at most {MAX_ROWS} per import.")
            padded = values + [""] * (len(columns) - len(values))
            row = {c: _unescape(v.strip()) for c, v in zip(columns, padded, strict=False)}
            row["_extra"] = "1" if len(values) > len(columns) else ""
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise CsvFileRefused(
            f"Line {reader.line_num} is not valid CSV (check the quotes on that line)."
        ) from exc
    if not rows:
        raise CsvFileRefused("The file has a header but no patients.")
    return columns, rows


def patients_import_check(*, actor: User, text: str) -> ImportCheck:
    """Validate every row of ``text``; nothing is written. Raises ``CsvFileRefused`` when the
    file as a whole cannot be read (columns, size, encoding)."""
    _columns, raw_rows = _read(text)
    by_name: dict[str, list[Location]] = {}
    for loc in import_locations(actor):
        by_name.setdefault(loc.name.strip().lower(), []).append(loc)
    organization_id = actor.organization_id
    if organization_id is None:
        raise CsvFileRefused("Only staff of an organization can import patients.")
    file_mrns = {r["mrn"] for _, r in raw_rows if r.get("mrn")}
    taken = set(
        Patient.objects.filter(organization_id=organization_id, mrn__in=file_mrns)
        .values_list("mrn", flat=True)
        .iterator(chunk_size=EXPORT_CHUNK)
    )
    seen: dict[str, int] = {}
    check = ImportCheck()
    for line, raw in raw_rows:
        errors: list[RowError] = []

        def bad(
            column: str, reason: str, line: int = line, errors: list[RowError] = errors
        ) -> None:
            errors.append(RowError(line, column, reason))

        if raw.pop("_extra"):
            bad("", "The line has more cells than there are columns.")
        clean: dict[str, Any] = {}
        for name, limit in _TEXT_LIMITS.items():
            value = raw.get(name, "")
            if len(value) > limit:
                bad(name, f"Longer than {limit} characters.")
            clean[name] = value
        for name in ("first_name", "last_name"):
            if not clean[name]:
                bad(name, "Required.")
        mrn = clean["mrn"]
        if mrn:
            if mrn in seen:
                bad("mrn", f"The same MRN is on line {seen[mrn]} of this file.")
            elif mrn in taken:
                bad("mrn", "Another patient of your organization already has this MRN.")
            seen.setdefault(mrn, line)
        dob_text = raw.get("date_of_birth", "")
        dob: date | None = None
        if not dob_text:
            bad("date_of_birth", "Required.")
        else:
            try:
                dob = datetime.strptime(dob_text, "%Y-%m-%d").date()
            except ValueError:
                bad("date_of_birth", "Write the date as YYYY-MM-DD, e.g. 1961-04-12.")
            else:
                if dob > date.today():
                    bad("date_of_birth", "The date of birth cannot be in the future.")
                elif dob.year < 1900:
                    bad("date_of_birth", "The date of birth is before 1900.")
        clean["date_of_birth"] = dob
        sex = _SEX_WORDS.get(raw.get("sex", "").lower())
        if sex is None:
            bad("sex", "Use F, M, X or U (or leave it empty).")
        clean["sex"] = sex or Sex.UNKNOWN
        for name in ("phone_mobile", "phone_home"):
            try:
                clean[name] = phone_normalize(raw.get(name, ""), field=name)
            except ApplicationError as exc:
                bad(name, exc.message)
        if clean["email"]:
            try:
                validate_email(clean["email"])
            except ValidationError:
                bad("email", "Not a valid email address.")
        location_name = raw.get("home_location", "")
        matches = by_name.get(location_name.lower(), [])
        if not location_name:
            bad("home_location", "Required.")
        elif not matches:
            bad("home_location", "Not one of the locations you may import patients into.")
        elif len(matches) > 1:
            bad("home_location", "Two of your locations have this name; rename one first.")
        else:
            clean["home_location"] = matches[0]
        if errors:
            check.errors.extend(errors)
        else:
            check.rows.append(clean)
    return check


Progress = Callable[[int, int], None]


@transaction.atomic
def patients_import(*, actor: User, text: str, progress: Progress | None = None) -> int:
    """Register every patient of ``text`` or none: the file is checked again inside the
    transaction (another import may have taken an MRN since the dry run) and any bad row
    refuses the whole file. Returns the number of patients registered."""
    check = patients_import_check(actor=actor, text=text)
    if not check.valid:
        raise CsvImportInvalid(
            f"The file has {len(check.errors)} problem(s); nothing was imported. "
            "Run the check again to see them."
        )
    organization_id = actor.organization_id
    assert organization_id is not None
    total = len(check.rows)
    done = 0
    for start in range(0, total, BATCH_SIZE):
        batch = []
        for row in check.rows[start : start + BATCH_SIZE]:
            # The service's own cleaner: the same rules as patient_register.
            clean = patient_fields_clean(organization_id, row)
            if not clean["mrn"]:
                clean["mrn"] = mrn_generate(organization_id)
            patient = Patient(organization_id=organization_id, created_by=actor, **clean)
            patient.search_name = normalize_name(
                patient.first_name, patient.middle_name, patient.last_name, patient.preferred_name
            )
            batch.append(patient)
        Patient.objects.bulk_create(batch)
        done += len(batch)
        if progress is not None:
            progress(done, total)
    audit_record(
        actor=actor,
        action="patients.imported",
        object_type="patients.patient",
        details={"count": total},
    )
    return total


# -- jobs (progress of long imports) ---------------------------------------------------------

JOB_SECONDS = 60 * 60
# The checked file holds patient data: it waits in Redis only until the worker picks it up
# (it is deleted then), and never longer than this.
JOB_TEXT_SECONDS = 15 * 60


def _job_key(job_id: str) -> str:
    return f"patients:csvjob:{job_id}"


def job_create(*, actor: User, kind: str, text: str = "") -> str:
    """A new job owned by ``actor``; ``text`` (the checked file) waits in the cache for it."""
    job_id = secrets.token_urlsafe(16)
    cache.set(
        _job_key(job_id),
        {"user_id": actor.pk, "kind": kind, "state": "checked", "done": 0, "total": 0},
        JOB_SECONDS,
    )
    if text:
        cache.set(_job_key(job_id) + ":text", text, JOB_TEXT_SECONDS)
    return job_id


def job_get(*, actor: User, job_id: str) -> dict[str, Any] | None:
    """The job's status, or None when it does not exist or is someone else's."""
    job = cache.get(_job_key(job_id or ""))
    if not isinstance(job, dict) or job.get("user_id") != actor.pk:
        return None
    return job


def job_text(job_id: str) -> str | None:
    value = cache.get(_job_key(job_id) + ":text")
    return value if isinstance(value, str) else None


def job_update(job_id: str, **changes: Any) -> None:
    job = cache.get(_job_key(job_id))
    if isinstance(job, dict):
        job.update(changes)
        cache.set(_job_key(job_id), job, JOB_SECONDS)


def job_run_import(*, actor: User, job_id: str) -> None:
    """Run the import of a checked job, recording progress; the file leaves the cache after."""
    text = job_text(job_id)
    if text is None:
        job_update(job_id, state="failed", message="The checked file has expired; upload again.")
        return
    job_update(job_id, state="running")
    try:
        count = patients_import(
            actor=actor,
            text=text,
            progress=lambda done, total: job_update(job_id, done=done, total=total),
        )
    except ApplicationError as exc:
        job_update(job_id, state="failed", message=exc.message)
    except Exception:
        # The transaction rolled back; say so on the page and let the worker log the error.
        job_update(job_id, state="failed", message="The import failed; nothing was imported.")
        raise
    else:
        job_update(job_id, state="done", done=count, total=count)
    finally:
        cache.delete(_job_key(job_id) + ":text")


# -- export ----------------------------------------------------------------------------------

EXPORT_COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *IGNORED_COLUMNS)


def csv_cell(value: Any) -> str:
    """``value`` as text a spreadsheet shows and never runs (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def patients_export_rows(qs: QuerySet[Patient]) -> Iterator[str]:
    """CSV lines of ``qs`` (header first), read from the database a chunk at a time."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(EXPORT_COLUMNS)
    rows: Iterable[Patient] = qs.select_related("home_location").iterator(chunk_size=EXPORT_CHUNK)
    for p in rows:
        values = {c: getattr(p, c) for c in EXPORT_COLUMNS if c != "home_location"}
        values["home_location"] = p.home_location.name
        values["date_of_birth"] = p.date_of_birth.isoformat()
        yield writer.writerow([csv_cell(values[c]) for c in EXPORT_COLUMNS])


def patients_export_audit(*, actor: User, filters: list[str], count: int) -> None:
    audit_record(
        actor=actor,
        action="export.created",
        object_type="patients.patient",
        details={"kind": "patients", "filters": sorted(filters), "rows": count},
    )
