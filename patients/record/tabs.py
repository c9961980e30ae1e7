"""The tabs of a patient's record. Other apps add theirs (appointments, communications, equipment)
from their AppConfig.ready() with ``record_tab_register`` (patients' own from
``PatientsConfig.ready``); the record header renders them in order.

Each tab's page decides on its own who may see it (and audits the view); the header shows the tabs
only to users with the full view of the record.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse


@dataclass(frozen=True)
class RecordTab:
    key: str  # the header's ``current`` value on that tab's page
    label: str
    url_name: str  # takes ``public_id=``
    order: int
    query: str = ""  # e.g. "?tab=history"

    def url_for(self, public_id) -> str:
        return reverse(self.url_name, kwargs={"public_id": public_id}) + self.query


_TABS: dict[str, RecordTab] = {}


def record_tab_register(tab: RecordTab) -> None:
    _TABS[tab.key] = tab


def record_tabs() -> list[RecordTab]:
    return sorted(_TABS.values(), key=lambda t: t.order)
