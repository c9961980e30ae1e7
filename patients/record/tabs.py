"""The tabs of a patient's record. Other apps add theirs (appointments, communications, equipment)
from their AppConfig.ready() with ``record_tab_register`` (patients' own from
``PatientsConfig.ready``); the record header renders them in order.

Each tab's page decides on its own who may see it (and audits the view); the header shows the tabs
only to users with the full view of the record, and a tab with a ``check`` only to users it admits
(the billing tab to those who may see money), so no tab leads to a page that answers 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.urls import reverse

if TYPE_CHECKING:
    from clinic.models import User


@dataclass(frozen=True)
class RecordTab:
    key: str  # the header's ``current`` value on that tab's page
    label: str
    url_name: str  # takes ``public_id=``
    order: int
    query: str = ""  # e.g. "?tab=history"
    check: Callable[[User], bool] | None = None  # who sees the tab; None: everyone with the record

    def url_for(self, public_id) -> str:
        return reverse(self.url_name, kwargs={"public_id": public_id}) + self.query


_TABS: dict[str, RecordTab] = {}


def record_tab_register(tab: RecordTab) -> None:
    _TABS[tab.key] = tab


def record_tabs(user: User | None = None) -> list[RecordTab]:
    """The registered tabs in order; given ``user``, only those whose check admits them."""
    tabs = sorted(_TABS.values(), key=lambda t: t.order)
    if user is None:
        return tabs
    return [t for t in tabs if t.check is None or t.check(user)]
