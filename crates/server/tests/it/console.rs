//! The web console (`/console`): signing in with the admin key, the session and CSRF gates, and
//! each page's actions, checked through the HTML it renders and through REST, the admin API and
//! real handlers on loopback.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::receiver::{Behaviour, Receiver, eventually};
use crate::utils::{TestServer, keys_of};

const ADD: &str = "ONCRMCONTACTUSERFIELDADD";
const UPDATE: &str = "ONCRMCONTACTUSERFIELDUPDATE";
const DELETE: &str = "ONCRMCONTACTUSERFIELDDELETE";
const SETENUM: &str = "ONCRMCONTACTUSERFIELDSETENUMVALUES";

/// A browser without JavaScript: follows no redirect by itself, keeps the session cookie.
struct Browser {
    base_url: String,
    client: reqwest::Client,
    cookie: Option<String>,
}

/// What one request answered.
struct Answer {
    status: u16,
    location: String,
    set_cookie: String,
    body: String,
}

impl Browser {
    fn new(server: &TestServer) -> Browser {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        Browser {
            base_url: server.base_url.clone(),
            client,
            cookie: None,
        }
    }

    /// Signs in with the server's admin key.
    async fn signed_in(server: &TestServer) -> Browser {
        let mut browser = Browser::new(server);
        let answer = browser.sign_in(&admin_key(server)).await;
        assert_eq!((answer.status, answer.location.as_str()), (303, "/console"));
        browser
    }

    async fn sign_in(&mut self, key: &str) -> Answer {
        let answer = self.send_form("/console/login", &[("key", key)]).await;
        if let Some(pair) = answer
            .set_cookie
            .split(';')
            .next()
            .filter(|p| !p.is_empty())
        {
            self.cookie = Some(pair.to_string());
        }
        answer
    }

    async fn get(&self, path: &str) -> Answer {
        let mut request = self.client.get(format!("{}{path}", self.base_url));
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        answer(request.send().await.unwrap()).await
    }

    /// A page that must be there: its HTML.
    async fn page(&self, path: &str) -> String {
        let answer = self.get(path).await;
        assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
        answer.body
    }

    /// Posts a form exactly as given (no CSRF token added).
    async fn send_form(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = self
            .client
            .post(format!("{}{path}", self.base_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        answer(request.send().await.unwrap()).await
    }

    /// Posts a form with the session's CSRF token, as the console's own forms do; expects the
    /// redirect and returns the flash message of the page it leads to.
    async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> (String, String) {
        let token = csrf(&self.page("/console").await);
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        let answer = self.send_form(path, &all).await;
        assert_eq!(answer.status, 303, "POST {path}: {}", answer.body);
        let page = self.page(&answer.location).await;
        (answer.location, flash(&page).unwrap_or_default())
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (location, set_cookie) = (header(LOCATION), header(SET_COOKIE));
    Answer {
        status: response.status().as_u16(),
        location,
        set_cookie,
        body: response.text().await.unwrap(),
    }
}

fn admin_key(server: &TestServer) -> String {
    let key = std::fs::read_to_string(server.data_dir.path().join("admin.key")).unwrap();
    key.trim().to_string()
}

/// The text between `start` and the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    let len = html[from..].find(end)?;
    Some(&html[from..from + len])
}

fn csrf(html: &str) -> String {
    between(html, "name=\"csrf\" value=\"", "\"")
        .expect("a form with a CSRF token")
        .to_string()
}

/// The page's flash message, entities decoded.
fn flash(html: &str) -> Option<String> {
    let tag = between(html, "<p class=\"flash", "</p>")?;
    let text = &tag[tag.find('>')? + 1..];
    Some(
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
}

async fn rest_fields(server: &TestServer) -> Vec<Value> {
    let (status, body) = server.call("crm.contact.userfield.list", json!({})).await;
    assert_eq!(status, 200, "{body}");
    body["result"].as_array().unwrap().clone()
}

async fn rest_field(server: &TestServer, id: &str) -> (u16, Value) {
    server
        .call("crm.contact.userfield.get", json!({"id": id}))
        .await
}

/// Adds an outgoing webhook through the admin API; returns its id.
async fn add_webhook(server: &TestServer, url: &str, events: &[&str]) -> i64 {
    let body = json!({"url": url, "events": events});
    let (status, hook) = server
        .admin("POST", "/admin/outgoing-webhooks", Some(body))
        .await;
    assert_eq!(status, 201, "{hook}");
    hook["id"].as_i64().unwrap()
}

/// The field id of the `/console/fields/{id}` page a redirect leads to.
fn field_id(location: &str) -> String {
    location
        .strip_prefix("/console/fields/")
        .unwrap_or_else(|| panic!("not a field page: {location}"))
        .to_string()
}

#[tokio::test]
async fn signing_in_takes_the_admin_key_and_every_page_a_session() {
    let server = TestServer::start().await;
    let console = server.printed("console: ").await;
    assert_eq!(console, format!("{}/console", server.base_url));

    // Without a session every page sends the visitor to the login form, and a form does nothing.
    let mut browser = Browser::new(&server);
    for path in [
        "/console",
        "/console/fields",
        "/console/deliveries/1",
        "/console/apps",
    ] {
        let answer = browser.get(path).await;
        assert_eq!(
            (answer.status, answer.location.as_str()),
            (303, "/console/login")
        );
    }
    let fields = [
        ("field_name", "SNEAK"),
        ("user_type_id", "string"),
        ("label", ""),
    ];
    let answer = browser.send_form("/console/fields", &fields).await;
    assert_eq!(
        (answer.status, answer.location.as_str()),
        (303, "/console/login")
    );
    assert!(rest_fields(&server).await.is_empty());

    let nowhere = browser.get("/console/nowhere/at/all").await;
    assert_eq!(nowhere.status, 404);
    assert_eq!(
        flash(&nowhere.body).as_deref(),
        Some("The console has no such page.")
    );

    let login = browser.get("/console/login").await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("name=\"key\""), "{}", login.body);

    let wrong = browser.sign_in("not-the-key").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        flash(&wrong.body).as_deref(),
        Some("That is not the admin key.")
    );
    assert!(wrong.body.contains("name=\"key\""));
    assert!(wrong.set_cookie.is_empty());
    assert_eq!(browser.get("/console").await.status, 303);

    let right = browser.sign_in(&admin_key(&server)).await;
    assert_eq!((right.status, right.location.as_str()), (303, "/console"));
    for part in [
        "b24lite_console=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
    ] {
        assert!(right.set_cookie.contains(part), "{}", right.set_cookie);
    }
    assert!(
        !right.set_cookie.contains("Secure"),
        "plain HTTP: no Secure flag"
    );

    // The overview: the portal, the administrator's webhook URL, counts and the queue.
    let overview = browser.page("/console").await;
    let store = server.open_store().await;
    let mut conn = store.pool().acquire().await.unwrap();
    let portal = b24lite_store::portal::get_portal(&mut conn).await.unwrap();
    drop(conn);
    assert!(overview.contains(&portal.member_id));
    assert!(overview.contains(&portal.domain));
    assert!(overview.contains(&format!("value=\"{}\"", server.webhook_url)));
    assert!(overview.contains("<strong id=\"queue-depth\">0</strong>"));

    // Signing out ends the session on the server: the old cookie no longer opens pages.
    let token = csrf(&overview);
    let out = browser
        .send_form("/console/logout", &[("csrf", &token)])
        .await;
    assert_eq!((out.status, out.location.as_str()), (303, "/console/login"));
    assert!(out.set_cookie.contains("Max-Age=0"));
    assert_eq!(browser.get("/console").await.status, 303);
}

#[tokio::test]
async fn the_session_cookie_is_secure_over_https() {
    let server = TestServer::start_with(&["--tls"]).await;
    assert!(server.base_url.starts_with("https://"));
    let console = server.printed("console: ").await;
    assert_eq!(console, format!("{}/console", server.base_url));
    let mut browser = Browser::new(&server);
    let answer = browser.sign_in(&admin_key(&server)).await;
    assert_eq!(answer.status, 303);
    assert!(
        answer.set_cookie.ends_with("; Secure"),
        "{}",
        answer.set_cookie
    );
    assert!(browser.page("/console").await.contains("Overview"));

    // Behind a TLS proxy the browser is on HTTPS too.
    let plain = TestServer::start().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let request = client
        .post(format!("{}/console/login", plain.base_url))
        .header("x-forwarded-proto", "https")
        .form(&[("key", admin_key(&plain))]);
    let cookie = request.send().await.unwrap();
    let cookie = cookie.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused() {
    let server = TestServer::start().await;
    let browser = Browser::signed_in(&server).await;
    let fields = [
        ("field_name", "FORGED"),
        ("user_type_id", "string"),
        ("label", ""),
    ];

    let missing = browser.send_form("/console/fields", &fields).await;
    assert_eq!(missing.status, 403);
    assert!(flash(&missing.body).unwrap().contains("CSRF token"));
    let mut forged = vec![("csrf", "0123456789abcdef")];
    forged.extend_from_slice(&fields);
    assert_eq!(
        browser.send_form("/console/fields", &forged).await.status,
        403
    );

    // Another session's token is no good either.
    let other = Browser::signed_in(&server).await;
    let foreign = csrf(&other.page("/console").await);
    let mut crossed = vec![("csrf", foreign.as_str())];
    crossed.extend_from_slice(&fields);
    assert_eq!(
        browser.send_form("/console/fields", &crossed).await.status,
        403
    );
    assert!(rest_fields(&server).await.is_empty());

    let (location, message) = browser.submit("/console/fields", &fields).await;
    assert!(message.starts_with("Field "), "{message}");
    assert_eq!(rest_fields(&server).await.len(), 1);
    assert!(location.starts_with("/console/fields/"));
}

#[tokio::test]
async fn an_enumeration_added_in_the_console_is_the_rest_field_and_its_events_name_no_user() {
    let server = TestServer::start().await;
    let hook_receiver = Receiver::start().await;
    let app_receiver = Receiver::start().await;
    add_webhook(&server, &hook_receiver.url, &[ADD, SETENUM]).await;
    let app = server.install_app("crm", &[]);
    let bind = json!({"event": ADD, "handler": app_receiver.url});
    let (status, bound) = server.app_call(&app.access_token, "event.bind", bind).await;
    assert_eq!(status, 200, "{bound}");

    let browser = Browser::signed_in(&server).await;
    let form = [
        ("field_name", "shade"),
        ("user_type_id", "enumeration"),
        ("label", "Shade"),
        ("multiple", "Y"),
        ("list", "Red\r\n\r\nGreen\r\n"),
    ];
    let (location, message) = browser.submit("/console/fields", &form).await;
    let id = field_id(&location);
    assert_eq!(message, format!("Field {id} added."));

    // REST sees exactly the field the console added.
    let (status, field) = rest_field(&server, &id).await;
    assert_eq!(status, 200, "{field}");
    let field = &field["result"];
    assert_eq!(field["FIELD_NAME"], "UF_CRM_SHADE");
    assert_eq!(field["USER_TYPE_ID"], "enumeration");
    assert_eq!(field["MULTIPLE"], "Y");
    assert_eq!(field["MANDATORY"], "N");
    assert_eq!(field["EDIT_FORM_LABEL"]["en"], "Shade");
    let values: Vec<&Value> = field["LIST"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["VALUE"])
        .collect();
    assert_eq!(values, [&json!("Red"), &json!("Green")]);

    // The outgoing webhook gets ADD, then SETENUMVALUES, with the portal's keys only.
    let received = hook_receiver.wait_for(2).await;
    for (request, event) in received.iter().zip([ADD, SETENUM]) {
        let view = request.decoded();
        assert_eq!(view["event"], event);
        assert_eq!(view["data"]["FIELDS"]["ID"], id.as_str());
        assert_eq!(view["data"]["FIELDS"]["FIELD_NAME"], "UF_CRM_SHADE");
        let keys = keys_of(&view["auth"]);
        assert_eq!(
            keys,
            [
                "domain",
                "client_endpoint",
                "server_endpoint",
                "member_id",
                "application_token"
            ]
        );
    }

    // No user is behind a console change: the application's delivery has no token keys
    // (decision 26), and the recorded events name no user.
    let view = app_receiver.wait_for(1).await[0].decoded();
    assert_eq!(view["event"], ADD);
    let auth = view["auth"].as_object().unwrap();
    for key in [
        "access_token",
        "expires",
        "expires_in",
        "user_id",
        "refresh_token",
    ] {
        assert!(!auth.contains_key(key), "{key} in {auth:?}");
    }
    assert_eq!(auth["application_token"], app.tokens["application_token"]);
    let (_, events) = server.admin("GET", "/admin/events", None).await;
    let named: Vec<(&Value, &Value)> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] != "ONAPPINSTALL")
        .map(|e| (&e["name"], &e["user_id"]))
        .collect();
    assert_eq!(
        named,
        [(&json!(ADD), &Value::Null), (&json!(SETENUM), &Value::Null)]
    );

    // The console shows the field and its events.
    let list = browser.page("/console/fields").await;
    assert!(
        list.contains("UF_CRM_SHADE") && list.contains("<td>Shade</td>"),
        "{list}"
    );
    let detail = browser.page(&location).await;
    assert!(detail.contains("value=\"Red\"") && detail.contains("value=\"Green\""));
    let only_add = browser.page(&format!("/console/events?name={ADD}")).await;
    assert!(only_add.contains(&format!("<td>{ADD}</td>")), "{only_add}");
    assert!(!only_add.contains(&format!("<td>{SETENUM}</td>")));
    let all = browser.page("/console/events").await;
    assert!(all.contains(&format!("<td>{SETENUM}</td>")));
}

#[tokio::test]
async fn a_refused_change_shows_the_rest_error_description() {
    let server = TestServer::start().await;
    let fields = json!({"fields": {"FIELD_NAME": "DUP", "USER_TYPE_ID": "string"}});
    let (status, body) = server.call("crm.contact.userfield.add", fields).await;
    assert_eq!(status, 200, "{body}");
    let browser = Browser::signed_in(&server).await;

    let form = [
        ("field_name", "dup"),
        ("user_type_id", "string"),
        ("label", ""),
    ];
    let (location, message) = browser.submit("/console/fields", &form).await;
    assert_eq!(location, "/console/fields");
    assert_eq!(
        message,
        "The field UF_CRM_DUP for the CRM_CONTACT object already exists."
    );
    // The flash is shown once.
    assert_eq!(flash(&browser.page("/console/fields").await), None);

    let form = [
        ("field_name", "odd"),
        ("user_type_id", "colour"),
        ("label", ""),
    ];
    let (_, message) = browser.submit("/console/fields", &form).await;
    assert_eq!(message, "Invalid user type specified.");
    assert_eq!(rest_fields(&server).await.len(), 1);

    // A form that lacks a field, an unknown id or one that is no number: a message page.
    let token = csrf(&browser.page("/console").await);
    let partial = browser
        .send_form("/console/fields", &[("csrf", &token), ("field_name", "X")])
        .await;
    assert_eq!(partial.status, 400);
    assert_eq!(
        flash(&partial.body).unwrap(),
        "The form has no 'user_type_id' field."
    );
    let unknown = browser.get("/console/fields/4242").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        flash(&unknown.body).unwrap(),
        "The entity with ID '4242' is not found."
    );
    let garbage = browser.get("/console/fields/abc").await;
    assert_eq!(garbage.status, 400);
    assert!(flash(&garbage.body).unwrap().contains("'abc' is not an id"));
    let (_, message) = browser.submit("/console/fields/4242/delete", &[]).await;
    assert_eq!(message, "The entity with ID '4242' is not found.");
}

#[tokio::test]
async fn changing_and_deleting_a_field_fire_update_setenumvalues_and_delete() {
    let server = TestServer::start().await;
    let browser = Browser::signed_in(&server).await;
    let form = [
        ("field_name", "size"),
        ("user_type_id", "enumeration"),
        ("label", "Size"),
        ("list", "Small\nLarge"),
    ];
    let (location, _) = browser.submit("/console/fields", &form).await;
    let id = field_id(&location);
    let receiver = Receiver::start().await;
    add_webhook(&server, &receiver.url, &[UPDATE, SETENUM, DELETE]).await;

    // A SORT that is no positive number is refused with a message, and nothing changes.
    let bad = [("label", "Size"), ("sort", "abc")];
    let (back, message) = browser.submit(&format!("{location}/update"), &bad).await;
    assert_eq!(
        (back.as_str(), message.as_str()),
        (
            location.as_str(),
            "SORT must be a positive whole number, not 'abc'."
        )
    );

    // Label, SORT and MANDATORY: UPDATE only.
    let change = [
        ("label", "Garment size"),
        ("sort", "250"),
        ("mandatory", "Y"),
    ];
    let (back, message) = browser.submit(&format!("{location}/update"), &change).await;
    assert_eq!(
        (back.as_str(), message.as_str()),
        (location.as_str(), "Field saved.")
    );
    let field = rest_field(&server, &id).await.1["result"].clone();
    assert_eq!(
        (&field["SORT"], &field["MANDATORY"]),
        (&json!("250"), &json!("Y"))
    );
    assert_eq!(field["EDIT_FORM_LABEL"]["de"], "Garment size");
    assert_eq!(field["LIST_COLUMN_LABEL"]["en"], "Garment size");
    let events: Vec<String> = receiver
        .wait_for(1)
        .await
        .iter()
        .map(|r| r.decoded()["event"].to_string())
        .collect();
    assert_eq!(events, [format!("\"{UPDATE}\"")]);

    // The list: rename one item, delete the other, append one: UPDATE, then SETENUMVALUES.
    let items = field["LIST"].as_array().unwrap();
    let (small, large) = (text(&items[0]["ID"]), text(&items[1]["ID"]));
    let value_of = |item: &str| format!("item[{item}][VALUE]");
    let (small_value, large_value) = (value_of(&small), value_of(&large));
    let (small_sort, large_sort) = (
        format!("item[{small}][SORT]"),
        format!("item[{large}][SORT]"),
    );
    let large_del = format!("item[{large}][DEL]");
    let list_form = [
        (small_value.as_str(), "Compact"),
        (small_sort.as_str(), "10"),
        (large_value.as_str(), "Large"),
        (large_sort.as_str(), "20"),
        (large_del.as_str(), "Y"),
        ("new", "Huge\n"),
    ];
    let (_, message) = browser
        .submit(&format!("{location}/list"), &list_form)
        .await;
    assert_eq!(message, "List values saved.");
    let field = rest_field(&server, &id).await.1["result"].clone();
    let values: Vec<&Value> = field["LIST"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["VALUE"])
        .collect();
    assert_eq!(values, [&json!("Compact"), &json!("Huge")]);
    let received = receiver.wait_for(3).await;
    assert_eq!(received[1].decoded()["event"], UPDATE);
    assert_eq!(received[2].decoded()["event"], SETENUM);

    // Delete: DELETE only, and the field is gone from REST and from the console.
    let (back, message) = browser.submit(&format!("{location}/delete"), &[]).await;
    assert_eq!(
        (back.as_str(), message),
        ("/console/fields", format!("Field {id} deleted."))
    );
    let view = receiver.wait_for(4).await[3].decoded();
    assert_eq!(view["event"], DELETE);
    assert_eq!(view["data"]["FIELDS"]["FIELD_NAME"], "UF_CRM_SIZE");
    assert_eq!(rest_field(&server, &id).await.0, 400);
    assert!(
        !browser
            .page("/console/fields")
            .await
            .contains("UF_CRM_SIZE")
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(receiver.requests().len(), 4);
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| value.to_string())
}

#[tokio::test]
async fn markup_in_labels_and_values_is_escaped() {
    let server = TestServer::start().await;
    let label = "<script>alert('x')</script>";
    let fields = json!({"fields": {
        "FIELD_NAME": "TRAP", "USER_TYPE_ID": "enumeration", "LABEL": label,
        "LIST": [{"VALUE": "<b onmouseover=\"x()\">bold</b>"}],
    }});
    let (status, body) = server.call("crm.contact.userfield.add", fields).await;
    assert_eq!(status, 200, "{body}");
    let id = body["result"].to_string();
    let browser = Browser::signed_in(&server).await;

    for path in [
        "/console/fields".to_string(),
        format!("/console/fields/{id}"),
    ] {
        let page = browser.page(&path).await;
        assert!(!page.contains("<script>"), "{path}: {page}");
        assert!(
            page.contains("&lt;script&gt;alert('x')&lt;/script&gt;"),
            "{path}: {page}"
        );
    }
    let detail = browser.page(&format!("/console/fields/{id}")).await;
    assert!(!detail.contains("<b onmouseover"));
    assert!(detail.contains("value=\"&lt;b onmouseover=&quot;x()&quot;&gt;bold&lt;/b&gt;\""));
}

#[tokio::test]
async fn webhooks_are_added_disabled_enabled_and_deleted_in_the_console() {
    let server = TestServer::start().await;
    let browser = Browser::signed_in(&server).await;
    let url = "http://127.0.0.1:9/hooks?a=1&b=<2>";

    let (_, message) = browser
        .submit(
            "/console/webhooks",
            &[("url", "ftp://x"), ("events[]", ADD), ("policy", "bitrix")],
        )
        .await;
    assert_eq!(
        message,
        "'ftp://x': the handler URL must be http:// or https://"
    );
    let (_, message) = browser
        .submit("/console/webhooks", &[("url", url), ("policy", "bitrix")])
        .await;
    assert_eq!(message, "give at least one event");
    assert_eq!(
        server
            .admin("GET", "/admin/outgoing-webhooks", None)
            .await
            .1,
        json!([])
    );

    let form = [
        ("url", url),
        ("events[]", ADD),
        ("events[]", DELETE),
        ("policy", "retry"),
    ];
    let (location, message) = browser.submit("/console/webhooks", &form).await;
    assert_eq!(location, "/console/webhooks");
    let (_, hooks) = server.admin("GET", "/admin/outgoing-webhooks", None).await;
    let hook = &hooks[0];
    assert_eq!(
        (&hook["url"], &hook["policy"], &hook["enabled"]),
        (&json!(url), &json!("retry"), &json!(true))
    );
    let events: Vec<&Value> = hook["handlers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["event"])
        .collect();
    assert_eq!(events, [&json!(ADD), &json!(DELETE)]);
    let token = hook["application_token"].as_str().unwrap();
    let id = hook["id"].as_i64().unwrap();
    assert_eq!(
        message,
        format!("Outgoing webhook {id} added; its application_token is {token}.")
    );
    let page = browser.page("/console/webhooks").await;
    assert!(
        page.contains("http://127.0.0.1:9/hooks?a=1&amp;b=&lt;2&gt;"),
        "{page}"
    );
    assert!(page.contains(token) && page.contains(&format!("/console/webhooks/{id}/disable")));

    let (_, message) = browser
        .submit(&format!("/console/webhooks/{id}/disable"), &[])
        .await;
    assert_eq!(message, format!("Outgoing webhook {id} disabled."));
    let path = format!("/admin/outgoing-webhooks/{id}");
    assert_eq!(server.admin("GET", &path, None).await.1["enabled"], false);
    let page = browser.page("/console/webhooks").await;
    assert!(page.contains(&format!("/console/webhooks/{id}/enable")));
    let (_, message) = browser
        .submit(&format!("/console/webhooks/{id}/enable"), &[])
        .await;
    assert_eq!(message, format!("Outgoing webhook {id} enabled."));
    assert_eq!(server.admin("GET", &path, None).await.1["enabled"], true);

    let (_, message) = browser
        .submit(&format!("/console/webhooks/{id}/delete"), &[])
        .await;
    assert_eq!(message, format!("Outgoing webhook {id} deleted."));
    assert_eq!(
        server
            .admin("GET", "/admin/outgoing-webhooks", None)
            .await
            .1,
        json!([])
    );
    let token = csrf(&browser.page("/console").await);
    let gone = browser
        .send_form(
            &format!("/console/webhooks/{id}/enable"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(
        flash(&gone.body).unwrap(),
        format!("There is no outgoing webhook with ID {id}.")
    );
}

#[tokio::test]
async fn a_failed_delivery_is_shown_with_its_attempt_and_redelivered() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    receiver.set(Behaviour {
        status: 500,
        body: "boom <oops>".into(),
        ..Behaviour::default()
    });
    let hook = add_webhook(&server, &receiver.url, &[ADD]).await;
    let fields = json!({"fields": {"FIELD_NAME": "RETRIED", "USER_TYPE_ID": "string"}});
    server.call("crm.contact.userfield.add", fields).await;
    let delivery = eventually("a failed delivery", || async {
        let (_, list) = server
            .admin("GET", "/admin/deliveries?status=failed", None)
            .await;
        list.as_array()
            .and_then(|l| l.first())
            .map(|d| d["id"].as_i64().unwrap())
    })
    .await;
    let browser = Browser::signed_in(&server).await;

    let failed = browser
        .page(&format!(
            "/console/deliveries?status=failed&webhook_id={hook}"
        ))
        .await;
    assert!(
        failed.contains(&format!("href=\"/console/deliveries/{delivery}\"")),
        "{failed}"
    );
    assert!(
        !browser
            .page("/console/deliveries?status=delivered")
            .await
            .contains(&format!("/console/deliveries/{delivery}\""))
    );
    let overview = browser.page("/console").await;
    assert!(overview.contains("<strong id=\"queue-depth\">0</strong>"));
    assert!(
        overview.contains("href=\"/console/deliveries?status=failed\">failed</a></td><td>1</td>"),
        "{overview}"
    );

    let path = format!("/console/deliveries/{delivery}");
    let detail = browser.page(&path).await;
    let attempts = between(&detail, "<table id=\"attempts\">", "</table>").unwrap();
    assert!(
        attempts.contains("<td>500</td>") && attempts.contains("<td>http_status</td>"),
        "{attempts}"
    );
    assert!(attempts.contains("boom &lt;oops&gt;"), "{attempts}");
    assert!(detail.contains(&receiver.url));

    receiver.answer_status(200);
    let (back, message) = browser.submit(&format!("{path}/redeliver"), &[]).await;
    assert_eq!(
        (back.as_str(), message),
        (path.as_str(), format!("Delivery {delivery} queued again."))
    );
    assert_eq!(receiver.wait_for(2).await.len(), 2);
    eventually("the delivery delivered", || async {
        let (_, one) = server
            .admin("GET", &format!("/admin/deliveries/{delivery}"), None)
            .await;
        (one["status"] == "delivered").then_some(())
    })
    .await;
    let detail = browser.page(&path).await;
    assert_eq!(
        between(&detail, "<th>Status</th><td>", "</td>"),
        Some("delivered")
    );

    let token = csrf(&detail);
    let unknown = browser
        .send_form("/console/deliveries/999/redeliver", &[("csrf", &token)])
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        browser.get("/console/deliveries?status=lost").await.status,
        400
    );
}

#[tokio::test]
async fn the_applications_page_shows_state_and_handlers() {
    let server = TestServer::start().await;
    let app = server.install_app("crm", &["--ui"]);
    let receiver = Receiver::start().await;
    let bind = json!({"event": UPDATE, "handler": receiver.url});
    server.app_call(&app.access_token, "event.bind", bind).await;
    let browser = Browser::signed_in(&server).await;

    let page = browser.page("/console/apps").await;
    let row = between(&page, &app.client_id, "</tr>").unwrap();
    assert!(
        row.contains("<td>yes</td><td>no</td>"),
        "installed, not finished: {row}"
    );
    assert!(
        row.contains(&format!("{UPDATE} (")) && row.contains(&receiver.url),
        "{row}"
    );
    assert!(row.contains("ONAPPINSTALL"), "{row}");
    assert!(!page.contains(&app.client_secret));
}
