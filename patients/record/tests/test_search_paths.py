"""Patient search at any size: each kind of query runs the same number of SQL statements
for 3 matching patients or 30 (list, search, second page, for one location or all); a
whole surname and the start of surnames take page-order surname paths, other text the
broad match, which is bounded."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import Role
from clinic.tests.factories import LocationFactory
from patients.models import Patient
from patients.record.selectors import patient_search, patients_visible_to
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

LIST = reverse("patients:list")
PHONE = "+12065550148"
FIRST_NAMES = ["Ana", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun"]


def _add_matching(location, n: int, start: int) -> None:
    """``n`` more patients that every query below matches (same surname, first name,
    phone and birth date), each with a distinct MRN."""
    for i in range(start, start + n):
        PatientFactory(
            home_location=location,
            first_name=FIRST_NAMES[i % len(FIRST_NAMES)],
            last_name="Rodriguez",
            mrn=f"77{i:05d}",
            phone_mobile=PHONE,
        )


QUERIES = {
    "full surname": {"q": "Rodriguez"},
    "surname in capitals": {"q": "RODRIGUEZ"},
    "3-letter prefix": {"q": "rod"},
    "first name": {"q": "Cleo"},
    "full name": {"q": "cleo rodriguez"},
    "misspelt": {"q": "Rodriguz"},
    "phone": {"q": "(206) 555-0148"},
    "MRN": {"q": "7700002"},
    "date of birth": {"q": "1961-04-12"},
    "no match": {"q": "Zzyzx"},
    "surname + status filter": {"q": "Rodriguez", "status": "active"},
    "plain list": {},
}


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.ADMIN])
def test_every_search_costs_the_same_queries_for_3_or_30_matches(
    location, make_staff, signed_in, role
):
    user = make_staff(role, location)
    client = signed_in(user)
    # Another location of the organization: the ADMIN searches it too, the EMPLOYEE does not.
    other = LocationFactory(organization=location.organization)

    def counts() -> dict[str, int]:
        result = {}
        for label, params in QUERIES.items():
            with CaptureQueriesContext(connection) as ctx:
                first = client.get(LIST, params)
                assert first.status_code == 200
            result[label] = len(ctx.captured_queries)
            rows = first.context["rows"]
            if first.context["has_next"]:
                with CaptureQueriesContext(connection) as ctx:
                    page2 = client.get(LIST, {**params, "after": rows[-1].public_id})
                    assert page2.status_code == 200
                result[label + ", page 2"] = len(ctx.captured_queries)
        return result

    _add_matching(location, 3, 0)
    _add_matching(other, 3, 100)
    client.get(LIST)  # the first request of a session reads a few things once
    few = counts()
    _add_matching(location, 27, 3)
    _add_matching(other, 27, 103)
    many = counts()
    # Page 2 only exists with 30+ rows; every query kind is compared where both ran.
    assert {k: v for k, v in many.items() if k in few} == few
    # A second page adds only the cursor row's lookup.
    second_pages = [k for k in many if k.endswith(", page 2")]
    assert "full surname, page 2" in second_pages
    for label in second_pages:
        assert many[label] == many[label.removesuffix(", page 2")] + 1, label


def _names(response) -> list[tuple[str, str]]:
    return [(p.first_name, p.last_name) for p in response.context["rows"]]


def test_a_whole_surname_lists_exactly_that_surname_in_page_order_across_pages(
    location, make_staff, signed_in
):
    employee = make_staff(Role.EMPLOYEE, location)
    client = signed_in(employee)
    for i in range(60):
        PatientFactory(home_location=location, first_name=f"P{i:02d}", last_name="Smith")
    PatientFactory(home_location=location, first_name="Zed", last_name="SMITH")
    PatientFactory(home_location=location, first_name="Al", last_name="Goldsmith")
    PatientFactory(home_location=location, first_name="Bo", last_name="Smithers")
    PatientFactory(home_location=location, first_name="Smith", last_name="Jones")
    shown: list[tuple[str, str]] = []
    params = {"q": "smith"}
    for _page in range(10):
        response = client.get(LIST, params)
        shown += _names(response)
        if not response.context["has_next"]:
            break
        params = {"q": "smith", "after": response.context["next_after"]}
    # Any case of the surname, ordered as the list is (last name as stored, first, id).
    assert shown == [("Zed", "SMITH")] + [(f"P{i:02d}", "Smith") for i in range(60)]
    # Part of a name still finds every patient that contains it.
    broad = patient_search(patients_visible_to(employee), "smit")
    assert set(broad.values_list("last_name", flat=True)) == {
        "SMITH", "Smith", "Goldsmith", "Smithers", "Jones"
    }  # fmt: skip


def test_the_surname_path_stays_inside_what_the_user_may_see(location, make_staff):
    employee = make_staff(Role.EMPLOYEE, location)
    mine = PatientFactory(home_location=location, last_name="Okafor")
    PatientFactory(
        home_location=LocationFactory(organization=location.organization), last_name="Okafor"
    )
    PatientFactory(last_name="Okafor")  # another organization
    assert list(patient_search(patients_visible_to(employee), "okafor")) == [mine]


def test_a_surname_only_elsewhere_falls_back_to_the_broad_match(location, make_staff):
    """The surname exists at a location the user cannot see: the user's own patients are
    searched as before (here a first name), and nothing of the other location leaks."""
    employee = make_staff(Role.EMPLOYEE, location)
    PatientFactory(
        home_location=LocationFactory(organization=location.organization), last_name="Lane"
    )
    first_name_match = PatientFactory(home_location=location, first_name="Lane", last_name="Ito")
    found = list(patient_search(patients_visible_to(employee), "Lane"))
    assert found == [first_name_match]
    assert Patient.objects.filter(last_name="Lane").exists()


def _all_pages(client, params: dict[str, str]) -> list[tuple[str, str]]:
    shown: list[tuple[str, str]] = []
    for _page in range(20):
        response = client.get(LIST, params)
        shown += _names(response)
        if not response.context["has_next"]:
            return shown
        params = {**params, "after": response.context["next_after"]}
    raise AssertionError("more pages than expected")


def test_the_start_of_surnames_lists_exactly_those_surnames_in_page_order_across_pages(
    location, make_staff, signed_in
):
    client = signed_in(make_staff(Role.EMPLOYEE, location))
    for i in range(30):
        PatientFactory(home_location=location, first_name=f"P{i:02d}", last_name="Smith")
    PatientFactory(home_location=location, first_name="Zed", last_name="SMITH")
    PatientFactory(home_location=location, first_name="Bo", last_name="Smithers")
    PatientFactory(home_location=location, first_name="Al", last_name="Goldsmith")
    PatientFactory(home_location=location, first_name="Smith", last_name="Jones")
    # Elsewhere in the organization: a surname with the prefix the user cannot see.
    PatientFactory(
        home_location=LocationFactory(organization=location.organization), last_name="Smithson"
    )
    assert _all_pages(client, {"q": "smit"}) == (
        [("Zed", "SMITH")] + [(f"P{i:02d}", "Smith") for i in range(30)] + [("Bo", "Smithers")]
    )
    # Text inside names that starts no surname keeps the broad match.
    assert sorted(_all_pages(client, {"q": "mith"})) == sorted(
        [("Zed", "SMITH"), ("Bo", "Smithers"), ("Al", "Goldsmith"), ("Smith", "Jones")]
        + [(f"P{i:02d}", "Smith") for i in range(30)]
    )


def test_a_prefix_of_surnames_only_elsewhere_falls_back_to_the_broad_match(
    location, make_staff, signed_in
):
    client = signed_in(make_staff(Role.EMPLOYEE, location))
    PatientFactory(
        home_location=LocationFactory(organization=location.organization), last_name="Laneway"
    )
    mine = PatientFactory(home_location=location, first_name="Lanette", last_name="Ito")
    assert _all_pages(client, {"q": "lane"}) == [(mine.first_name, mine.last_name)]


def test_a_prefix_of_too_many_surnames_takes_the_broad_match(
    location, make_staff, signed_in, monkeypatch
):
    monkeypatch.setattr("patients.record.selectors.SURNAME_PREFIX_MAX", 2)
    client = signed_in(make_staff(Role.EMPLOYEE, location))
    for last in ("Baker", "Banks", "Barr"):
        PatientFactory(home_location=location, last_name=last)
    PatientFactory(home_location=location, first_name="Bart", last_name="Cole")
    # Three surnames start with "ba": more than the limit, so the first name counts too.
    assert {last for _first, last in _all_pages(client, {"q": "ba"})} == {
        "Baker", "Banks", "Barr", "Cole"
    }  # fmt: skip
    # Two surnames: the surname path.
    assert [last for _first, last in _all_pages(client, {"q": "ban"})] == ["Banks"]


def test_the_broad_match_gathers_at_most_its_limit(location, make_staff, signed_in, monkeypatch):
    monkeypatch.setattr("patients.record.selectors.BROAD_MATCH_LIMIT", 4)
    client = signed_in(make_staff(Role.EMPLOYEE, location))
    for i in range(7):
        PatientFactory(home_location=location, first_name="Quentin", last_name=f"Q{i}")
    shown = _all_pages(client, {"q": "quentin"})
    assert len(shown) == 4 and shown == sorted(shown, key=lambda name: (name[1], name[0]))


def test_a_surname_misspelt_after_its_first_letters_lists_the_surnames_like_it(
    location, make_staff, signed_in
):
    client = signed_in(make_staff(Role.EMPLOYEE, location))
    for i in range(30):
        PatientFactory(home_location=location, first_name=f"P{i:02d}", last_name="Rivera")
    PatientFactory(home_location=location, first_name="Al", last_name="Rivers")
    PatientFactory(home_location=location, first_name="Bo", last_name="Rice")
    PatientFactory(home_location=location, first_name="Rivea", last_name="Ito")
    shown = _all_pages(client, {"q": "Rivea"})
    assert shown == [(f"P{i:02d}", "Rivera") for i in range(30)] + [("Al", "Rivers")]
