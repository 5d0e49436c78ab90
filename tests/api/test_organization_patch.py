"""PATCH /organizations/{id} checks what it is given as POST does (the same input schema, loaded partial)."""

import pytest


def organization_path(world, key):
    return "/api/v1/organizations/%s" % world.orgs[key]


@pytest.mark.parametrize(
    ("org_key", "changes", "field"),
    [
        ("plan", {"payer_ids": ["acme health"]}, "payer_ids"),  # not the payer-id pattern
        ("plan", {"payer_ids": ["new", "new"]}, "payer_ids"),  # a payer followed twice
        ("plan", {"name": "Renamed", "payer_ids": ["ok", "ok"]}, "payer_ids"),  # one bad field refuses the rest
        ("hospital", {"payer_ids": ["acme-health"]}, "payer_ids"),  # only health plans follow payers
        ("hospital", {"name": ""}, "name"),
        ("plan", {"kind": "hospital"}, "kind"),  # the kind is fixed at creation
    ],
)
def test_bad_changes_are_a_422_and_change_nothing(api, world, org_key, changes, field):
    admin = world.tokens["admin"]
    before = api.get(organization_path(world, org_key), token=admin).json
    response = api.patch(organization_path(world, org_key), changes, token=admin)
    assert response.status_code == 422, response.json
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert field in response.json["errors"], response.json
    assert api.get(organization_path(world, org_key), token=admin).json == before


def test_a_rename_keeps_the_payer_ids(api, world):
    # Loaded partial: a field left out keeps its stored value and does not take POST's default (no payer ids).
    admin = world.tokens["admin"]
    response = api.patch(organization_path(world, "plan"), {"name": "Acme Health Plan"}, token=admin)
    assert response.status_code == 200, response.json
    assert response.json["name"] == "Acme Health Plan" and response.json["payer_ids"] == ["acme-health"]


def test_a_plan_changes_its_payer_ids_and_a_hospital_may_clear_none(api, world):
    admin = world.tokens["admin"]
    plan = api.patch(organization_path(world, "plan"), {"payer_ids": ["acme-health", "acme-2"]}, token=admin)
    assert plan.status_code == 200 and plan.json["payer_ids"] == ["acme-health", "acme-2"]
    hospital = api.patch(organization_path(world, "hospital"), {"payer_ids": []}, token=admin)
    assert hospital.status_code == 200 and hospital.json["payer_ids"] == []
