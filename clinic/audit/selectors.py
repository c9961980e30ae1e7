"""Reads of the audit trail: the organization's activity log and the change history of records.

Both are built for big tables. The activity log pages by keyset (``id`` below or above a cursor)
and never counts; the history of one record costs one query per event table plus one for the
actors, however long the history is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.db import connection, models
from django.db.models import F
from pghistory.core import event_models

from clinic.audit.history import CONTEXT_REQUEST_ID, CONTEXT_USER
from clinic.models import AuditEvent, User
from clinic.tenancy import scope_queryset
from clinic.times import date_text

# ------------------------------------------------------------------ change history

# Bookkeeping columns a tracked model may carry; a change to these alone is not history.
HISTORY_IGNORED_FIELDS = frozenset({"id", "public_id", "created_at", "updated_at"})
HISTORY_DEFAULT_LIMIT = 50

if TYPE_CHECKING:
    Field = models.Field[Any, Any]
    RelatedNames = dict[tuple[type[models.Model], Any], str]


@dataclass(frozen=True)
class FieldChange:
    """One field of one event. ``old``/``new`` are ready to show (choice labels, related
    objects' names, Yes/No); ``None`` means empty. ``old_known`` is False when no earlier state
    was recorded (a creation, or the first snapshot of a model tracked only on some changes)."""

    field: str
    label: str
    old: Any
    new: Any
    old_known: bool = True


@dataclass(frozen=True)
class HistoryEntry:
    """Who changed what when. ``kind`` is "created", "changed", "deleted" or "recorded"
    (a snapshot with nothing earlier to compare against); ``event`` is the tracker's label."""

    at: datetime
    kind: str
    event: str
    actor_id: int | None
    actor_name: str
    request_id: str
    changes: tuple[FieldChange, ...]


def _tracked_fields(event_model: type[models.Model], ignored: set[str]) -> list[Field]:
    return [
        f
        for f in event_model._meta.concrete_fields
        if not f.name.startswith("pgh_") and f.name not in ignored
    ]


def _operation_of(event_model: type[models.Model], label: str) -> str:
    for tracker in getattr(event_model, "pgh_trackers", None) or []:
        if tracker.label == label:
            return str(getattr(tracker, "operation", "") or "")
    return ""


def history_for(
    obj: models.Model, *, limit: int = HISTORY_DEFAULT_LIMIT, exclude: Iterable[str] = ()
) -> list[HistoryEntry]:
    """The change history of ``obj`` (any ``@pghistory.track``-ed model), newest first.

    Each entry is the difference between one event row and the previous row of the same event
    table, with the acting user taken from the change's context (see ``clinic.audit.history``).
    The caller has already checked that the user may see ``obj``; ``exclude`` hides fields
    the viewer must not see. At most ``limit`` entries.
    """
    model = obj._meta.concrete_model
    assert model is not None
    ignored = set(HISTORY_IGNORED_FIELDS) | set(exclude)
    # (event row, kind, [(field, old, new, old_known)]) before display values are resolved
    raw: list[tuple[Any, str, list[tuple[Field, Any, Any, bool]]]] = []
    for event_model in event_models(tracks_model=model):
        fields = _tracked_fields(event_model, ignored)
        # One row more than shown, so the oldest shown row still has a predecessor to diff.
        rows: list[Any] = list(
            event_model._default_manager.filter(pgh_obj_id=obj.pk)
            .select_related("pgh_context")
            .order_by("-pgh_id")[: limit + 1]
        )
        for i, row in enumerate(rows[:limit]):
            prev = rows[i + 1] if i + 1 < len(rows) else None
            operation = _operation_of(event_model, row.pgh_label)
            if operation == "INSERT":
                kind = "created"
                pairs = [(f, None, getattr(row, f.attname), False) for f in fields]
                pairs = [p for p in pairs if p[2] not in (None, "")]
            elif operation == "DELETE":
                kind, pairs = "deleted", []
            elif prev is None:
                kind = "recorded"
                pairs = [(f, None, getattr(row, f.attname), False) for f in fields]
            else:
                kind = "changed"
                pairs = [
                    (f, getattr(prev, f.attname), getattr(row, f.attname), True)
                    for f in fields
                    if getattr(prev, f.attname) != getattr(row, f.attname)
                ]
                if not pairs:  # only bookkeeping columns moved (e.g. a save() without changes)
                    continue
            raw.append((row, kind, pairs))

    raw.sort(key=lambda item: (item[0].pgh_created_at, item[0].pgh_id), reverse=True)
    raw = raw[:limit]

    actors = _actor_names(raw)
    related = _related_names(raw)
    entries = []
    for row, kind, pairs in raw:
        meta = (row.pgh_context.metadata if row.pgh_context_id and row.pgh_context else None) or {}
        actor_id = _as_int(meta.get(CONTEXT_USER))
        entries.append(
            HistoryEntry(
                at=row.pgh_created_at,
                kind=kind,
                event=row.pgh_label,
                actor_id=actor_id,
                actor_name=actors.get(actor_id, "") if actor_id else "",
                request_id=str(meta.get(CONTEXT_REQUEST_ID) or ""),
                changes=tuple(
                    FieldChange(
                        field=f.name,
                        label=str(f.verbose_name).capitalize(),
                        old=_display(f, old, related),
                        new=_display(f, new, related),
                        old_known=old_known,
                    )
                    for f, old, new, old_known in pairs
                ),
            )
        )
    return entries


def _as_int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _actor_names(raw: list[Any]) -> dict[int, str]:
    ids = set()
    for row, _kind, _pairs in raw:
        meta = (row.pgh_context.metadata if row.pgh_context_id and row.pgh_context else None) or {}
        actor_id = _as_int(meta.get(CONTEXT_USER))
        if actor_id:
            ids.add(actor_id)
    if not ids:
        return {}
    return {u.pk: str(u) for u in User.objects.filter(pk__in=ids).only("id", "full_name", "email")}


def _related_names(raw: list[Any]) -> RelatedNames:
    """Names of the rows foreign keys point at: one query per related model."""
    wanted: dict[type[models.Model], set[Any]] = defaultdict(set)
    for _row, _kind, pairs in raw:
        for f, old, new, _known in pairs:
            if f.many_to_one and f.related_model is not None:
                wanted[f.related_model].update(v for v in (old, new) if v is not None)
    names: RelatedNames = {}
    for related_model, ids in wanted.items():
        for pk, instance in related_model._default_manager.in_bulk(list(ids)).items():
            names[(related_model, pk)] = str(instance)
    return names


def _display(
    f: models.Field[Any, Any], value: Any, related: dict[tuple[type[models.Model], Any], str]
) -> Any:
    if value is None or value == "":
        return None
    if f.many_to_one and f.related_model is not None:
        return related.get((f.related_model, value), "(removed)")
    if f.choices:
        return dict(f.flatchoices).get(value, value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, date) and not isinstance(value, datetime):
        return date_text(value)  # the one date format, never Django's "Aug. 13, 1983"
    return value


# ------------------------------------------------------------------ activity log

ACTIVITY_PAGE_SIZE = 50


@dataclass(frozen=True)
class ActivityFilters:
    """What the activity log is narrowed to. ``since`` is inclusive, ``until`` exclusive."""

    actor: User | None = None
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class ActivityPage:
    """One page, newest first. ``older``/``newer`` are the cursors for ``?before=`` and
    ``?after=`` (``None`` when there is nothing that way)."""

    rows: list[AuditEvent]
    older: int | None
    newer: int | None


def activity_users(user: User) -> models.QuerySet[User]:
    """The people of ``user``'s organization, for the activity log's user filter."""
    return scope_queryset(User.objects.all(), user, all_locations=True).only(
        "id", "public_id", "full_name", "email"
    )


def _filtered_activity(user: User, filters: ActivityFilters) -> models.QuerySet[AuditEvent]:
    qs = scope_queryset(AuditEvent.objects.all(), user)
    if filters.actor is not None:
        qs = qs.filter(actor=filters.actor)
    if filters.action:
        qs = qs.filter(action__in=_actions_starting_with(user, filters.action))
    if filters.object_type:
        qs = qs.filter(object_type=filters.object_type)
    if filters.object_id:
        qs = qs.filter(object_id=filters.object_id)
    if filters.since is not None:
        qs = qs.filter(occurred_at__gte=filters.since)
    if filters.until is not None:
        qs = qs.filter(occurred_at__lt=filters.until)
    return qs


def _actions_starting_with(user: User, prefix: str) -> list[str]:
    """The organization's actions that start with ``prefix``, read by skipping through the
    (organization, action, id) index one distinct action at a time: a few dozen index probes
    however many rows there are.

    Filtering on the exact actions instead of ``LIKE 'prefix%'`` lets the planner use that
    index in any collation, read one action's rows already in id order, and know at once
    when nothing matches.
    """
    if user.organization_id is None:
        return []
    table = AuditEvent._meta.db_table
    sql = f"""
        WITH RECURSIVE seen(action) AS (
            (SELECT action FROM {table} WHERE organization_id = %(org)s ORDER BY action LIMIT 1)
            UNION ALL
            SELECT (SELECT a.action FROM {table} a
                    WHERE a.organization_id = %(org)s AND a.action > seen.action
                    ORDER BY a.action LIMIT 1)
            FROM seen WHERE seen.action IS NOT NULL
        )
        SELECT action FROM seen WHERE action IS NOT NULL
    """  # noqa: S608  (the table name is ours; values are parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"org": user.organization_id})
        return [action for (action,) in cursor.fetchall() if action.startswith(prefix)]


def activity_page(
    *,
    user: User,
    filters: ActivityFilters,
    before: int | None = None,
    after: int | None = None,
    size: int = ACTIVITY_PAGE_SIZE,
) -> ActivityPage:
    """A page of ``user``'s organization's audit rows by keyset on ``id``.

    Reads ``size + 1`` rows to learn whether there is another page that way, and asks the
    index for a single row to learn whether there is one the other way: never a COUNT, so
    the cost does not grow with the table.
    """
    qs = _filtered_activity(user, filters)
    shown = qs.select_related("actor", "location").only(
        "id",
        "occurred_at",
        "action",
        "object_type",
        "object_id",
        "ip",
        "actor__id",
        "actor__full_name",
        "actor__email",
        "location__id",
        "location__name",
    )
    if after is not None:
        chunk = list(shown.filter(id__gt=after).order_by("id")[: size + 1])
        has_newer = len(chunk) > size
        rows = list(reversed(chunk[:size]))
        has_older = _any(qs.filter(id__lte=after).order_by("-id"))
    else:
        base = shown.filter(id__lt=before) if before is not None else shown
        if _window_first(user, filters, before):
            # Sorting on an expression keeps the planner off the id indexes: it reads the
            # window's ids from the covering time index, keeps the newest, then fetches those.
            in_window = qs.filter(id__lt=before) if before is not None else qs
            newest_first = in_window.order_by((F("id") + 0).desc())
            ids = list(newest_first.values_list("id", flat=True)[: size + 1])
            chunk = list(base.filter(id__in=ids).order_by("-id"))
        else:
            chunk = list(base.order_by("-id")[: size + 1])
        has_older = len(chunk) > size
        rows = chunk[:size]
        has_newer = before is not None and _any(qs.filter(id__gte=before).order_by("id"))
    older = newer = None
    if has_older:
        older = rows[-1].pk if rows else (after or 0) + 1
    if has_newer:
        newer = rows[0].pk if rows else (before or 1) - 1
    return ActivityPage(rows=rows, older=older, newer=newer)


def _window_first(user: User, filters: ActivityFilters, before: int | None) -> bool:
    """Whether a page of a date window that ends in the past is cheaper to find by reading
    the window itself than by walking ids down from the newest row (or the cursor).

    Walking ids costs the rows newer than the window; reading the window costs its rows. The
    planner cannot tell (it assumes matches are spread evenly over ids, but they bunch where
    the window is), so we ask the indexes where the window starts and ends in id terms: three
    one-row probes. Audit ids grow with ``occurred_at``, so id distances stand in for row
    counts. Only the speed depends on that; both ways return the same rows.
    """
    if filters.until is None or filters.actor is not None or filters.object_id:
        return False  # an open window starts at the top; actor and object indexes are narrow

    org_rows = scope_queryset(AuditEvent.objects.all(), user)

    def probe(rows: models.QuerySet[AuditEvent], order: str) -> int | None:
        return rows.order_by(order).values_list("id", flat=True).first()

    top = probe(org_rows, "-id")
    end = probe(org_rows.filter(occurred_at__lt=filters.until), "-occurred_at")
    if filters.since is not None:
        start = probe(org_rows.filter(occurred_at__gte=filters.since), "occurred_at")
    else:
        start = probe(org_rows, "id")
    if top is None or end is None or start is None:
        return False
    if before is not None:
        top = min(top, before)
    return top - end > end - start


def _any(qs: models.QuerySet[AuditEvent]) -> bool:
    # An ordered one-row probe walks the id index from the cursor; EXISTS would let the
    # planner pick any plan.
    return bool(list(qs.values_list("id", flat=True)[:1]))
