//! Deliveries caused by the `crm.contact.userfield.*` REST methods, end to end: the REST call
//! commits the change and its events, and the handler receives them afterwards, in order.

use serde_json::{Value, json};

use crate::receiver::{Receiver, eventually};
use crate::utils::TestServer;

const ALL: [&str; 4] = [
    "ONCRMCONTACTUSERFIELDADD",
    "ONCRMCONTACTUSERFIELDUPDATE",
    "ONCRMCONTACTUSERFIELDDELETE",
    "ONCRMCONTACTUSERFIELDSETENUMVALUES",
];

async fn call_ok(server: &TestServer, method: &str, params: Value) -> Value {
    let (status, body) = server.call(method, params).await;
    assert_eq!(status, 200, "{method}: {body}");
    body["result"].clone()
}

/// Adds a webhook for the four events; returns its token and `event_handler_id` per event.
async fn subscribe(server: &TestServer, url: &str) -> (String, Vec<(String, String)>) {
    let body = json!({"url": url, "events": ALL});
    let (status, hook) = server
        .admin("POST", "/admin/outgoing-webhooks", Some(body))
        .await;
    assert_eq!(status, 201, "{hook}");
    let handlers = hook["handlers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["event"].as_str().unwrap().to_string(),
                h["id"].to_string(),
            )
        })
        .collect();
    (
        hook["application_token"].as_str().unwrap().to_string(),
        handlers,
    )
}

/// The (event, ID, FIELD_NAME) of each delivery received, checking the common parts.
fn summary(receiver: &Receiver, token: &str, handlers: &[(String, String)]) -> Vec<Value> {
    receiver
        .requests()
        .iter()
        .map(|request| {
            let view = request.decoded();
            let event = view["event"].as_str().unwrap();
            let handler = &handlers.iter().find(|(e, _)| e == event).unwrap().1;
            assert_eq!(&view["event_handler_id"], handler);
            assert_eq!(view["auth"]["application_token"], token);
            assert_eq!(view["data"]["FIELDS"]["ENTITY_ID"], "CRM_CONTACT");
            let fields = &view["data"]["FIELDS"];
            json!([event, fields["ID"], fields["FIELD_NAME"]])
        })
        .collect()
}

#[tokio::test]
async fn userfield_changes_deliver_their_events_in_order() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let (token, handlers) = subscribe(&server, &receiver.url).await;

    let add = "crm.contact.userfield.add";
    let update = "crm.contact.userfield.update";
    let s = call_ok(
        &server,
        add,
        json!({"fields": {"FIELD_NAME": "S", "USER_TYPE_ID": "string"}}),
    )
    .await;
    let e = json!({"fields": {"FIELD_NAME": "E", "USER_TYPE_ID": "enumeration",
                              "LIST": [{"VALUE": "a"}]}});
    let e = call_ok(&server, add, e).await;
    call_ok(
        &server,
        update,
        json!({"id": s, "fields": {"LABEL": "Size"}}),
    )
    .await;
    call_ok(
        &server,
        update,
        json!({"id": e, "fields": {"LIST": [{"VALUE": "b"}]}}),
    )
    .await;
    call_ok(&server, "crm.contact.userfield.delete", json!({"id": e})).await;

    receiver.wait_for(7).await;
    let (s, e) = (s.to_string(), e.to_string());
    assert_eq!(
        summary(&receiver, &token, &handlers),
        [
            json!(["ONCRMCONTACTUSERFIELDADD", s, "UF_CRM_S"]),
            json!(["ONCRMCONTACTUSERFIELDADD", e, "UF_CRM_E"]),
            json!(["ONCRMCONTACTUSERFIELDSETENUMVALUES", e, "UF_CRM_E"]),
            json!(["ONCRMCONTACTUSERFIELDUPDATE", s, "UF_CRM_S"]),
            json!(["ONCRMCONTACTUSERFIELDUPDATE", e, "UF_CRM_E"]),
            json!(["ONCRMCONTACTUSERFIELDSETENUMVALUES", e, "UF_CRM_E"]),
            json!(["ONCRMCONTACTUSERFIELDDELETE", e, "UF_CRM_E"]),
        ]
    );
}

#[tokio::test]
async fn a_failed_call_fires_nothing_and_a_batch_collapses_identical_deliveries() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let (token, handlers) = subscribe(&server, &receiver.url).await;
    let fields = json!({"fields": {"FIELD_NAME": "S", "USER_TYPE_ID": "string"}});
    let s = call_ok(&server, "crm.contact.userfield.add", fields.clone()).await;

    // The same name again is refused: no event.
    let (status, _) = server.call("crm.contact.userfield.add", fields).await;
    assert_eq!(status, 400);

    // Two identical updates in one batch: one delivery (decision 23).
    let cmd = format!("crm.contact.userfield.update?id={s}&fields[LABEL]=x");
    call_ok(&server, "batch", json!({"cmd": {"a": cmd, "b": cmd}})).await;
    receiver.wait_for(2).await;
    eventually("both deliveries recorded", || async {
        let (_, list) = server
            .admin("GET", "/admin/deliveries?status=delivered", None)
            .await;
        (list.as_array().unwrap().len() == 2).then_some(())
    })
    .await;
    let (_, events) = server.admin("GET", "/admin/events", None).await;
    assert_eq!(events.as_array().unwrap().len(), 3, "{events}");
    let s = s.to_string();
    assert_eq!(
        summary(&receiver, &token, &handlers),
        [
            json!(["ONCRMCONTACTUSERFIELDADD", s, "UF_CRM_S"]),
            json!(["ONCRMCONTACTUSERFIELDUPDATE", s, "UF_CRM_S"]),
        ]
    );
}
