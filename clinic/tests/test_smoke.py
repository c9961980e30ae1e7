from clinic.models import Role


def test_signed_in_staff_reaches_the_dashboard(make_staff, signed_in):
    user = make_staff(role=Role.EMPLOYEE)
    response = signed_in(user).get("/")
    assert response.status_code == 200


def test_healthz_reports_every_dependency(client, db):
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "broker"}
