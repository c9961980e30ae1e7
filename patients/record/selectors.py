"""Scoped reads of patients: who may see which patients, search, duplicates."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower

from clinic.crypto import lookup_hash
from clinic.errors import NotFound
from clinic.models import Location, Role, User
from clinic.phones import phone_or_none
from clinic.tenancy import scope_queryset
from patients.models import (
    InsurancePolicy,
    Patient,
    PatientAssignment,
    Payer,
    Physician,
    normalize_name,
)
from patients.record.permissions import full_access_location_ids


def patients_visible_to(user: User) -> QuerySet[Patient]:
    """Every patient ``user`` may open: the whole organization for an ADMIN; the home
    locations where they are EMPLOYEE or CLINICIAN; plus, for a FIELD_TECHNICIAN, the
    patients assigned to them. SUPPORT (and anyone else) sees none."""
    # Organization-wide first (this also refuses inactive or organization-less users);
    # the location rule below replaces scope_queryset's, because a technician's patients
    # are chosen by assignment rather than by location.
    qs = scope_queryset(Patient.objects.all(), user, all_locations=True)
    if user.is_org_admin:
        return qs
    visible = Q(home_location_id__in=full_access_location_ids(user))
    if user.has_role(Role.FIELD_TECHNICIAN):
        assigned = Exists(PatientAssignment.objects.filter(patient=OuterRef("pk"), technician=user))
        visible = visible | Q(assigned)
    return qs.filter(visible)


def patients_with_full_record_visible_to(user: User) -> QuerySet[Patient]:
    """The patients whose whole record (insurance included) ``user`` may open: a
    technician's assigned patients at other locations do not count."""
    qs = patients_visible_to(user)
    if user.is_org_admin:
        return qs
    return qs.filter(home_location_id__in=full_access_location_ids(user))


def filter_locations_for(user: User) -> QuerySet[Location]:
    """Locations the user may pick in filters and forms: all of the organization's for an
    ADMIN, otherwise those where they work with whole records."""
    locations = scope_queryset(Location.objects.filter(is_active=True), user, all_locations=True)
    if user.is_org_admin:
        return locations
    return locations.filter(pk__in=full_access_location_ids(user))


def physicians_for(user: User) -> QuerySet[Physician]:
    return scope_queryset(Physician.objects.all(), user)


def physicians_matching(user: User, text: str) -> QuerySet[Physician]:
    """The user's organization's referring physicians that ``text`` could mean, in name
    order: digits are the start of an NPI; words each start a first or last name or appear in
    the practice ("ana ru", "Ruiz ENT"; a leading "Dr" is ignored). Empty text: all of them."""
    qs = physicians_for(user).order_by("last_name", "first_name", "id")
    words = text.split()
    if words and words[0].lower().rstrip(".") == "dr":
        words = words[1:]
    if not words:
        return qs
    if len(words) == 1 and words[0].isdigit():
        return qs.filter(npi__startswith=words[0])
    for word in words:
        qs = qs.filter(
            Q(first_name__istartswith=word)
            | Q(last_name__istartswith=word)
            | Q(practice__icontains=word)
        )
    return qs


def _each_word(qs: QuerySet[Any], text: str, match: Callable[[str], Q]) -> QuerySet[Any]:
    for word in text.split():
        qs = qs.filter(match(word))
    return qs


def locations_matching(user: User, text: str) -> QuerySet[Location]:
    """The locations ``user`` may filter by whose name holds every word of ``text``, by name."""
    return _each_word(
        filter_locations_for(user).order_by("name", "id"), text, lambda w: Q(name__icontains=w)
    )


def technicians_matching(user: User, text: str) -> QuerySet[User]:
    """The field technicians ``user`` may filter by whose name holds every word of ``text``
    (or whose email starts with it)."""
    return _each_word(
        technicians_for(user, filter_locations_for(user)),
        text,
        lambda w: Q(full_name__icontains=w) | Q(email__istartswith=w),
    )


def payers_for(user: User) -> QuerySet[Payer]:
    return scope_queryset(Payer.objects.all(), user)


def technicians_for(user: User, locations: QuerySet[Location]) -> QuerySet[User]:
    """Field technicians working at ``locations`` (those the user may filter by)."""
    return (
        scope_queryset(User.objects.filter(is_active=True), user)
        .filter(memberships__role=Role.FIELD_TECHNICIAN, memberships__location__in=locations)
        .distinct()
        .order_by("full_name", "id")
    )


def patient_get_visible(user: User, public_id: Any) -> Patient:
    try:
        return (
            patients_visible_to(user)
            .select_related("home_location", "referring_physician", "organization")
            .get(public_id=public_id)
        )
    except (Patient.DoesNotExist, ValueError) as exc:
        raise NotFound("That patient does not exist or is not available to you.") from exc


_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y")


def _as_date(text: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


# A surname prefix is answered from the surnames that start with it when there are at most this
# many different ones (a longer list means a very short prefix: the broad match answers).
SURNAME_PREFIX_MAX = 50
# The broad match (part of a name, a misspelling) gathers at most this many patients and pages
# through them; a search that matches more should say more.
BROAD_MATCH_LIMIT = 1000


@dataclass
class SearchOutcome:
    """How a search was answered, for the page to say so: ``broad`` holds the broad match's
    ids (unevaluated) when that path answered."""

    broad: QuerySet[Any] | None = None

    def capped_at(self) -> int | None:
        """``BROAD_MATCH_LIMIT`` when the broad match found more patients than that (so only
        the first of them are listed), else None. One bounded query, asked only of a broad
        search."""
        if self.broad is None:
            return None
        more = self.broad[BROAD_MATCH_LIMIT : BROAD_MATCH_LIMIT + 1]
        return BROAD_MATCH_LIMIT if list(more) else None


def patient_search(
    qs: QuerySet[Patient],
    text: str,
    *,
    member_id_patients: QuerySet[Patient] | None = None,
    organization_id: int | None = None,
    outcome: SearchOutcome | None = None,
) -> QuerySet[Patient]:
    """Narrow ``qs`` by what a person typed: a date of birth, a phone number, an MRN (exact)
    or a name. With ``member_id_patients`` (the patients whose insurance the searcher may
    see), text with a digit also finds an insurance member id, exactly, by its keyed hash
    (nothing is decrypted; "ab-123 45" finds "AB12345").

    A name is answered, in this order, by (see ``_name_paths``):
    - a whole surname some patient of ``qs`` has (any case): exactly those patients;
    - the start of surnames that patients of ``qs`` have ("rod": Rodgers, Rodriguez; with
      ``organization_id``, the organization of ``qs``): exactly those patients;
    - otherwise the broad match: any part of the name, or misspelt (pg_trgm's word similarity
      at its default threshold), served by the trigram index, at most ``BROAD_MATCH_LIMIT``
      patients.
    The first two are read in page order and stop after a page however many patients match;
    the broad match's cost is bounded by its limit. ``outcome``, when given, learns which path
    answered (the page says when the broad match was cut at its limit)."""
    text = (text or "").strip()
    if not text:
        return qs
    when = _as_date(text)
    if when is not None:
        return qs.filter(date_of_birth=when)
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 7 and not re.search(r"[A-Za-z]", text):
        match = Q(mrn=text)
        phone = phone_or_none(text)
        if phone:
            match |= Q(phone_mobile=phone) | Q(phone_home=phone)
        members = _member_id_patient_ids(text, member_id_patients)
        if members is None:
            return qs.filter(match)
        return _ids_matching(qs, qs.filter(match).order_by().values("pk").union(members))
    by_surname = _name_paths(qs, text, organization_id)
    if by_surname is not None:
        return by_surname
    name = normalize_name(text)
    match = Q(mrn=text) | Q(search_name__contains=name) | Q(search_name__trigram_word_similar=name)
    ids = qs.filter(match).order_by().values("pk")
    members = _member_id_patient_ids(text, member_id_patients)
    found = ids if members is None else ids.union(members)
    if outcome is not None:
        outcome.broad = found
    return _ids_matching(qs, found[:BROAD_MATCH_LIMIT])


# The organization's different surnames that start with a prefix (lower case), in byte order,
# one index probe each on patient_org_surname_prefix, (organization, lower(last_name)
# text_pattern_ops, last_name): the next spelling of the same lower-case surname, else the
# next lower-case surname below the prefix's upper bound. At most SURNAME_PREFIX_MAX + 1.
# Parameters: organization, prefix x 3, organization, organization, prefix x 2, the maximum.
_PREFIX_END = "(left(lower(%s::text), -1) || chr(ascii(right(lower(%s::text), 1)) + 1))"
_SURNAMES_STARTING_WITH = f"""
{{cte}}(low, name, n) AS (
    (SELECT lower(p.last_name), p.last_name, 1
       FROM patients_patient p
      WHERE p.organization_id = %s
        AND lower(p.last_name) ~>=~ lower(%s::text) AND lower(p.last_name) ~<~ {_PREFIX_END}
      ORDER BY lower(p.last_name) USING ~<~, p.last_name
      LIMIT 1)
    UNION ALL
    SELECT nxt.low, nxt.name, s.n + 1
      FROM {{cte}} s, LATERAL (
        (SELECT lower(p.last_name) AS low, p.last_name AS name
           FROM patients_patient p
          WHERE p.organization_id = %s AND lower(p.last_name) = s.low AND p.last_name > s.name
          ORDER BY p.last_name
          LIMIT 1)
        UNION ALL
        (SELECT lower(p.last_name), p.last_name
           FROM patients_patient p
          WHERE p.organization_id = %s
            AND lower(p.last_name) ~>~ s.low AND lower(p.last_name) ~<~ {_PREFIX_END}
          ORDER BY lower(p.last_name) USING ~<~, p.last_name
          LIMIT 1)
        LIMIT 1
      ) nxt
     WHERE s.n <= %s
)
"""  # noqa: S608 (built from constants; what was typed is only in the parameters)
# A misspelt surname is looked for among the surnames sharing its first letters (most typos
# come later in a word: Rivea, Nelsn, Thompsen), those at least this similar (pg_trgm).
MISSPELT_PREFIX = 3
MISSPELT_SIMILARITY = 0.4


def _surnames_params(organization_id: int, prefix: str) -> tuple[Any, ...]:
    return (
        organization_id, prefix, prefix, prefix,  # the first surname
        organization_id,  # the next spelling of the same surname
        organization_id, prefix, prefix,  # the next surname
        SURNAME_PREFIX_MAX,
    )  # fmt: skip


def _name_paths(
    qs: QuerySet[Patient], text: str, organization_id: int | None
) -> QuerySet[Patient] | None:
    """The patients of ``qs`` with the surname ``text`` (any case), or else with a surname
    starting with it, or else with a surname like it (a misspelling after its first
    ``MISSPELT_PREFIX`` letters); None when none applies (the broad match does). One SQL
    statement decides: whether the whole surname exists among ``qs``; the organization's
    surnames that start with ``text``, and with its first letters (bounded, see
    ``_SURNAMES_STARTING_WITH``), of which those similar to ``text``; and whether ``qs`` has
    any of either list.

    Each answer is a list of exact surnames, which the list's name indexes
    (patient_org_name, patient_org_loc_name, patient_org_surname) hand over in page order, a
    page at a time, however many patients match; the broad match would gather every "Rod…"
    or every near "Rivea" of the organization and sort them (bench.patients)."""
    if re.search(r"\d", text):
        return None
    text = " ".join(text.split())
    whole = qs.alias(_surname=Lower("last_name")).filter(_surname=Lower(Value(text)))
    if organization_id is None:
        return whole if whole.exists() else None
    whole_sql, whole_params = whole.order_by().values("pk")[:1].query.sql_with_params()

    # Whether the user's patients have one of a short list of surnames: one index probe per
    # surname, driven from the list. Written as "last_name = ANY(list)" over the table, the
    # planner may read the whole table for an ADMIN to find nothing (3.9 s at 5M patients
    # when the list was empty, bench.patients).
    same_name = RawSQL('"patients_patient"."last_name" = cand.name', (), BooleanField())
    one = qs.filter(same_name).order_by().values("pk")[:1]
    one_sql, one_params = one.query.sql_with_params()
    close = "similarity(cand.low, lower(%s::text)) >= %s"
    near_params = (text, MISSPELT_SIMILARITY)
    # The SQL text is the ORM's own compiled queries and constants; what the person typed is
    # only in the parameters.
    ctes = ", ".join(_SURNAMES_STARTING_WITH.format(cte=cte) for cte in ("surnames", "nearby"))
    answers = ", ".join(
        [
            f"EXISTS({whole_sql})",
            "ARRAY(SELECT name FROM surnames)",
            f"EXISTS(SELECT 1 FROM surnames cand WHERE EXISTS({one_sql}))",  # noqa: S608
            "(SELECT count(*) FROM nearby)",
            f"ARRAY(SELECT name FROM nearby cand WHERE {close})",  # noqa: S608
            f"EXISTS(SELECT 1 FROM nearby cand WHERE {close} AND EXISTS({one_sql}))",  # noqa: S608
        ]
    )
    sql = f"WITH RECURSIVE {ctes} SELECT {answers}"
    params = (
        *_surnames_params(organization_id, text),
        *_surnames_params(organization_id, text[:MISSPELT_PREFIX]),
        *whole_params, *one_params, *near_params, *near_params, *one_params,
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        has_whole, surnames, has_prefixed, nearby, near, has_near = cursor.fetchone()
    if has_whole:
        return whole
    if has_prefixed and len(surnames) <= SURNAME_PREFIX_MAX:
        return qs.filter(last_name__in=surnames)
    if has_near and len(text) > MISSPELT_PREFIX and nearby <= SURNAME_PREFIX_MAX:
        return qs.filter(last_name__in=near)
    return None


def _member_id_patient_ids(text: str, patients: QuerySet[Patient] | None) -> QuerySet[Any] | None:
    """Ids of ``patients`` with a policy whose member id is ``text`` (None: nothing to look
    for). Member ids have digits; names do not."""
    if patients is None or not re.search(r"\d", text):
        return None
    digest = lookup_hash(text)
    if not digest:
        return None
    return (
        InsurancePolicy.objects.filter(member_id_hash=digest, patient__in=patients.values("pk"))
        .order_by()
        .values("patient_id")
    )


def _ids_matching(qs: QuerySet[Patient], ids: QuerySet[Any]) -> QuerySet[Patient]:
    """``qs`` narrowed to what ``ids`` returns. The matches' ids are gathered first (an
    InitPlan: bitmap scans of the trigram, MRN and member-id hash indexes) and the page is then
    read by primary key and sorted. Left to itself, the planner walks the (organization, last
    name) index in page order and tests every row: about a second at 500,000 patients for a
    name late in the alphabet (bench.patients)."""
    matching, params = ids.query.sql_with_params()
    # The SQL text is the ORM's own compiled query; what the person typed is only in params.
    return qs.filter(
        RawSQL(  # noqa: S611
            f'"patients_patient"."id" = ANY(ARRAY({matching}))',
            params,
            output_field=BooleanField(),
        )
    )


def patient_duplicates(
    *,
    organization_id: int,
    first_name: str,
    last_name: str,
    date_of_birth: date | None,
    phones: list[str],
) -> QuerySet[Patient]:
    """Patients of the organization with the same name and date of birth, or a same phone."""
    match = Q(pk__in=[])
    if first_name and last_name and date_of_birth:
        match |= Q(
            first_name__iexact=first_name.strip(),
            last_name__iexact=last_name.strip(),
            date_of_birth=date_of_birth,
        )
    for phone in {p for p in phones if p}:
        match |= Q(phone_mobile=phone) | Q(phone_home=phone)
    return (
        Patient.objects.filter(organization_id=organization_id)
        .filter(match)
        .select_related("home_location")
        .order_by("last_name", "first_name", "id")
    )


def patients_filtered(
    qs: QuerySet[Patient],
    data: dict[str, Any],
    *,
    user: User,
    outcome: SearchOutcome | None = None,
) -> QuerySet[Patient]:
    """The patient list's search, filters and order (``data`` is the filter form's cleaned
    data), shared by the list page and the CSV export so the two always agree. What needs
    insurance (member id, payer) only reaches patients whose whole record ``user`` may see."""
    qs = patient_search(
        qs,
        data.get("q") or "",
        member_id_patients=patients_with_full_record_visible_to(user),
        organization_id=user.organization_id,
        outcome=outcome,
    )
    if data.get("status"):
        qs = qs.filter(status=data["status"])
    if data.get("location"):
        qs = qs.filter(home_location=data["location"])
    if data.get("flag"):
        qs = qs.filter(flags__contains=[data["flag"]])
    if data.get("physician"):
        qs = qs.filter(referring_physician=data["physician"])
    if data.get("payer"):
        covered = InsurancePolicy.objects.filter(
            patient=OuterRef("pk"), payer=data["payer"], is_active=True
        )
        qs = qs.filter(Exists(covered))
        if not user.is_org_admin:
            qs = qs.filter(home_location_id__in=full_access_location_ids(user))
    if data.get("technician"):
        serves = PatientAssignment.objects.filter(
            patient=OuterRef("pk"), technician=data["technician"]
        )
        qs = qs.filter(Exists(serves))
    if data.get("sort") == "created":
        return qs.order_by("-id")
    return qs.order_by("last_name", "first_name", "id")
