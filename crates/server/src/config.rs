//! Settings of a running server. Every flag has a `B24LITE_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::FixedOffset;

use crate::telemetry::LogFormat;

/// The default port: unused by the usual services on a developer machine.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8424";

/// Language set of a bitrix24.com portal, in the order its label maps show them (decision 16).
pub const DEFAULT_LANGUAGES: &str = "ar,br,en,fr,id,it,ja,la,ms,pl,de,sc,tc,th,tr,vn";

/// Bodies larger than this are refused with `413` and an `INVALID_REQUEST` envelope.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Default lifetime of refresh tokens, in seconds: the 180 days the OAuth pages give
/// (`rest-protocol.md` §11.5; older pages said 28).
pub const REFRESH_TOKEN_TTL: i64 = 180 * 24 * 3600;

/// Where the store lives: shared by `serve` and every command that reads or writes data.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Data folder: holds the SQLite database, the generated TLS certificate and the admin key
    /// (files uploaded to contacts are kept in the database).
    #[arg(long = "data", env = "B24LITE_DATA", default_value = "b24lite-data")]
    pub data_dir: PathBuf,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB. Default: SQLite in the data folder.
    #[arg(long, env = "B24LITE_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl ServeConfig {
    pub fn token_lifetimes(&self) -> b24lite_store::apps::Lifetimes {
        b24lite_store::apps::Lifetimes {
            access: self.access_token_ttl,
            refresh: self.refresh_token_ttl,
        }
    }

    /// The portal's language as `LANGUAGE_ID` shows it: `en` when the portal has it, else its
    /// first language.
    pub fn language(&self) -> &str {
        let languages = &self.languages;
        languages
            .iter()
            .find(|l| *l == "en")
            .or(languages.first())
            .map_or("en", String::as_str)
    }
}

impl StoreArgs {
    /// The database URL, defaulting to `b24lite.db` inside the data folder.
    pub fn url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("b24lite.db").display()),
        }
    }
}

/// `b24lite serve` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(long, env = "B24LITE_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Public base URL of the portal (`https://b24.example.com`), used for `client_endpoint` and
    /// the portal domain. Default: the listening address.
    #[arg(long, env = "B24LITE_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// Log format on stderr.
    #[arg(long, env = "B24LITE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Serve HTTPS. Without --tls-cert/--tls-key a self-signed certificate is generated in the
    /// data folder and its path printed (trust it with REQUESTS_CA_BUNDLE / NODE_EXTRA_CA_CERTS).
    #[arg(long, env = "B24LITE_TLS")]
    pub tls: bool,
    /// PEM certificate chain to serve with --tls (needs --tls and --tls-key).
    #[arg(long, env = "B24LITE_TLS_CERT", requires_all = ["tls_key", "tls"])]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key to serve with --tls (needs --tls and --tls-cert).
    #[arg(long, env = "B24LITE_TLS_KEY", requires_all = ["tls_cert", "tls"])]
    pub tls_key: Option<PathBuf>,
    /// Refuse plain-HTTP REST calls with 401 INVALID_REQUEST "Https required.", as the cloud does.
    #[arg(long, env = "B24LITE_REQUIRE_HTTPS")]
    pub require_https: bool,
    /// Request-rate limit: `off` (default), `standard` (drain 2/s, block above 50),
    /// `enterprise` (5/s, 250) or `DRAIN:LIMIT`.
    #[arg(long, env = "B24LITE_RATE_LIMIT", default_value = "off")]
    pub rate_limit: RateLimit,
    /// Per-method operating-time budget in seconds over 10 minutes (429 OPERATION_TIME_LIMIT when
    /// exceeded). Off when absent.
    #[arg(long, env = "B24LITE_OPERATING_LIMIT")]
    pub operating_limit: Option<f64>,
    /// The portal's UTC offset, used in `time.date_*`, `server.time` and dates of values.
    #[arg(long, env = "B24LITE_UTC_OFFSET", default_value = "+00:00", value_parser = parse_utc_offset)]
    pub utc_offset: FixedOffset,
    /// The portal's languages, in label-map order.
    #[arg(long, env = "B24LITE_LANGUAGES", default_value = DEFAULT_LANGUAGES, value_delimiter = ',', value_parser = parse_language)]
    pub languages: Vec<String>,
    /// Seconds a client may take to send a request's headers, or leave its body without new
    /// data; past that the connection is closed (headers) or the call refused with 408.
    #[arg(long, env = "B24LITE_REQUEST_TIMEOUT", default_value_t = 30.0, value_parser = parse_positive_seconds)]
    pub request_timeout: f64,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "B24LITE_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
    /// Key that protects the admin API (`Authorization: Bearer KEY`). Generated and stored in the
    /// data folder when absent.
    #[arg(long, env = "B24LITE_ADMIN_KEY")]
    pub admin_key: Option<String>,
    /// Lifetime of OAuth access tokens, in seconds.
    #[arg(long, env = "B24LITE_ACCESS_TOKEN_TTL", default_value_t = 3600)]
    pub access_token_ttl: i64,
    /// Lifetime of OAuth refresh tokens, in seconds (180 days).
    #[arg(long, env = "B24LITE_REFRESH_TOKEN_TTL", default_value_t = REFRESH_TOKEN_TTL)]
    pub refresh_token_ttl: i64,
    /// Let the admin API move the server clock forward (for tests of expiry and retries).
    #[arg(long, env = "B24LITE_ALLOW_CLOCK_CONTROL")]
    pub allow_clock_control: bool,
    /// How long, in seconds, credentials and field definitions read from the store are trusted
    /// without reading them again. Changes made by this server, by the CLI on this data folder
    /// and by other instances on PostgreSQL are seen at once anyway; this bounds the rest
    /// (a lost notice). 0 reads the store on every call.
    #[arg(long, env = "B24LITE_CACHE_TTL", default_value_t = 1.0, value_parser = parse_seconds)]
    pub cache_ttl: f64,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

/// Settings of the event delivery engine (`dispatch`).
#[derive(Debug, Clone, clap::Args)]
pub struct DeliveryArgs {
    /// Timeout of one delivery request, in seconds.
    #[arg(long, env = "B24LITE_DELIVERY_TIMEOUT", default_value_t = 5.0)]
    pub delivery_timeout: f64,
    /// Number of delivery worker tasks; 0 runs none (an instance that only serves the API while
    /// others deliver).
    #[arg(long, env = "B24LITE_DELIVERY_WORKERS", default_value_t = 2)]
    pub delivery_workers: usize,
    /// Refuse handlers whose address (as resolved) is loopback, private or link-local; `event.bind`
    /// then also refuses `localhost` and hosts without a dot, as Bitrix24 does.
    #[arg(long, env = "B24LITE_REFUSE_PRIVATE_TARGETS")]
    pub refuse_private_targets: bool,
    /// Delays in seconds between attempts of the `retry` policy, comma-separated; the number of
    /// attempts is one more than the number of delays.
    #[arg(
        long,
        env = "B24LITE_RETRY_SCHEDULE",
        value_delimiter = ',',
        default_value = "5,300,1800,7200,18000,36000,36000"
    )]
    pub retry_schedule: Vec<u64>,
    /// How often, in milliseconds, workers look for due retries and for events committed by
    /// other processes (a commit in this process wakes them at once).
    #[arg(long, env = "B24LITE_DISPATCH_SWEEP_MS", default_value_t = 1000)]
    pub dispatch_sweep_ms: u64,
    /// How long, in seconds, a claim of deliveries is reserved for this instance before another
    /// one may take it over (when this one died). It must exceed the time to send a claim's rows.
    /// Default: 16 times the delivery timeout plus 60.
    #[arg(long, env = "B24LITE_DELIVERY_LEASE", value_parser = clap::value_parser!(u64).range(1..))]
    pub delivery_lease: Option<u64>,
}

/// The leaky-bucket request-rate limit of `rest-protocol.md` §10.2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateLimit {
    Off,
    /// The counter drains `drain` per second; a request that finds it above `limit` is refused.
    Bucket {
        drain: f64,
        limit: f64,
    },
}

impl FromStr for RateLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(RateLimit::Off),
            "standard" => Ok(RateLimit::Bucket {
                drain: 2.0,
                limit: 50.0,
            }),
            "enterprise" => Ok(RateLimit::Bucket {
                drain: 5.0,
                limit: 250.0,
            }),
            custom => {
                let (drain, limit) = custom.split_once(':').ok_or_else(|| {
                    format!("'{custom}': expected off, standard, enterprise or DRAIN:LIMIT")
                })?;
                let drain: f64 = drain
                    .parse()
                    .map_err(|_| format!("bad drain rate '{drain}'"))?;
                let limit: f64 = limit.parse().map_err(|_| format!("bad limit '{limit}'"))?;
                if drain <= 0.0 || limit < 0.0 {
                    return Err("the drain rate must be positive and the limit not negative".into());
                }
                Ok(RateLimit::Bucket { drain, limit })
            }
        }
    }
}

/// A non-negative, finite number of seconds.
fn parse_seconds(given: &str) -> Result<f64, String> {
    match given.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(seconds),
        _ => Err(format!("'{given}' is not a number of seconds")),
    }
}

/// A positive, finite number of seconds.
fn parse_positive_seconds(given: &str) -> Result<f64, String> {
    match parse_seconds(given) {
        Ok(seconds) if seconds > 0.0 => Ok(seconds),
        _ => Err(format!("'{given}' is not a positive number of seconds")),
    }
}

/// `--public-url`: an absolute http(s) URL with a host, kept without its trailing slash. Paths
/// such as `/rest/...` are appended to it, so a query, a fragment or credentials would end up in
/// the middle of every URL the portal prints.
fn parse_public_url(given: &str) -> Result<String, String> {
    match reqwest::Url::parse(given) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.has_host()
                && url.query().is_none()
                && url.fragment().is_none()
                && url.username().is_empty()
                && url.password().is_none() =>
        {
            Ok(given.trim_end_matches('/').to_string())
        }
        _ => Err(format!(
            "'{given}' is not an http(s) URL such as https://b24.example.com (no query, fragment or credentials)"
        )),
    }
}

/// `--utc-offset`: `+HH:MM` or `-HH:MM`, as the portal's time zone is written in dates.
fn parse_utc_offset(given: &str) -> Result<FixedOffset, String> {
    given
        .parse::<FixedOffset>()
        .map_err(|_| format!("'{given}' is not a UTC offset such as +03:00 or -05:30 (the sign is required, hours below 24)"))
}

/// One entry of `--languages`: a language id such as `en` or `de`, as label maps key them.
fn parse_language(given: &str) -> Result<String, String> {
    let id = given.trim().to_ascii_lowercase();
    if id.is_empty() || id.len() > 8 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "'{given}' is not a language id such as en or de (comma-separated, none empty)"
        ));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_up_values_are_checked() {
        assert_eq!(
            parse_public_url("https://b24.example.com/"),
            Ok("https://b24.example.com".to_string())
        );
        for wrong in [
            "ftp://b24.example.com",
            "https://b24.example.com?x=1",
            "https://a@b.c",
        ] {
            assert!(parse_public_url(wrong).is_err(), "{wrong}");
        }
        assert_eq!(parse_language(" DE "), Ok("de".to_string()));
        assert!(parse_language("").is_err());
        assert!(parse_language("e n").is_err());
        assert_eq!(
            parse_utc_offset("-05:30").map(|o| o.local_minus_utc()),
            Ok(-5 * 3600 - 30 * 60)
        );
        assert!(parse_utc_offset("03:00").is_err());
    }

    #[test]
    fn rate_limit_presets() {
        assert_eq!("off".parse::<RateLimit>(), Ok(RateLimit::Off));
        assert_eq!(
            "standard".parse(),
            Ok(RateLimit::Bucket {
                drain: 2.0,
                limit: 50.0
            })
        );
        assert_eq!(
            "5:250".parse(),
            Ok(RateLimit::Bucket {
                drain: 5.0,
                limit: 250.0
            })
        );
        assert!("fast".parse::<RateLimit>().is_err());
        assert!("0:10".parse::<RateLimit>().is_err());
    }
}
