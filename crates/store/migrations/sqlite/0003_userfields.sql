-- Custom field definitions, their enumeration items, contacts and custom-field values.
CREATE TABLE uf_fields (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id       TEXT    NOT NULL,
    field_name      TEXT    NOT NULL,
    user_type_id    TEXT    NOT NULL,
    xml_id          TEXT,
    sort            INTEGER NOT NULL,
    multiple        INTEGER NOT NULL,
    mandatory       INTEGER NOT NULL,
    show_filter     TEXT    NOT NULL,
    show_in_list    INTEGER NOT NULL,
    edit_in_list    INTEGER NOT NULL,
    is_searchable   INTEGER NOT NULL,
    settings        TEXT    NOT NULL,
    labels          TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX uf_fields_by_name ON uf_fields (entity_id, field_name);

CREATE TABLE uf_enum_items (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    field_id    INTEGER NOT NULL,
    value       TEXT    NOT NULL,
    sort        INTEGER NOT NULL,
    def         INTEGER NOT NULL,
    xml_id      TEXT    NOT NULL
);
CREATE UNIQUE INDEX uf_enum_items_by_xml_id ON uf_enum_items (field_id, xml_id);

CREATE TABLE contacts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL DEFAULT '',
    last_name       TEXT    NOT NULL DEFAULT '',
    second_name     TEXT    NOT NULL DEFAULT '',
    type_id         TEXT    NOT NULL DEFAULT '',
    source_id       TEXT    NOT NULL DEFAULT '',
    assigned_by_id  INTEGER NOT NULL,
    comments        TEXT    NOT NULL DEFAULT '',
    opened          INTEGER NOT NULL DEFAULT 1,
    export          INTEGER NOT NULL DEFAULT 1,
    created_by_id   INTEGER NOT NULL,
    modify_by_id    INTEGER NOT NULL,
    date_create     INTEGER NOT NULL,
    date_modify     INTEGER NOT NULL
);

-- PHONE / EMAIL values of a contact.
CREATE TABLE contact_multi (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id  INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    value_type  TEXT    NOT NULL,
    value       TEXT    NOT NULL
);
CREATE INDEX contact_multi_by_contact ON contact_multi (contact_id);

-- One row per stored value (several per multiple field), as text. Keyed by field so a field's
-- values can be purged in the background after its definition is gone; readers join on
-- uf_fields and so never see values of a deleted field.
CREATE TABLE uf_values (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    field_id    INTEGER NOT NULL,
    contact_id  INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    value       TEXT    NOT NULL
);
CREATE INDEX uf_values_by_contact ON uf_values (contact_id, field_id);
CREATE INDEX uf_values_by_field ON uf_values (field_id, value);

-- Files uploaded into `file` custom fields (`fileData`), kept in the database so every
-- instance sharing a PostgreSQL store sees them.
CREATE TABLE uf_files (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    content     BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
);
