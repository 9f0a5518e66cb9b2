"""What every client must see: the test data of the scenario and strict JSON comparison.

Expected values follow `shared/spec/userfields.md` and `decisions.md` (IDs and SORT as strings,
labels as maps of the portal's languages, contact values typed per decision 19).
"""

import json
from urllib.parse import parse_qsl

# A bitrix24.com portal's languages, in its order (decision 16): every label map has these keys.
LANGUAGES = ["ar", "br", "en", "fr", "id", "it", "ja", "la", "ms", "pl", "de", "sc", "tc", "th", "tr", "vn"]

# How many extra string fields each client creates through its batch facility, so that its
# list helper has to return more than one page's worth (50) of fields.
FILLERS = 50

# Contacts each client creates in a batch and reads back through its paging helper (pages of 50).
PAGED_CONTACTS = 60


def same(actual, expected) -> bool:
    """JSON equality that also compares types: `1`, `1.0`, `"1"` and `True` all differ."""
    return json.dumps(actual, sort_keys=True) == json.dumps(expected, sort_keys=True)


def assert_same(actual, expected, what: str = "value") -> None:
    assert same(actual, expected), (
        f"{what}:\n  got      {json.dumps(actual, ensure_ascii=False, sort_keys=True)}\n"
        f"  expected {json.dumps(expected, ensure_ascii=False, sort_keys=True)}"
    )


def php_form(body: str) -> dict:
    """Decodes `a[b][c]=x&...` into nested dicts, as PHP fills `$_POST`."""
    out: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head, _, rest = key.partition("[")
        path = [head] + ([p.rstrip("]") for p in rest.split("[")] if rest else [])
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def field_specs(prefix: str) -> dict:
    """The typed fields a client creates, by short name. Names go in lower case on purpose: the
    server upper-cases them and adds `UF_CRM_`. Labels carry non-ASCII text so that every
    client's encoding (JSON, form, query string) is exercised."""
    p = prefix.lower()
    return {
        "nick": {"FIELD_NAME": f"{p}_nick", "USER_TYPE_ID": "string", "LABEL": "Прозвище", "SORT": 110},
        "size": {"FIELD_NAME": f"{p}_size", "USER_TYPE_ID": "integer", "LABEL": "Shoe size", "SORT": 120},
        "height": {
            "FIELD_NAME": f"{p}_height",
            "USER_TYPE_ID": "double",
            "LABEL": "Größe",
            "SORT": 130,
            "SETTINGS": {"PRECISION": 2},
        },
        "vip": {"FIELD_NAME": f"{p}_vip", "USER_TYPE_ID": "boolean", "LABEL": "VIP", "SORT": 140},
        "born": {"FIELD_NAME": f"{p}_born", "USER_TYPE_ID": "date", "LABEL": "Birthday", "SORT": 150},
        "tier": {
            "FIELD_NAME": f"{p}_tier",
            "USER_TYPE_ID": "enumeration",
            "LABEL": "Tier",
            "SORT": 160,
            "LIST": [
                {"VALUE": "Bronze", "SORT": 10, "DEF": "Y"},
                {"VALUE": "Silver", "SORT": 20},
                {"VALUE": "Gold", "SORT": 30},
            ],
        },
        "tags": {
            "FIELD_NAME": f"{p}_tags",
            "USER_TYPE_ID": "enumeration",
            "LABEL": "Tags",
            "SORT": 170,
            "MULTIPLE": "Y",
            "LIST": [{"VALUE": "red", "SORT": 10}, {"VALUE": "green", "SORT": 20}],
        },
    }


def filler_specs(prefix: str) -> list[dict]:
    p = prefix.lower()
    return [
        {"FIELD_NAME": f"{p}_fill_{i:02}", "USER_TYPE_ID": "string", "LABEL": f"Filler {i}", "SORT": 500 + i}
        for i in range(FILLERS)
    ]


def full_name(spec: dict) -> str:
    return "UF_CRM_" + spec["FIELD_NAME"].upper()


def labels(text: str) -> dict:
    return {lang: text for lang in LANGUAGES}


def check_definition(record: dict, spec: dict, field_id: int) -> None:
    """A `get` record against what was sent to `add`."""
    name = full_name(spec)
    summary = {key: record.get(key) for key in ("ID", "ENTITY_ID", "FIELD_NAME", "USER_TYPE_ID")}
    summary |= {key: record.get(key) for key in ("XML_ID", "SORT", "MULTIPLE", "MANDATORY")}
    expected = {
        "ID": str(field_id),
        "ENTITY_ID": "CRM_CONTACT",
        "FIELD_NAME": name,
        "USER_TYPE_ID": spec["USER_TYPE_ID"],
        "XML_ID": None,
        "SORT": str(spec["SORT"]),
        "MULTIPLE": spec.get("MULTIPLE", "N"),
        "MANDATORY": "N",
    }
    assert_same(summary, expected, f"{name} definition")
    for key in ("EDIT_FORM_LABEL", "LIST_COLUMN_LABEL", "LIST_FILTER_LABEL"):
        assert_same(record.get(key), labels(spec["LABEL"]), f"{name} {key}")
    if spec["USER_TYPE_ID"] == "enumeration":
        assert_same(list_summary(record), spec_list_summary(spec), f"{name} LIST")
    else:
        assert "LIST" not in record, f"{name}: LIST on a {spec['USER_TYPE_ID']} field"


def list_summary(record: dict) -> list[list]:
    """`[VALUE, SORT, DEF]` of each enumeration item, in the order returned."""
    return [[item["VALUE"], item["SORT"], item["DEF"]] for item in record["LIST"]]


def spec_list_summary(spec: dict) -> list[list]:
    return [[i["VALUE"], str(i.get("SORT", 500)), i.get("DEF", "N")] for i in spec["LIST"]]


def item_ids(record: dict) -> dict:
    """Enumeration item IDs by VALUE; IDs must be numeric strings."""
    ids = {}
    for item in record["LIST"]:
        assert isinstance(item["ID"], str) and item["ID"].isdigit(), f"item ID {item['ID']!r}"
        ids[item["VALUE"]] = item["ID"]
    return ids
