"""standardwebhooks, the Standard Webhooks reference library for Python: it must accept what a
signed outgoing webhook (`b24lite outgoing add --sign`) receives, exactly as received, and refuse
a changed body, a secret that was rotated away, and a delivery of an unsigned webhook.

The body is a form, not JSON, so `verify` is called with `json_parse=False`. The library also
checks that `webhook-timestamp` is within five minutes of now, which holds for a live server.
"""

import pytest
import requests
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


def add_field(portal, name: str) -> str:
    """Adds a string field through the administrator's webhook; returns its id."""
    answer = requests.post(
        f"{portal.webhook_url}crm.contact.userfield.add.json",
        json={"fields": {"FIELD_NAME": name, "USER_TYPE_ID": "string"}},
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["result"])


def delete_field(portal, field_id: str) -> None:
    answer = requests.post(
        f"{portal.webhook_url}crm.contact.userfield.delete.json", json={"id": field_id}, timeout=30
    )
    answer.raise_for_status()


def test_signed_deliveries_verify_with_the_reference_library(portal, events):
    url = events.url("signed")
    event = ("--event", "onCrmContactUserFieldAdd")
    out = portal.cli("outgoing", "add", "--url", url, *event, "--sign")
    webhook_id, _token, secret = out.strip().split("\t")
    plain_out = portal.cli("outgoing", "add", "--url", events.url("plain"), *event)
    plain_id, _plain_token = plain_out.strip().split("\t")
    fields = []
    try:
        fields.append(add_field(portal, "swhfirst"))
        headers, body = events.requests("signed", 1)[0]
        assert headers["webhook-id"].startswith("msg_"), headers
        assert Webhook(secret).verify(body, headers, json_parse=False) is None
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body.replace(b"SWHFIRST", b"SWHOTHER"), headers, json_parse=False)

        plain_headers, plain_body = events.requests("plain", 1)[0]
        assert not any(name.startswith("webhook-") for name in plain_headers), plain_headers
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(plain_body, plain_headers, json_parse=False)

        # After a rotation only the new secret verifies.
        rotated = portal.cli("outgoing", "sign", webhook_id).strip()
        assert rotated.startswith("whsec_") and rotated != secret
        fields.append(add_field(portal, "swhsecond"))
        headers, body = events.requests("signed", 2)[1]
        assert Webhook(rotated).verify(body, headers, json_parse=False) is None
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body, headers, json_parse=False)
    finally:
        for field_id in fields:
            delete_field(portal, field_id)
        portal.cli("outgoing", "delete", webhook_id)
        portal.cli("outgoing", "delete", plain_id)
