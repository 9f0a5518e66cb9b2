//! The only place b24lite makes outbound HTTP calls.
//!
//! One pooled `reqwest::Client` per server. Headers sent with every delivery:
//! `Content-Type: application/x-www-form-urlencoded`, `User-Agent: Bitrix24 Webhook Engine`, plus
//! what reqwest adds (`Host`, `Content-Length`, `Accept: */*`), and those the caller passes in (the
//! `webhook-*` headers of a signed delivery, see [`super::sign`]). Redirects are never followed:
//! a 3xx is an answer, and a failed one (decision 24). The timeout covers the whole exchange,
//! reading the first [`RESPONSE_KEEP`] bytes of the response included; the rest of the body is
//! not read.
//!
//! Target policy: handlers on loopback and private networks are allowed by default, since local
//! development is the main use. With `--refuse-private-targets`, every address a handler's host
//! resolves to is checked (by the client's own resolver, so the address connected to is the
//! address checked) and loopback, private, link-local, unique-local, CGNAT and unspecified
//! addresses are refused; so are IP-literal URLs in those ranges.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use b24lite_store::deliveries::RESPONSE_KEEP;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an attempt failed before or instead of an HTTP answer, as recorded in `error_class`.
pub mod class {
    pub const TIMEOUT: &str = "timeout";
    pub const CONNECT: &str = "connect";
    pub const REFUSED: &str = "refused_target";
    pub const INVALID_URL: &str = "invalid_url";
    pub const REQUEST: &str = "request";
    pub const HTTP_STATUS: &str = "http_status";
    pub const REDIRECT: &str = "redirect";
}

/// The `User-Agent` of every delivery. The specs leave the queue's headers open (reference open
/// question 2); independent captures of real deliveries show this value, and handlers in the wild
/// compare it, so b24lite sends the same rather than a name of its own.
pub const USER_AGENT: &str = "Bitrix24 Webhook Engine";

/// What came back from one POST.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: Option<u16>,
    pub latency: Duration,
    /// Set when no HTTP answer arrived (timeout, connection error, refused target).
    pub error: Option<&'static str>,
    /// The first bytes of the body, lossy UTF-8.
    pub body: String,
    /// `Retry-After` in seconds, when the answer carried one.
    pub retry_after: Option<u64>,
}

/// The pooled client and the target policy.
#[derive(Clone)]
pub struct DeliveryClient {
    http: reqwest::Client,
    refuse_private: bool,
}

impl DeliveryClient {
    pub fn new(timeout: Duration, refuse_private: bool) -> anyhow::Result<DeliveryClient> {
        crate::http::tls::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .pool_idle_timeout(Duration::from_secs(90));
        if refuse_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(DeliveryClient {
            http: builder.build()?,
            refuse_private,
        })
    }

    /// POSTs a form body with `headers` besides the usual ones; never fails, every outcome is a
    /// [`Reply`].
    pub async fn post_form(&self, url: &str, body: String, headers: &[(&str, String)]) -> Reply {
        let started = Instant::now();
        let parsed = match reqwest::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => parsed,
            _ => return failure(class::INVALID_URL, started),
        };
        if self.refuse_private && is_private_literal(&parsed) {
            return failure(class::REFUSED, started);
        }
        let mut request = self.http.post(parsed).header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        );
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let sent = request.body(body).send().await;
        match sent {
            Ok(response) => read_reply(response, started).await,
            Err(error) => failure(classify(&error), started),
        }
    }
}

/// Checks a handler URL given by a user: absolute `http` or `https` with a host.
pub fn check_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(()),
        Ok(_) => Err(format!(
            "'{url}': the handler URL must be http:// or https://"
        )),
        Err(error) => Err(format!("'{url}': {error}")),
    }
}

async fn read_reply(mut response: reqwest::Response, started: Instant) -> Reply {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut kept: Vec<u8> = Vec::new();
    let mut error = None;
    while kept.len() < RESPONSE_KEEP {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                error = e.is_timeout().then_some(class::TIMEOUT);
                break;
            }
        }
    }
    kept.truncate(RESPONSE_KEEP);
    Reply {
        status: Some(status),
        latency: started.elapsed(),
        error,
        body: String::from_utf8_lossy(&kept).into_owned(),
        retry_after,
    }
}

fn failure(class: &'static str, started: Instant) -> Reply {
    Reply {
        status: None,
        latency: started.elapsed(),
        error: Some(class),
        body: String::new(),
        retry_after: None,
    }
}

fn classify(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        class::TIMEOUT
    } else if refused_by_resolver(error) {
        class::REFUSED
    } else if error.is_connect() {
        class::CONNECT
    } else {
        class::REQUEST
    }
}

fn refused_by_resolver(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.to_string().contains(REFUSED_MESSAGE) {
            return true;
        }
        source = current.source();
    }
    false
}

const REFUSED_MESSAGE: &str = "handler address refused by the target policy";

/// A resolver that keeps only public addresses.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| !is_private(addr.ip()))
                .collect();
            if found.is_empty() {
                let error =
                    std::io::Error::new(std::io::ErrorKind::PermissionDenied, REFUSED_MESSAGE);
                return Err(error.into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// The URL names `localhost` or a private address literal (names are checked when resolved).
pub fn is_private_literal(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return true;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => is_private(ip),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// Loopback, private, link-local, unique-local, CGNAT, unspecified or broadcast.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["fe80::1", "fd00::1", "::ffff:10.0.0.1", "0.0.0.0"] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "100.128.0.1", "2001:4860::8888"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }
}
