//! Bad input over real HTTP: each answer a Bitrix24-style envelope with the right status, never
//! a panic or a 500.

use serde_json::{Value, json};

use crate::protocol::{multipart, post_raw};
use crate::utils::{TestServer, decode};

fn is_invalid_request(answer: &(u16, Value), status: u16) -> bool {
    answer.0 == status
        && answer.1["error"] == "INVALID_REQUEST"
        && answer.1["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
        && answer.1.as_object().unwrap().len() == 2
}

#[tokio::test]
async fn malformed_bodies() {
    let server = TestServer::start().await;
    let url = format!("{}method.get", server.webhook_url);
    let json_type = "application/json";
    for body in [
        "{",
        "{\"name\": }",
        "[1, 2]",
        "\"text\"",
        "42",
        "null",
        "{\"a\":1} trailing",
    ] {
        let answer = post_raw(&server, &url, json_type, body).await;
        assert!(is_invalid_request(&answer, 400), "{body}: {answer:?}");
    }
    // An empty body or an empty JSON array is no parameters at all.
    for body in ["", "  ", "[]", "{}"] {
        let (status, _) = post_raw(&server, &url, json_type, body).await;
        assert_eq!(status, 200, "{body:?}");
    }
    let (content_type, _) = multipart(&[("name", "x")]);
    let answer = post_raw(&server, &url, &content_type, "not a multipart body").await;
    assert!(is_invalid_request(&answer, 400), "{answer:?}");
}

#[tokio::test]
async fn json_with_the_wrong_types() {
    let server = TestServer::start().await;
    let missing = json!({"isExisting": false, "isAvailable": false});
    for params in [
        json!({"name": {"a": 1}}),
        json!({"name": [1, 2]}),
        json!({"name": null}),
        json!({"name": 1.5e300}),
    ] {
        let (status, body) = server.call("method.get", params.clone()).await;
        assert_eq!((status, &body["result"]), (200, &missing), "{params}");
    }
    for params in [
        json!({"cmd": "profile"}),
        json!({"cmd": 5}),
        json!({"cmd": {"a": {"b": "profile"}}, "halt": [1]}),
        json!({"cmd": [null, true]}),
    ] {
        let (status, body) = server.call("batch", params.clone()).await;
        assert_eq!(status, 200, "{params}: {body}");
    }
    let (status, body) = server.call("feature.get", json!({"CODE": {"x": 1}})).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "CODE_EMPTY", "error_description": "CODE can't be empty"})
        )
    );
}

#[tokio::test]
async fn keys_nested_a_hundred_levels_deep() {
    let server = TestServer::start().await;
    let key = format!("a{}", "[b]".repeat(100));
    let url = format!("{}profile?{key}=1", server.webhook_url);
    let answer = server.get(&url).await;
    assert!(is_invalid_request(&answer, 400), "{answer:?}");
    let form = "application/x-www-form-urlencoded";
    let answer = post_raw(
        &server,
        &format!("{}profile", server.webhook_url),
        form,
        format!("{key}=1"),
    )
    .await;
    assert!(is_invalid_request(&answer, 400), "{answer:?}");
    let deep_json = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100));
    let answer = post_raw(
        &server,
        &format!("{}profile", server.webhook_url),
        "application/json",
        deep_json,
    )
    .await;
    assert!(is_invalid_request(&answer, 400), "{answer:?}");
    // 60 levels are fine.
    let key = format!("a{}", "[b]".repeat(60));
    let (status, _) = server
        .get(&format!("{}profile?{key}=1", server.webhook_url))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bodies_over_the_limit() {
    let server = TestServer::start_with(&["--body-limit", "1000"]).await;
    let url = format!("{}method.get", server.webhook_url);
    let big = format!("name={}", "x".repeat(2000));
    let form = "application/x-www-form-urlencoded";
    let answer = post_raw(&server, &url, form, big.clone()).await;
    assert!(is_invalid_request(&answer, 413), "{answer:?}");
    let answer = post_raw(
        &server,
        &url,
        "application/json",
        format!("{{\"{big}\":1}}"),
    )
    .await;
    assert!(is_invalid_request(&answer, 413), "{answer:?}");
    let (content_type, data) = multipart(&[("name", &big)]);
    let answer = post_raw(&server, &url, &content_type, data).await;
    assert!(is_invalid_request(&answer, 413), "{answer:?}");
    let (status, _) = post_raw(&server, &url, form, "name=profile").await;
    assert_eq!(status, 200);

    // Chunked, with no length declared: refused once the limit is passed while reading.
    let path = url.replace(&server.base_url, "");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: b24\r\nContent-Type: {form}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    let (answer, _) = stall(&server, &request).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let body: Value = serde_json::from_str(body).unwrap();
    assert!(is_invalid_request(&(413, body), 413), "{answer}");
}

#[tokio::test]
async fn a_fifty_megabyte_body_under_the_default_limit() {
    let server = TestServer::start().await;
    let path = server.webhook_url.replace(&server.base_url, "");

    // Declared with `Expect: 100-continue`, as curl sends a large body: refused before a byte of
    // it is sent (a client writing 50 MB unasked could meet a closed connection before it reads
    // the answer, as with any server that refuses early).
    let request = format!(
        "POST {path}profile HTTP/1.1\r\nHost: b24\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        50 * 1024 * 1024
    );
    let (answer, closed) = stall(&server, &request).await;
    assert!(
        closed,
        "the connection was kept for a body that will not be read"
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let body: Value = serde_json::from_str(body).unwrap();
    assert!(is_invalid_request(&(413, body), 413));
}

#[tokio::test]
async fn invalid_utf8() {
    let server = TestServer::start().await;
    let url = format!("{}method.get", server.webhook_url);
    let answer = server.get(&format!("{url}?name=%FF%FE")).await;
    assert!(is_invalid_request(&answer, 400), "{answer:?}");
    let form = "application/x-www-form-urlencoded";
    let answer = post_raw(&server, &url, form, &b"name=\xff\xfe"[..]).await;
    assert!(is_invalid_request(&answer, 400), "{answer:?}");
    let answer = post_raw(
        &server,
        &url,
        "application/json",
        &b"{\"name\":\"\xff\"}"[..],
    )
    .await;
    assert!(is_invalid_request(&answer, 400), "{answer:?}");
    // In the method name: no such method.
    let (status, body) = server
        .get(&format!("{}pro%FFfile", server.webhook_url))
        .await;
    assert_eq!(
        (status, &body["error"]),
        (404, &json!("ERROR_METHOD_NOT_FOUND"))
    );
}

#[tokio::test]
async fn unknown_methods_and_paths() {
    let server = TestServer::start().await;
    let not_found = (
        404,
        json!({"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}),
    );
    let base = &server.base_url;
    let hook = &server.webhook_url;
    for url in [
        format!("{hook}no.such.method"),
        format!("{hook}no.such.method.json"),
        format!("{hook}.json"),
        format!("{base}/rest"),
        format!("{base}/rest/"),
        format!("{base}/rest/a/b/c/d"),
        hook.to_string(),
    ] {
        assert_eq!(server.get(&url).await, not_found, "{url}");
    }
}

#[tokio::test]
async fn wrong_http_methods() {
    let server = TestServer::start().await;
    let url = format!("{}profile", server.webhook_url);
    for method in ["PUT", "DELETE", "PATCH", "OPTIONS"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = server
            .client()
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap();
        // RFC 9110: a 405 lists the methods that are served.
        assert_eq!(response.headers()["allow"], "GET, POST, HEAD", "{method}");
        let answer = decode(response).await;
        assert_eq!(
            answer,
            (
                405,
                json!({
                    "error": "INVALID_REQUEST",
                    "error_description": format!("HTTP method {method} is not supported; use GET or POST"),
                })
            )
        );
    }
    let response = server.client().head(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn xml_suffix_renders_xml() {
    let server = TestServer::start().await;
    let response = server
        .client()
        .get(format!("{}user.admin.xml", server.webhook_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/xml; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(
        text.starts_with(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<response><result>true</result><time><start>"
        ),
        "{text}"
    );
    let response = server
        .client()
        .get(format!("{}no.such.XML", server.webhook_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert!(response.text().await.unwrap().ends_with(
        "<response><error>ERROR_METHOD_NOT_FOUND</error><error_description>Method not found!</error_description></response>"
    ));
}

/// Writes `request` on a raw connection and reads what comes back until the server closes it
/// (or 10 s pass): (the bytes read, whether the server closed the connection).
async fn stall(server: &TestServer, request: &str) -> (String, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = server.base_url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    (String::from_utf8_lossy(&answer).into_owned(), read.is_ok())
}

#[tokio::test]
async fn requests_that_stall_are_cut_off() {
    let server = TestServer::start_with(&["--request-timeout", "1"]).await;
    let path = server.webhook_url.replace(&server.base_url, "");

    // Headers that never end: the connection is closed.
    let (_, closed) = stall(&server, "GET /healthz HTTP/1.1\r\nHost: b24\r\n").await;
    assert!(
        closed,
        "a request whose headers never end held its connection"
    );

    // A body shorter than its Content-Length: refused once no more data comes.
    let request = format!(
        "POST {path}profile HTTP/1.1\r\nHost: b24\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"a\":"
    );
    let (answer, closed) = stall(&server, &request).await;
    assert!(closed, "a stalled body held its connection");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        json!({"error": "INVALID_REQUEST",
               "error_description": "The request body stopped arriving before it was complete"})
    );

    // Calls that do arrive are unaffected.
    assert_eq!(server.call("profile", json!({})).await.0, 200);
}
