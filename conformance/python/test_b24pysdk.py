"""b24pysdk (the official Python SDK): typed wrappers over JSON POSTs, HTTPS only.

The SDK is driven the way its README shows: `Client(BitrixWebhook(...))` and lazy requests
(`client.crm.contact.userfield.add(...).result`), `call_batch` for batches, `.as_list()` for
paging, and the token's low-level `call_batch` for commands that reference earlier results.
"""

import pytest
from b24pysdk import BitrixWebhook, Client
from b24pysdk.errors import BitrixAPIError

import scenario
from expect import assert_same


@pytest.fixture(scope="module")
def token(portal):
    return BitrixWebhook(domain=portal.domain, webhook_token=portal.webhook_token)


@pytest.fixture(scope="module")
def client(token):
    return Client(token)


def test_profile_and_current_user(client):
    profile = client.profile().result
    assert_same({k: profile[k] for k in ("ID", "ADMIN", "NAME")}, {"ID": "1", "ADMIN": True, "NAME": "Admin"})
    user = client.user.current().result
    assert_same({k: user[k] for k in ("ID", "ACTIVE")}, {"ID": "1", "ACTIVE": True})


def test_server_time_and_scope(client):
    request = client.server.time()
    assert request.result.startswith("20") and request.time.duration >= 0
    assert "crm" in client.scope().result


def test_unknown_method_is_an_api_error(token):
    with pytest.raises(BitrixAPIError) as caught:
        token.call_method("crm.contact.nosuchthing", {})
    assert caught.value.error == "ERROR_METHOD_NOT_FOUND"
    assert caught.value.error_description == "Method not found!"


def test_batch_with_references(token):
    answer = token.call_batch(
        {
            "add": ("crm.contact.userfield.add", {"fields": {"FIELD_NAME": "pysdkref", "USER_TYPE_ID": "string"}}),
            "get": ("crm.contact.userfield.get", {"id": "$result[add]"}),
            "drop": ("crm.contact.userfield.delete", {"id": "$result[get][ID]"}),
        },
        halt=True,
    )
    batch = answer["result"]
    assert_same(batch["result_error"], [], "result_error")
    assert batch["result"]["get"]["FIELD_NAME"] == "UF_CRM_PYSDKREF"
    assert batch["result"]["get"]["ID"] == str(batch["result"]["add"])
    assert batch["result"]["drop"] is True


class Adapter:
    prefix = "pysdk"

    def __init__(self, client: Client):
        self.client = client
        self.fields = client.crm.contact.userfield

    def add_field(self, fields):
        return self.fields.add(fields=fields).result

    def add_fields(self, many):
        requests = {f"f{i}": self.fields.add(fields=f) for i, f in enumerate(many)}
        batch = self.client.call_batch(requests, halt=True).result
        assert not batch.result_error, batch.result_error
        return [batch.result[key] for key in requests]

    def get_field(self, field_id):
        return self.fields.get(bitrix_id=field_id).result

    def list_fields(self, params):
        return self.fields.list(**params).as_list().result

    def update_field(self, field_id, fields):
        assert self.fields.update(bitrix_id=field_id, fields=fields).result is True

    def delete_field(self, field_id):
        assert self.fields.delete(bitrix_id=field_id).result is True

    def delete_fields(self, ids):
        batch = self.client.call_batches([self.fields.delete(bitrix_id=i) for i in ids]).result
        assert not batch.result_error, batch.result_error
        assert list(batch.result) == [True] * len(ids)

    def add_contact(self, fields):
        return self.client.crm.contact.add(fields=fields).result

    def add_contacts(self, many):
        batch = self.client.call_batches([self.client.crm.contact.add(fields=f) for f in many]).result
        assert not batch.result_error, batch.result_error
        # Over 50 commands the SDK merges its batches' results into one map keyed "0", "1"...
        return [batch.result[str(i)] for i in range(len(many))]

    def list_contacts(self, params):
        return self.client.crm.contact.list(**params).as_list().result

    def get_contact(self, contact_id):
        return self.client.crm.contact.get(bitrix_id=contact_id).result

    def expect_not_found(self, call):
        with pytest.raises(BitrixAPIError) as caught:
            call()
        assert caught.value.error == "ERROR_NOT_FOUND", caught.value.error_description


def test_custom_field_lifecycle(client, events, subscribe):
    token = subscribe("pysdk")
    created = scenario.run(Adapter(client))
    scenario.check_events(events, "pysdk", created, token)
