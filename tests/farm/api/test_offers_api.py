"""Offers through the API, the SDK and the dashboard: who sees them, who accepts or dismisses them, what accepting starts."""

from __future__ import annotations

import httpx
import pytest

from farm.api.ui.session import csrf_token
from farm.client import Client, FarmAPIError
from farm.registry import access, catalog, offers


@pytest.fixture(scope="module")
def world(server, model_file):
    ids, tokens = {}, {}
    for name, roles in (
        ("owner", {}),
        ("member", {}),
        ("viewer", {}),
        ("reader", {"can_optimize": False}),
        ("stranger", {}),
        ("admin", {"admin": True}),
    ):
        ids[name], tokens[name] = server.user(f"{name}@farm.test", **roles)
    with server.registry.session() as s:
        project = catalog.create_project(s, "offered", owner_id=ids["owner"]).id
        access.set_member(s, project, ids["member"], "member")
        access.set_member(s, project, ids["viewer"], "viewer")
        access.set_member(s, project, ids["reader"], "member")
        model = catalog.upload_model(
            s, server.registry.artifacts, model_file, name="net", project_id=project, created_by=ids["owner"]
        )
        original = catalog.list_variants(s, model.id)[0]
        variant = catalog.add_variant(
            s,
            model.id,
            kind="x86-64",
            artifact_key=original.artifact_key,
            artifact_name="net-x86-64.tar.gz",
            size_bytes=original.size_bytes,
            target_key="tk",
            parent_id=original.id,
            metrics={"engine": "tvm", "best_latency_ms": 2.0, "tvm_latency_ms": 2.0, "agrees": True},
        )
        catalog.upload_model(s, server.registry.artifacts, model_file, name="yolo", created_by=ids["stranger"])
        improved = [  # found by the stranger's model, and by a model of the project
            {"task": "fused_conv2d", "workload_key": "k" * 64, "old_us": 90.0, "new_us": 30.0, "from_model": "yolo"},
            {"task": "fused_dense", "workload_key": "d" * 64, "old_us": 9.0, "new_us": 8.0, "from_model": "net"},
        ]
        for name in ("first", "second"):
            ids[name] = offers.create_offer(
                s, variant, old_latency_ms=2.0, estimated_latency_ms=1.5, improved=improved
            ).id
        ids["model"] = model.id
    return {"ids": ids, "tokens": tokens}


def sdk(server, world, who: str) -> Client:
    return Client(server.url, world["tokens"][who])


def test_the_owner_and_viewers_see_offers_and_others_do_not(server, world):
    ids = world["ids"]
    for who in ("owner", "viewer", "admin"):
        listed = sdk(server, world, who).offers(model_id=ids["model"])
        assert {o.id for o in listed} == {ids["first"], ids["second"]} and listed[0].estimated_latency_ms == 1.5
        named = [w["from_model"] for w in listed[0].improved]
        assert named == (["yolo", "net"] if who == "admin" else [None, "net"]), "another tenant's model is never named"
        assert [w["from_model"] for w in sdk(server, world, who).offer(ids["first"]).improved] == named
    stranger = sdk(server, world, "stranger")
    assert stranger.offers() == []
    with pytest.raises(FarmAPIError) as missing:
        stranger.offer(ids["first"])
    assert missing.value.status == 404 and ids["first"] in str(missing.value)
    assert [o.id for o in sdk(server, world, "owner").offers(state="open")] != []


def test_members_accept_which_starts_a_workflow_that_measures_nothing(server, world, service):
    ids = world["ids"]
    for who in ("viewer", "reader"):  # a viewer; a member whose account is read-only
        with pytest.raises(FarmAPIError) as refused:
            sdk(server, world, who).offer(ids["first"]).accept()
        assert refused.value.status == 403
    answer = httpx.post(
        f"{server.url}/api/v1/offers/{ids['first']}/accept",
        headers={"Authorization": f"Bearer {world['tokens']['stranger']}"},
    )
    assert answer.status_code == 404
    offer = sdk(server, world, "member").offer(ids["first"])
    workflow = offer.accept()
    assert offer.state == "accepted" and offer.workflow_id == workflow.id and workflow.id in service.submitted
    assert workflow.targets == ["x86-64"] and workflow.options["trials"] == 0
    assert workflow.options["offer_id"] == ids["first"]
    for again in (offer.accept, offer.dismiss):
        with pytest.raises(FarmAPIError) as late:
            again()
        assert late.value.status == 409 and "is accepted" in str(late.value)


def test_the_offers_page_shows_actions_to_members_and_checks_their_csrf_token(server, world):
    ids = world["ids"]

    def page(who: str) -> tuple[httpx.Client, str]:
        client = httpx.Client(base_url=server.url, timeout=30)
        assert client.get("/ui/login", params={"token": world["tokens"][who]}).status_code == 303
        return client, client.get("/ui/offers").text

    _, viewed = page("viewer")
    assert (
        ids["second"] in viewed
        and "from net" in viewed
        and "yolo" not in viewed
        and "25% faster" in viewed
        and "<form" not in viewed.split("<main>")[1]
    )
    member, shown = page("member")
    assert f'action="/ui/offers/{ids["second"]}/dismiss"' in shown
    assert f'action="/ui/offers/{ids["first"]}/accept"' not in shown  # already accepted
    path = f"/ui/offers/{ids['second']}/dismiss"
    assert member.post(path, data={"csrf": "forged"}).status_code == 403
    done = member.post(path, data={"csrf": csrf_token(world["tokens"]["member"])})
    assert done.status_code == 303 and sdk(server, world, "owner").offer(ids["second"]).state == "dismissed"


def test_only_admins_check_for_offers_on_demand(server, world, service):
    with pytest.raises(FarmAPIError) as refused:
        sdk(server, world, "owner").check_offers()
    assert refused.value.status == 403
    assert sdk(server, world, "admin").check_offers(threshold=0.2) == []  # the test's workflow service finds none
    assert service.offer_checks == [0.2]
