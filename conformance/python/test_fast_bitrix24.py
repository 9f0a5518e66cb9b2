"""fast_bitrix24: sends nearly everything through `batch`.

`call()` wraps each item in a batch command (`method?fields[..]=..` built by its own
`http_build_query`, with an extra `__order` parameter the server must ignore) and lower-cases
method names; `get_all()` posts the first page as JSON and asks for further pages in batches;
`call_batch()` sends a hand-written batch. Errors inside a batch raise
`ErrorInServerResponseException` carrying `result_error`.
"""

import pytest
from fast_bitrix24 import Bitrix
from fast_bitrix24.server_response import ErrorInServerResponseException

import scenario
from expect import assert_same


@pytest.fixture(scope="module")
def bx(portal):
    return Bitrix(portal.webhook_url, verbose=False)


def single(bx: Bitrix, method: str, params: dict):
    """One item through `call()`. For a result that is an object the client returns the batch's
    `{"order0000000000": result}` map; an integer or boolean comes back bare."""
    answer = bx.call(method, params)
    if isinstance(answer, dict) and list(answer) == ["order0000000000"]:
        return answer["order0000000000"]
    return answer


def test_profile_and_current_user(bx):
    profile = single(bx, "profile", {"ANY": 1})
    assert_same({k: profile[k] for k in ("ID", "ADMIN")}, {"ID": "1", "ADMIN": True})
    user = bx.call("user.current", raw=True)["result"]
    assert_same({k: user[k] for k in ("ID", "ACTIVE")}, {"ID": "1", "ACTIVE": True})


def test_server_time_and_scope(bx):
    answer = bx.call("server.time", raw=True)
    assert answer["result"].startswith("20") and "operating" in answer["time"]
    assert "crm" in bx.call("scope", raw=True)["result"]


def test_unknown_method_is_a_batch_error(bx):
    with pytest.raises(ErrorInServerResponseException) as caught:
        bx.call("crm.contact.NoSuchThing", {"id": 1})
    (error,) = caught.value.args[0].values()
    assert_same(error, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"})


def test_batch_with_references(bx):
    add = "crm.contact.userfield.add?fields[FIELD_NAME]=fastref&fields[USER_TYPE_ID]=string"
    results = bx.call_batch(
        {
            "halt": 1,
            "cmd": {
                "add": add,
                "get": "crm.contact.userfield.get?id=$result[add]",
                "drop": "crm.contact.userfield.delete?id=$result[get][ID]",
            },
        }
    )
    assert results["get"]["FIELD_NAME"] == "UF_CRM_FASTREF"
    assert results["get"]["ID"] == str(results["add"])
    assert results["drop"] is True


class Adapter:
    prefix = "fast"

    def __init__(self, bx: Bitrix):
        self.bx = bx

    def add_field(self, fields):
        return single(self.bx, "crm.contact.userfield.add", {"fields": fields})

    def add_fields(self, many):
        return list(self.bx.call("crm.contact.userfield.add", [{"fields": f} for f in many]))

    def get_field(self, field_id):
        return single(self.bx, "crm.contact.userfield.get", {"id": field_id})

    def list_fields(self, params):
        return self.bx.get_all("crm.contact.userfield.list", params)

    def update_field(self, field_id, fields):
        assert single(self.bx, "crm.contact.userfield.update", {"id": field_id, "fields": fields}) is True

    def delete_field(self, field_id):
        assert single(self.bx, "crm.contact.userfield.delete", {"id": field_id}) is True

    def delete_fields(self, ids):
        answers = self.bx.call("crm.contact.userfield.delete", [{"id": i} for i in ids])
        assert list(answers) == [True] * len(ids)

    def add_contact(self, fields):
        return single(self.bx, "crm.contact.add", {"fields": fields})

    def add_contacts(self, many):
        return list(self.bx.call("crm.contact.add", [{"fields": f} for f in many]))

    def list_contacts(self, params):
        return self.bx.get_all("crm.contact.list", params)

    def get_contact(self, contact_id):
        return single(self.bx, "crm.contact.get", {"id": contact_id})

    def expect_not_found(self, call):
        with pytest.raises(ErrorInServerResponseException) as caught:
            call()
        (error,) = caught.value.args[0].values()
        assert error["error"] == "ERROR_NOT_FOUND", error


def test_custom_field_lifecycle(bx, events, subscribe):
    token = subscribe("fast")
    created = scenario.run(Adapter(bx))
    scenario.check_events(events, "fast", created, token)
