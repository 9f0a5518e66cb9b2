//! `userfieldtype.*` and fields of application-registered types: registration and its errors,
//! `crm.userfield.types`, fields created by code or by full id, `USER_TYPE_OWNER`, values, and
//! removal with the application.

use serde_json::{Value, json};

use crate::utils::{TestServer, rest_error as error};

fn type_params(code: &str, handler: &str) -> Value {
    json!({
        "USER_TYPE_ID": code, "HANDLER": handler, "TITLE": "Rating",
        "DESCRIPTION": "Stars from 1 to 5", "OPTIONS": {"height": 60}
    })
}

#[tokio::test]
async fn registration_listing_and_errors() {
    let server = TestServer::start().await;
    let app = server.install_app("crm,placement", &[]);
    let token = &app.access_token;
    let add = type_params("rating", "http://127.0.0.1:9/rating");
    let (status, body) = server.app_call(token, "userfieldtype.add", add).await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");

    let taken = error(
        "ERROR_CORE",
        "Unable to set placement handler: Handler already binded",
    );
    for again in [
        type_params("rating", "http://127.0.0.1:9/other"),
        type_params("stars", "http://127.0.0.1:9/rating"),
    ] {
        let (status, body) = server.app_call(token, "userfieldtype.add", again).await;
        assert_eq!((status, body), (400, taken.clone()));
    }
    let (status, body) = server
        .app_call(
            token,
            "userfieldtype.add",
            json!({"HANDLER": "http://127.0.0.1:9/x"}),
        )
        .await;
    assert_eq!(
        (status, &body["error"], &body["error_description"]),
        (
            400,
            &json!("ERROR_ARGUMENT"),
            &json!("Argument 'USER_TYPE_ID' is null or empty")
        )
    );
    let (status, body) = server
        .app_call(token, "userfieldtype.add", json!({"USER_TYPE_ID": "x"}))
        .await;
    assert_eq!(
        (status, &body["error_description"]),
        (400, &json!("Argument 'HANDLER' is null or empty"))
    );
    let elsewhere = type_params("remote", "http://other.example.com/t");
    let (status, body) = server.app_call(token, "userfieldtype.add", elsewhere).await;
    assert_eq!(
        (status, body),
        (400, error("ERROR_WRONG_HANDLER_URL", "Wrong handler URL"))
    );

    let (status, listed) = server
        .app_call(token, "userfieldtype.list", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (&listed["result"], &listed["total"]),
        (
            &json!([{"USER_TYPE_ID": "rating", "HANDLER": "http://127.0.0.1:9/rating", "TITLE": "Rating", "DESCRIPTION": "Stars from 1 to 5"}]),
            &json!(1)
        )
    );
    let (_, types) = server
        .app_call(token, "crm.userfield.types", json!({}))
        .await;
    let last = types["result"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last, json!({"ID": "rating", "title": "Rating"}));
    let (_, types) = server.call("crm.userfield.types", json!({})).await;
    assert!(
        !types["result"].to_string().contains("rating"),
        "only the owning application sees its types"
    );

    let change = json!({"USER_TYPE_ID": "rating", "TITLE": "Score"});
    let (status, body) = server.app_call(token, "userfieldtype.update", change).await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
    let missing = json!({"USER_TYPE_ID": "nope", "TITLE": "x"});
    let not_found = error("ERROR_NOT_FOUND", "User Field Type not found");
    let (status, body) = server
        .app_call(token, "userfieldtype.update", missing)
        .await;
    assert_eq!((status, body), (400, not_found.clone()));
    let (status, body) = server
        .app_call(
            token,
            "userfieldtype.delete",
            json!({"USER_TYPE_ID": "rating"}),
        )
        .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
    let (status, body) = server
        .app_call(
            token,
            "userfieldtype.delete",
            json!({"USER_TYPE_ID": "rating"}),
        )
        .await;
    assert_eq!((status, body), (400, not_found));
}

#[tokio::test]
async fn who_may_register_types() {
    let server = TestServer::start().await;
    let add = type_params("rating", "http://127.0.0.1:9/rating");
    let (status, body) = server.call("userfieldtype.add", add.clone()).await;
    assert_eq!(
        (status, body),
        (
            403,
            error(
                "WRONG_AUTH_TYPE",
                "Current authorization type is denied for this method"
            )
        )
    );
    let crm_only = server.install_app("crm", &[]).access_token;
    let (status, body) = server
        .app_call(&crm_only, "userfieldtype.add", add.clone())
        .await;
    assert_eq!(
        (status, &body["error"]),
        (403, &json!("insufficient_scope"))
    );

    server.cli(&["user", "add", "--name", "Ann"]);
    let app = server.install_app("crm,placement", &[]);
    let employee = server.user_token(&app, 2).await;
    let (status, body) = server.app_call(&employee, "userfieldtype.add", add).await;
    assert_eq!(
        (status, body),
        (403, error("ACCESS_DENIED", "Access denied!"))
    );
}

#[tokio::test]
async fn fields_of_an_application_type() {
    let server = TestServer::start().await;
    let app = server.install_app("crm,placement", &[]);
    let token = &app.access_token;
    let add = type_params("rating", "http://127.0.0.1:9/rating");
    server.app_call(token, "userfieldtype.add", add).await;

    // The application names its type by code; the portal stores the full id.
    let field = json!({"fields": {
        "FIELD_NAME": "SCORE", "USER_TYPE_ID": "rating", "SETTINGS": {"MAX": 5, "STYLE": "stars"},
        "SHOW_FILTER": "Y"
    }});
    let (status, body) = server
        .app_call(token, "crm.contact.userfield.add", field)
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["result"].clone();
    let (_, got) = server
        .app_call(token, "crm.contact.userfield.get", json!({"id": id}))
        .await;
    let got = &got["result"];
    assert_eq!(
        (
            &got["USER_TYPE_ID"],
            &got["USER_TYPE_OWNER"],
            &got["SETTINGS"],
            // The portal cannot filter on an application's type (fact 30).
            &got["SHOW_FILTER"]
        ),
        (
            &json!("rating"),
            &json!(app.client_id),
            &json!({"MAX": 5, "STYLE": "stars"}),
            &json!("N")
        )
    );
    let (_, listed) = server
        .call(
            "crm.contact.userfield.list",
            json!({"filter": {"FIELD_NAME": "UF_CRM_SCORE"}}),
        )
        .await;
    assert_eq!(listed["result"][0]["USER_TYPE_OWNER"], json!(app.client_id));

    // Others give the full id; an unknown type is refused as Bitrix24 refuses it.
    let full = format!("rest_{}_rating", app.id);
    let by_id = json!({"fields": {"FIELD_NAME": "SCORE2", "USER_TYPE_ID": full}});
    let (status, body) = server.call("crm.contact.userfield.add", by_id).await;
    assert_eq!(status, 200, "{body}");
    let by_code = json!({"fields": {"FIELD_NAME": "SCORE3", "USER_TYPE_ID": "rating"}});
    let (status, body) = server.call("crm.contact.userfield.add", by_code).await;
    assert_eq!(
        (status, body),
        (400, error("ERROR_CORE", "Invalid user type specified."))
    );

    // Values are kept as text.
    let contact = json!({"fields": {"NAME": "Ann", "UF_CRM_SCORE": "4 stars"}});
    let (status, created) = server.call("crm.contact.add", contact).await;
    assert_eq!(status, 200, "{created}");
    let (_, read) = server
        .call("crm.contact.get", json!({"id": created["result"]}))
        .await;
    assert_eq!(read["result"]["UF_CRM_SCORE"], json!("4 stars"));

    // Uninstalling removes the type; its fields stay, shown by their stored id.
    server.cli(&["app", "uninstall", "--client-id", &app.client_id]);
    let (_, got) = server
        .call("crm.contact.userfield.get", json!({"id": id}))
        .await;
    assert_eq!(
        (
            &got["result"]["USER_TYPE_ID"],
            got["result"].get("USER_TYPE_OWNER")
        ),
        (&json!(full), None)
    );
}
