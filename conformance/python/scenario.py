"""The custom-field scenario of issue 7, run once per client through a small adapter.

Each test module wraps its client in an adapter with the operations below, written with that
client's own idioms (typed wrappers, `call`, batches, list helpers); the scenario never talks
HTTP itself. Steps: create typed fields (one an enumeration with list values), read them back
with `get`, create `FILLERS` more through the client's batch facility, read them all with the
client's list helper (more than 50; this list is not paged), update labels and list values,
write and read a contact's values, page through 60 contacts with the client's list helper, delete
everything; `check_events` then checks what the four field events delivered.
"""

from collections import Counter
from typing import Protocol

from expect import (
    FILLERS,
    LANGUAGES,
    PAGED_CONTACTS,
    assert_same,
    check_definition,
    field_specs,
    filler_specs,
    full_name,
    item_ids,
    labels,
    list_summary,
)


class FieldClient(Protocol):
    prefix: str

    def add_field(self, fields: dict) -> int: ...
    def add_fields(self, many: list[dict]) -> list[int]: ...
    def get_field(self, field_id: int) -> dict: ...
    def list_fields(self, params: dict) -> list[dict]: ...
    def update_field(self, field_id: int, fields: dict) -> object: ...
    def delete_field(self, field_id: int) -> object: ...
    def delete_fields(self, ids: list[int]) -> None: ...
    def add_contact(self, fields: dict) -> int: ...
    def add_contacts(self, many: list[dict]) -> list[int]: ...
    def list_contacts(self, params: dict) -> list[dict]: ...
    def get_contact(self, contact_id: int) -> dict: ...
    def expect_not_found(self, call) -> None: ...


def run(client: FieldClient) -> dict:
    """Runs every step; returns the IDs and names it created (for the event checks)."""
    specs = field_specs(client.prefix)
    ids = create_typed(client, specs)
    fillers = create_fillers(client)
    read_all(client, specs, ids, fillers)
    update(client, specs, ids)
    contact_values(client, specs, ids)
    contact_paging(client)
    delete_all(client, ids, fillers)
    return {"ids": ids, "fillers": fillers, "specs": specs, "prefix": client.prefix}


def create_typed(client: FieldClient, specs: dict) -> dict:
    ids = {}
    for short, spec in specs.items():
        field_id = client.add_field(spec)
        assert type(field_id) is int and field_id > 0, f"add {short} returned {field_id!r}"
        ids[short] = field_id
    for short, spec in specs.items():
        check_definition(client.get_field(ids[short]), spec, ids[short])
    return ids


def create_fillers(client: FieldClient) -> list[int]:
    fillers = client.add_fields(filler_specs(client.prefix))
    assert len(fillers) == FILLERS and len(set(fillers)) == FILLERS, fillers
    assert all(type(i) is int for i in fillers), fillers
    return fillers


def own(client: FieldClient, records: list[dict]) -> list[dict]:
    """The records of this client's scenario fields (other clients share the portal; each
    client's batch test uses a field named `<prefix>ref`, which this leaves out)."""
    mine = f"UF_CRM_{client.prefix.upper()}_"
    return [r for r in records if r["FIELD_NAME"].startswith(mine)]


def read_all(client: FieldClient, specs: dict, ids: dict, fillers: list[int]) -> None:
    # Everything, through the client's list helper: more than 50 of our own fields.
    listed = own(client, client.list_fields({}))
    listed_ids = sorted(int(r["ID"]) for r in listed)
    assert_same(listed_ids, sorted([*ids.values(), *fillers]), "IDs of our fields in the list")
    assert all("EDIT_FORM_LABEL" not in r for r in listed), "list without LANG shows labels"

    # A filter and the LANG directive: labels become strings in that language.
    enums = own(client, client.list_fields({"filter": {"USER_TYPE_ID": "enumeration", "LANG": "en"}}))
    summary = sorted([r["FIELD_NAME"], r["EDIT_FORM_LABEL"]] for r in enums)
    assert_same(
        summary,
        sorted([full_name(specs[s]), specs[s]["LABEL"]] for s in ("tier", "tags")),
        "list filtered on USER_TYPE_ID with LANG",
    )


def update(client: FieldClient, specs: dict, ids: dict) -> None:
    # Labels: a map replaces the whole map (other languages become ""), a string fills all.
    client.update_field(ids["nick"], {"EDIT_FORM_LABEL": {"en": "Nickname"}, "LIST_COLUMN_LABEL": "Ник"})
    nick = client.get_field(ids["nick"])
    expected_form = {lang: ("Nickname" if lang == "en" else "") for lang in LANGUAGES}
    assert_same(nick["EDIT_FORM_LABEL"], expected_form, "EDIT_FORM_LABEL after update")
    assert_same(nick["LIST_COLUMN_LABEL"], labels("Ник"), "LIST_COLUMN_LABEL after update")

    # List values: delete one item, rename one, add one; the untouched item stays.
    before = item_ids(client.get_field(ids["tier"]))
    change = [
        {"ID": before["Bronze"], "DEL": "Y"},
        {"ID": before["Silver"], "VALUE": "Серебро"},
        {"VALUE": "Platinum", "SORT": 40},
    ]
    client.update_field(ids["tier"], {"LIST": change})
    tier = client.get_field(ids["tier"])
    assert_same(
        list_summary(tier),
        [["Серебро", "20", "N"], ["Gold", "30", "N"], ["Platinum", "40", "N"]],
        "tier LIST after update",
    )
    after = item_ids(tier)
    assert after["Серебро"] == before["Silver"] and after["Gold"] == before["Gold"]


def contact_values(client: FieldClient, specs: dict, ids: dict) -> None:
    tier = item_ids(client.get_field(ids["tier"]))
    tags = item_ids(client.get_field(ids["tags"]))
    name = {short: full_name(spec) for short, spec in specs.items()}
    written = {
        name["nick"]: "Ника",
        name["size"]: 42,
        name["height"]: 1.75,
        name["vip"]: "Y",
        name["born"]: "2024-08-22",
        name["tier"]: tier["Gold"],
        name["tags"]: [tags["red"], tags["green"]],
    }
    contact_id = client.add_contact({"NAME": "Ann", "LAST_NAME": client.prefix, **written})
    assert type(contact_id) is int and contact_id > 0, f"crm.contact.add returned {contact_id!r}"

    contact = client.get_contact(contact_id)
    assert_same(
        {key: contact.get(key) for key in [*written, "NAME"]},
        {
            "NAME": "Ann",
            name["nick"]: "Ника",
            name["size"]: 42,
            name["height"]: 1.75,
            name["vip"]: "1",
            name["born"]: "2024-08-22T00:00:00+00:00",
            name["tier"]: tier["Gold"],
            name["tags"]: [tags["red"], tags["green"]],
        },
        "contact values read back",
    )


def contact_paging(client: FieldClient) -> None:
    """`crm.contact.list` pages by 50 with `next` and `total` (unlike the field list): the
    client's list helper must follow the pages and return every contact once."""
    last_name = f"{client.prefix}-paging"
    created = client.add_contacts([{"NAME": f"P{i}", "LAST_NAME": last_name} for i in range(PAGED_CONTACTS)])
    assert len(set(created)) == PAGED_CONTACTS and all(type(i) is int for i in created), created
    rows = client.list_contacts({"filter": {"LAST_NAME": last_name}, "select": ["ID", "NAME"]})
    assert_same(sorted(int(r["ID"]) for r in rows), sorted(created), "IDs of the paged contact list")


def delete_all(client: FieldClient, ids: dict, fillers: list[int]) -> None:
    for field_id in ids.values():
        client.delete_field(field_id)
    client.delete_fields(fillers)
    client.expect_not_found(lambda: client.get_field(ids["tier"]))
    assert own(client, client.list_fields({})) == [], "fields left after delete"


def expected_events(created: dict) -> list[tuple[str, str]]:
    """(event, field ID) pairs the scenario causes (decision 22), sorted: deliveries to one
    handler come in order, but the comparison does not need to rely on it."""
    ids, specs = created["ids"], created["specs"]
    out = []
    for short, field_id in ids.items():
        out.append(("ONCRMCONTACTUSERFIELDADD", str(field_id)))
        if specs[short]["USER_TYPE_ID"] == "enumeration":
            out.append(("ONCRMCONTACTUSERFIELDSETENUMVALUES", str(field_id)))
        out.append(("ONCRMCONTACTUSERFIELDDELETE", str(field_id)))
    for field_id in created["fillers"]:
        out += [("ONCRMCONTACTUSERFIELDADD", str(field_id)), ("ONCRMCONTACTUSERFIELDDELETE", str(field_id))]
    out.append(("ONCRMCONTACTUSERFIELDUPDATE", str(ids["nick"])))
    out.append(("ONCRMCONTACTUSERFIELDUPDATE", str(ids["tier"])))
    out.append(("ONCRMCONTACTUSERFIELDSETENUMVALUES", str(ids["tier"])))
    return sorted(out)


def check_events(events, path: str, created: dict, token: str) -> None:
    """The four events of this client's fields arrived at its handler, each once, in
    Bitrix24's outgoing-webhook shape."""
    ids, specs = created["ids"], created["specs"]
    names = {str(ids[short]): full_name(spec) for short, spec in specs.items()}
    fillers = zip(created["fillers"], filler_specs(created["prefix"]))
    names |= {str(field_id): full_name(spec) for field_id, spec in fillers}
    expected = expected_events(created)

    def mine(forms):
        return [f for f in forms if f.get("data", {}).get("FIELDS", {}).get("ID") in names]

    forms = mine(events.wait_for(path, lambda forms: len(mine(forms)) >= len(expected)))
    got = Counter((f["event"], f["data"]["FIELDS"]["ID"]) for f in forms)
    missing, extra = Counter(expected) - got, got - Counter(expected)
    assert not missing and not extra, (
        f"events: missing {sorted(missing.elements())}, unexpected {sorted(extra.elements())}"
    )
    for form in forms:
        field_id = form["data"]["FIELDS"]["ID"]
        fields = {"ID": field_id, "ENTITY_ID": "CRM_CONTACT", "FIELD_NAME": names[field_id]}
        assert_same(form["data"], {"FIELDS": fields}, "event data")
        assert form["auth"]["application_token"] == token, form["auth"]
        assert form["event_handler_id"].isdigit() and form["ts"].isdigit(), form
