"""bitrix24-rest: every call is a GET of `{webhook}/{method}.json` with PHP bracket parameters
(`fields[LIST][0][VALUE]=..`) in the query string, and always a `start` parameter.

The client has no batch helper and does not encode the values of a `batch` command, so a batch
command here carries one parameter (as it would on a portal). It reports any HTTP status other
than 200/201 as `BitrixError("HTTP error: <status>")` and an `error` in a 200 body as
`BitrixError(description, code)`; its list calls fetch every page when `next` is present.
"""

import asyncio

import pytest
from bitrix24 import Bitrix24, BitrixError

import scenario
from expect import assert_same


@pytest.fixture(scope="module")
def bx(portal):
    return Bitrix24(portal.webhook_url)


def call(bx: Bitrix24, method: str, params: dict | None = None):
    """The client's async mode (its synchronous mode is deprecated)."""

    async def run():
        return await bx.callMethod(method, dict(params or {}))

    return asyncio.run(run())


def test_profile_and_current_user(bx):
    profile = call(bx, "profile")
    assert_same({k: profile[k] for k in ("ID", "ADMIN")}, {"ID": "1", "ADMIN": True})
    user = call(bx, "user.current")
    assert_same({k: user[k] for k in ("ID", "ACTIVE")}, {"ID": "1", "ACTIVE": True})


def test_server_time_and_scope(bx):
    assert call(bx, "server.time").startswith("20")
    assert "crm" in call(bx, "scope")


def test_unknown_method_is_an_http_error(bx):
    # The client keeps only the status of a failed answer; Bitrix24 answers an unknown method
    # with 404 ERROR_METHOD_NOT_FOUND (decision 1), which this client reports as below.
    with pytest.raises(BitrixError) as caught:
        call(bx, "crm.contact.nosuchthing")
    assert caught.value.message == "HTTP error: 404"


def test_batch_with_references(bx):
    field_id = call(bx, "crm.contact.userfield.add", {"fields": {"FIELD_NAME": "restref", "USER_TYPE_ID": "string"}})
    batch = call(
        bx,
        "batch",
        {
            "halt": 1,
            "cmd": {
                "get": f"crm.contact.userfield.get?id={field_id}",
                "drop": "crm.contact.userfield.delete?id=$result[get][ID]",
            },
        },
    )
    assert_same(batch["result_error"], [], "result_error")
    assert batch["result"]["get"]["FIELD_NAME"] == "UF_CRM_RESTREF"
    assert batch["result"]["drop"] is True


class Adapter:
    prefix = "rest"

    def __init__(self, bx: Bitrix24):
        self.bx = bx

    def add_field(self, fields):
        return call(self.bx, "crm.contact.userfield.add", {"fields": fields})

    def add_fields(self, many):
        return [self.add_field(fields) for fields in many]

    def get_field(self, field_id):
        return call(self.bx, "crm.contact.userfield.get", {"id": field_id})

    def list_fields(self, params):
        return call(self.bx, "crm.contact.userfield.list", params)

    def update_field(self, field_id, fields):
        assert call(self.bx, "crm.contact.userfield.update", {"id": field_id, "fields": fields}) is True

    def delete_field(self, field_id):
        assert call(self.bx, "crm.contact.userfield.delete", {"id": field_id}) is True

    def delete_fields(self, ids):
        # One-parameter commands, 50 to a batch.
        for chunk in (ids[i : i + 50] for i in range(0, len(ids), 50)):
            cmd = {f"d{i}": f"crm.contact.userfield.delete?id={i}" for i in chunk}
            batch = call(self.bx, "batch", {"halt": 1, "cmd": cmd})
            assert_same(batch["result_error"], [], "result_error")
            assert list(batch["result"].values()) == [True] * len(chunk)

    def add_contact(self, fields):
        return call(self.bx, "crm.contact.add", {"fields": fields})

    def add_contacts(self, many):
        return [self.add_contact(fields) for fields in many]

    def list_contacts(self, params):
        return call(self.bx, "crm.contact.list", params)

    def get_contact(self, contact_id):
        return call(self.bx, "crm.contact.get", {"id": contact_id})

    def expect_not_found(self, call_it):
        # Only the status survives in this client: Bitrix24 sends ERROR_NOT_FOUND with a 400.
        with pytest.raises(BitrixError) as caught:
            call_it()
        assert caught.value.message == "HTTP error: 400"


def test_custom_field_lifecycle(bx, events, subscribe):
    token = subscribe("rest")
    created = scenario.run(Adapter(bx))
    scenario.check_events(events, "rest", created, token)
