"""Scoped reads of patient documents: which documents a user may see, and full-text search."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F, Prefetch, Q, QuerySet

from clinic.errors import NotFound
from clinic.tenancy import scope_queryset
from patients.models import CARD_CATEGORIES, Document, DocumentVersion
from patients.record.permissions import full_access_location_ids

if TYPE_CHECKING:
    from clinic.models import User
    from patients.models import Patient

# The text search configuration used both to build the vectors and to parse queries.
SEARCH_CONFIG = "english"
SEARCH_LIMIT = 50


def documents_visible_to(user: User) -> QuerySet[Document]:
    """Documents of patients whose full record ``user`` may open (see documents_permissions),
    never those entered in error."""
    qs = scope_queryset(Document.objects.filter(entered_in_error=False), user, all_locations=True)
    if user.is_org_admin:
        return qs
    return qs.filter(patient__home_location_id__in=full_access_location_ids(user))


def documents_of_patient(
    user: User, patient: Patient, *, after: Any = None, limit: int | None = None
) -> list[Document]:
    """The patient's documents, newest first, with every version and its uploader, in a fixed
    number of queries however many there are. Keyset paging: ``after`` is the public id of
    the last document of the previous page (an unknown one starts from the top), ``limit``
    how many to return."""
    versions = DocumentVersion.objects.select_related("uploaded_by").order_by("-number")
    qs = documents_visible_to(user).filter(patient=patient)
    anchor = qs.filter(public_id=after).values("created_at", "id").first() if after else None
    if anchor:
        qs = qs.filter(
            Q(created_at__lt=anchor["created_at"])
            | Q(created_at=anchor["created_at"], id__lt=anchor["id"])
        )
    qs = (
        qs.select_related("current_version", "current_version__uploaded_by", "created_by")
        .prefetch_related(Prefetch("versions", queryset=versions))
        .order_by("-created_at", "-id")
    )
    return list(qs[:limit] if limit is not None else qs)


def insurance_cards_of(user: User, policies: list[Any]) -> dict[int, dict[str, Document]]:
    """Each policy's current card documents, ``{policy pk: {"front": doc, "back": doc}}``, in
    one query (the newest document of a side wins)."""
    sides: dict[str, str] = {CARD_CATEGORIES[0]: "front", CARD_CATEGORIES[1]: "back"}
    cards: dict[int, dict[str, Document]] = {}
    documents = (
        documents_visible_to(user)
        .filter(insurance_policy__in=[p.pk for p in policies])
        .select_related("current_version")
        .order_by("id")
    )
    for document in documents:
        assert document.insurance_policy_id is not None
        cards.setdefault(document.insurance_policy_id, {})[sides[document.category]] = document
    return cards


def document_get_visible(user: User, public_id: Any) -> Document:
    try:
        return (
            documents_visible_to(user)
            .select_related("patient", "patient__home_location", "organization", "current_version")
            .get(public_id=public_id)
        )
    except (Document.DoesNotExist, ValueError) as exc:
        raise NotFound("That document does not exist or is not available to you.") from exc


def document_version_get_visible(user: User, public_id: Any) -> DocumentVersion:
    try:
        return DocumentVersion.objects.select_related(
            "document", "document__organization", "document__patient"
        ).get(public_id=public_id, document__in=documents_visible_to(user))
    except (DocumentVersion.DoesNotExist, ValueError) as exc:
        raise NotFound("That file does not exist or is not available to you.") from exc


def documents_search(user: User, text: str) -> QuerySet[DocumentVersion]:
    """Current versions whose text matches ``text`` (web-search syntax: words, "phrases",
    -not, or), best first, among the documents ``user`` may see. Older versions are not
    searched: one hit per document, for what the document says now."""
    query = SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)
    return (
        DocumentVersion.objects.filter(
            document__in=documents_visible_to(user),
            pk=F("document__current_version_id"),
            search_vector=query,
        )
        .select_related("document", "document__patient", "document__patient__home_location")
        .annotate(rank=SearchRank(F("search_vector"), query))
        .order_by("-rank", "-created_at", "-id")[:SEARCH_LIMIT]
    )
