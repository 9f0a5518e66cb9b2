//! Test harness: start a real server, call it, decode its answers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// A running `b24lite serve` with its own store. Killed (and its database dropped) on drop.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    /// The administrator's webhook URL, ending in `/`.
    pub webhook_url: String,
    pub data_dir: tempfile::TempDir,
    pub database: TestDatabase,
    /// Every line the server printed on stdout so far (read on until the process ends, so that
    /// later lines such as `certificate: ...` never meet a closed pipe).
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    child: ChildGuard,
    client: reqwest::Client,
}

/// Kills the server process however the test ends, panics included.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The store a test server runs on.
pub enum TestDatabase {
    Sqlite,
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Another server's PostgreSQL database (`url`), left for that server to drop.
    Borrowed {
        url: String,
    },
}

impl TestDatabase {
    /// A fresh database: PostgreSQL when `B24LITE_TEST_POSTGRES_URL` is set, else SQLite.
    pub fn create() -> TestDatabase {
        let Ok(admin_url) = std::env::var("B24LITE_TEST_POSTGRES_URL") else {
            return TestDatabase::Sqlite;
        };
        let name = format!("b24lite_test_{}", b24lite_store::random::token(12));
        run_sql(&admin_url, &format!("CREATE DATABASE {name}"));
        TestDatabase::Postgres { admin_url, name }
    }

    /// The `--database-url` to pass, if not the default SQLite file.
    pub fn url(&self) -> Option<String> {
        match self {
            TestDatabase::Sqlite => None,
            TestDatabase::Postgres { admin_url, name } => {
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(base, _)| base);
                Some(format!("{base}/{name}"))
            }
            TestDatabase::Borrowed { url } => Some(url.clone()),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { admin_url, name } = self {
            run_sql(
                admin_url,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// Runs one statement on its own runtime (usable from `Drop` and from async tests alike).
fn run_sql(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .expect("connect to PostgreSQL");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .expect("run statement");
        });
    })
    .join()
    .unwrap();
}

/// A local application registered and installed through the CLI.
pub struct InstalledApp {
    pub id: i64,
    pub client_id: String,
    pub client_secret: String,
    /// The token answer `app install` printed.
    pub tokens: Value,
    pub access_token: String,
}

impl TestServer {
    /// Registers an application with `scopes` and installs it (`extra`: more `app install`
    /// flags, such as `--user 2`).
    pub fn install_app(&self, scopes: &str, extra: &[&str]) -> InstalledApp {
        let handler = "http://127.0.0.1:9/install";
        let added = self.cli(&[
            "app",
            "add",
            "--name",
            "Test app",
            "--handler",
            handler,
            "--scope",
            scopes,
        ]);
        let mut lines = added.lines();
        let client_id = lines.next().unwrap().to_string();
        let client_secret = lines.next().unwrap().to_string();
        let mut args = vec!["app", "install", "--client-id", &client_id];
        args.extend_from_slice(extra);
        let tokens: Value = serde_json::from_str(&self.cli(&args)).unwrap();
        let listed = self.cli(&["app", "list"]);
        let row = listed
            .lines()
            .find(|line| line.contains(&client_id))
            .unwrap();
        let id = row.split('\t').next().unwrap().parse().unwrap();
        let access_token = tokens["access_token"].as_str().unwrap().to_string();
        InstalledApp {
            id,
            client_id,
            client_secret,
            tokens,
            access_token,
        }
    }

    /// An access token of `user_id` for an installed application, through the
    /// authorization-code flow (how a user who opens the application gets tokens of their own).
    pub async fn user_token(&self, app: &InstalledApp, user_id: i64) -> String {
        let tokens = self.user_tokens(app, user_id).await;
        tokens["access_token"].as_str().unwrap().to_string()
    }

    /// The whole token answer of [`TestServer::user_token`]'s flow, refresh token included.
    pub async fn user_tokens(&self, app: &InstalledApp, user_id: i64) -> Value {
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let authorize = format!(
            "{}/oauth/authorize/?client_id={}&user_id={user_id}",
            self.base_url, app.client_id
        );
        let response = no_redirects.get(authorize).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 302);
        let location = response.headers()["location"].to_str().unwrap();
        let query = location.split_once('?').unwrap().1.as_bytes();
        let redirect = b24lite_core::params::parse_form(query).unwrap();
        let exchange = format!(
            "{}/oauth/token/?grant_type=authorization_code&client_id={}&client_secret={}&code={}",
            self.base_url,
            app.client_id,
            app.client_secret,
            redirect["code"].as_str().unwrap()
        );
        let (status, tokens) = self.get(&exchange).await;
        assert_eq!(
            (status, &tokens["user_id"]),
            (200, &json!(user_id)),
            "{tokens}"
        );
        tokens
    }

    /// Binds an online handler with `event.bind` as an application; the bind must succeed.
    pub async fn bind_event(&self, token: &str, event: &str, handler: &str) {
        let bind = json!({"event": event, "handler": handler});
        let (status, body) = self.app_call(token, "event.bind", bind).await;
        assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
    }

    /// Calls a method as an application: `/rest/{method}` with `auth` in a JSON body.
    pub async fn app_call(&self, token: &str, method: &str, mut params: Value) -> (u16, Value) {
        params["auth"] = Value::from(token);
        let url = format!("{}/rest/{method}", self.base_url);
        decode(self.client.post(url).json(&params).send().await.unwrap()).await
    }

    pub async fn start() -> TestServer {
        TestServer::start_with(&[]).await
    }

    /// Starts a server with extra `serve` flags.
    pub async fn start_with(args: &[&str]) -> TestServer {
        TestServer::start_with_env(args, &[("RUST_LOG", "error")], Stdio::inherit()).await
    }

    /// Starts a server with extra `serve` flags, environment variables and a stderr target.
    pub async fn start_with_env(args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> TestServer {
        let data_dir = tempfile::tempdir().unwrap();
        let database = TestDatabase::create();
        TestServer::launch(data_dir, database, args, env, stderr).await
    }

    /// Starts one more instance on this server's PostgreSQL database, with a data folder of its
    /// own; `None` on SQLite, whose file one process owns. Drop it before this server.
    pub async fn start_sibling(&self, args: &[&str]) -> Option<TestServer> {
        let url = match &self.database {
            TestDatabase::Sqlite => return None,
            database => database.url()?,
        };
        let data_dir = tempfile::tempdir().unwrap();
        let database = TestDatabase::Borrowed { url };
        let env = [("RUST_LOG", "error")];
        Some(TestServer::launch(data_dir, database, args, &env, Stdio::inherit()).await)
    }

    /// Starts `n` servers at the same moment on one fresh PostgreSQL database, each with a data
    /// folder of its own; the first owns the database, so drop it last. `None` on SQLite.
    pub async fn start_together(n: usize, args: &[&str]) -> Option<Vec<TestServer>> {
        let owner = TestDatabase::create();
        let url = owner.url()?;
        let mut owner = Some(owner);
        let mut launches = Vec::new();
        for _ in 0..n {
            let database = owner
                .take()
                .unwrap_or_else(|| TestDatabase::Borrowed { url: url.clone() });
            let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
            launches.push(tokio::spawn(async move {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let data_dir = tempfile::tempdir().unwrap();
                let env = [("RUST_LOG", "error")];
                TestServer::launch(data_dir, database, &args, &env, Stdio::inherit()).await
            }));
        }
        let mut servers = Vec::new();
        for launch in launches {
            servers.push(launch.await.unwrap());
        }
        Some(servers)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Kills the server and starts a new one on the same store.
    pub async fn restart(self, args: &[&str]) -> TestServer {
        let TestServer {
            data_dir,
            database,
            child,
            ..
        } = self;
        drop(child);
        let env = [("RUST_LOG", "error")];
        TestServer::launch(data_dir, database, args, &env, Stdio::inherit()).await
    }

    async fn launch(
        data_dir: tempfile::TempDir,
        database: TestDatabase,
        args: &[&str],
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> TestServer {
        let mut command = Command::new(env!("CARGO_BIN_EXE_b24lite"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data_dir.path());
        if let Some(url) = database.url() {
            command.args(["--database-url", &url]);
        }
        command
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr);
        b24lite::http::tls::install_crypto_provider();
        let mut child = ChildGuard(command.spawn().expect("start b24lite"));
        let stdout = child.0.stdout.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        let (base_url, webhook_url) =
            tokio::task::spawn_blocking(move || read_announcement(stdout, sink))
                .await
                .unwrap();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        TestServer {
            base_url,
            webhook_url,
            data_dir,
            database,
            stdout: lines,
            child,
            client,
        }
    }

    /// The database URL of this server's store.
    pub fn store_url(&self) -> String {
        self.database.url().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.data_dir.path().join("b24lite.db").display()
            )
        })
    }

    /// Opens this server's store from the test process (as another process would).
    pub async fn open_store(&self) -> b24lite_store::Store {
        b24lite_store::Store::open(&self.store_url()).await.unwrap()
    }

    /// Records an event in its own committed transaction, as a REST method or the CLI would;
    /// the server finds it within one sweep. Returns the event id.
    pub async fn record_event(&self, name: &str, data: Value, request_id: &str) -> i64 {
        let store = self.open_store().await;
        let mut tx = store.begin_write().await.unwrap();
        let event = new_event(name, data, request_id);
        let now = b24lite::clock::Clock::default().now();
        let id = b24lite_store::events::record(&mut tx, &event, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        store.close().await;
        id
    }

    /// Calls the admin API (`/admin/...`) with the server's admin key.
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let key = std::fs::read_to_string(self.data_dir.path().join("admin.key")).unwrap();
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(key.trim());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Calls a method through the administrator's webhook with a JSON body.
    pub async fn call(&self, method: &str, params: Value) -> (u16, Value) {
        let url = format!("{}{method}", self.webhook_url);
        let response = self.client.post(url).json(&params).send().await.unwrap();
        decode(response).await
    }

    /// Calls any URL with GET.
    pub async fn get(&self, url: &str) -> (u16, Value) {
        decode(self.client.get(url).send().await.unwrap()).await
    }

    /// Runs a `b24lite` management command on this server's store; returns stdout.
    /// GETs `url` and answers the body as it came, for checks on the exact bytes.
    pub async fn get_text(&self, url: &str) -> String {
        let response = self.client.get(url).send().await.unwrap();
        response.text().await.unwrap()
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let (success, stdout, stderr) = self.cli_outcome(args);
        assert!(success, "b24lite {args:?} failed: {stderr}");
        stdout
    }

    /// Runs a management command that may fail: (succeeded, stderr).
    pub fn cli_result(&self, args: &[&str]) -> (bool, String) {
        let (success, _, stderr) = self.cli_outcome(args);
        (success, stderr)
    }

    fn cli_outcome(&self, args: &[&str]) -> (bool, String, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_b24lite"));
        command.args(args).arg("--data").arg(self.data_dir.path());
        if let Some(url) = self.database.url() {
            command.args(["--database-url", &url]);
        }
        let output = command.output().expect("run b24lite");
        (
            output.status.success(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

/// The keys of a JSON object, in order (key order is part of Bitrix24's wire shapes).
pub fn keys_of(object: &Value) -> Vec<&str> {
    object
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// A Bitrix24 error envelope, as the server answers it.
pub fn rest_error(code: &str, description: &str) -> Value {
    serde_json::json!({"error": code, "error_description": description})
}

/// The `auth` keys of a delivery to an application with a user behind it, in wire order
/// (fact 79); events that send a refresh token put it before `application_token`.
pub const APP_AUTH_KEYS: [&str; 11] = [
    "access_token",
    "expires",
    "expires_in",
    "scope",
    "domain",
    "server_endpoint",
    "status",
    "client_endpoint",
    "member_id",
    "user_id",
    "application_token",
];

/// An event as the userfield methods record it.
pub fn new_event(name: &str, data: Value, request_id: &str) -> b24lite_store::events::NewEvent {
    b24lite_store::events::NewEvent {
        name: name.to_string(),
        data,
        user_id: Some(1),
        request_id: request_id.to_string(),
        auth_connector: None,
        app_id: None,
        event_ttl: b24lite_store::events::EVENT_TTL,
    }
}

pub async fn decode(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "not JSON (HTTP {status}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, body)
}

/// Reads the start-up lines until the webhook URL is printed, then keeps reading in the
/// background. Every line goes to `sink`.
fn read_announcement(
    stdout: std::process::ChildStdout,
    sink: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) -> (String, String) {
    let mut base_url = None;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("read b24lite output");
        sink.lock().unwrap().push(line.clone());
        if let Some((_, url)) = line.split_once(" listening on ") {
            base_url = Some(url.to_string());
        }
        if let Some(url) = line.strip_prefix("webhook: ") {
            let found = (
                base_url.expect("address printed before the webhook"),
                url.to_string(),
            );
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
            return found;
        }
    }
    panic!("b24lite exited before printing its webhook URL");
}

impl TestServer {
    /// Waits (up to 10 s) for a stdout line starting with `prefix`; returns the rest of it.
    pub async fn printed(&self, prefix: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .stdout
                .lock()
                .unwrap()
                .iter()
                .find_map(|line| line.strip_prefix(prefix).map(str::to_string));
            if let Some(rest) = found {
                return rest;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no '{prefix}' line printed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
