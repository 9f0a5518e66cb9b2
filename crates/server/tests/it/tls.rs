//! `--tls`: a generated certificate, printed, that a client can trust.

use std::time::Duration;

use serde_json::json;

use crate::utils::{TestServer, decode};

#[tokio::test]
async fn https_with_the_printed_certificate() {
    let server = TestServer::start_with(&["--tls"]).await;
    assert!(
        server.base_url.starts_with("https://127.0.0.1:"),
        "{}",
        server.base_url
    );
    assert!(server.webhook_url.starts_with("https://"));
    let path = server.printed("certificate: ").await;
    assert_eq!(
        std::path::Path::new(&path),
        server.data_dir.path().join("tls").join("cert.pem")
    );
    let pem = std::fs::read(&path).unwrap();

    // A client that trusts only that certificate, as REQUESTS_CA_BUNDLE would make it.
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let response = client
        .get(format!("{}profile", server.webhook_url))
        .send()
        .await
        .unwrap();
    let (status, body) = decode(response).await;
    assert_eq!((status, &body["result"]["ID"]), (200, &json!("1")));

    // The certificate also names localhost.
    let url = server
        .webhook_url
        .replace("https://127.0.0.1", "https://localhost");
    let response = client
        .get(format!("{url}server.time"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    // A client that trusts nothing extra refuses the self-signed certificate.
    let strict = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .unwrap();
    assert!(strict.get(&server.base_url).send().await.is_err());
}

#[tokio::test]
async fn tls_and_require_https_together() {
    let server = TestServer::start_with(&["--tls", "--require-https"]).await;
    let (status, body) = server.call("profile", json!({})).await;
    assert_eq!((status, &body["result"]["ID"]), (200, &json!("1")));
    assert!(server.printed("certificate: ").await.ends_with("cert.pem"));
}

#[tokio::test]
async fn a_given_certificate_and_key() {
    let own = tempfile::tempdir().unwrap();
    let (cert, key) =
        b24lite::http::tls::ensure_certificate(own.path(), None, &["localhost".into()]).unwrap();
    let (cert_arg, key_arg) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let server =
        TestServer::start_with(&["--tls", "--tls-cert", cert_arg, "--tls-key", key_arg]).await;
    assert_eq!(server.printed("certificate: ").await, cert_arg);
    assert!(
        !server.data_dir.path().join("tls").exists(),
        "nothing generated"
    );
    let pem = std::fs::read(&cert).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    let response = client
        .get(format!("{}profile", server.webhook_url))
        .send()
        .await
        .unwrap();
    assert_eq!(decode(response).await.0, 200);
}
