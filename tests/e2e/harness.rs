//! Starts a real `kiln` process for a test: its own temporary working
//! directory (so the embedded defaults put SQLite and the object store there),
//! a free loopback port chosen by the server itself, and the development key
//! it prints on first start. The process is killed when the handle drops.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use reqwest::{Client, Method, RequestBuilder, Response};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Kiln {
    child: Child,
    pub base: String,
    /// The development key, when the server made one.
    pub key: Option<String>,
    pub dir: tempfile::TempDir,
    pub client: Client,
}

#[derive(Default)]
pub struct Builder {
    config: Option<String>,
    env: Vec<(String, String)>,
    dir: Option<tempfile::TempDir>,
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

impl Builder {
    pub fn config(mut self, toml: &str) -> Self {
        self.config = Some(toml.to_owned());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Reuses a working directory, e.g. to restart over the same data.
    pub fn dir(mut self, dir: tempfile::TempDir) -> Self {
        self.dir = Some(dir);
        self
    }

    pub async fn start(self) -> Kiln {
        let dir = match self.dir {
            Some(dir) => dir,
            None => tempfile::tempdir().expect("temp dir"),
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_kiln"));
        for (key, _) in std::env::vars() {
            if key.starts_with("KILN_") {
                command.env_remove(key);
            }
        }
        if let Some(config) = &self.config {
            std::fs::write(dir.path().join("kiln.toml"), config).expect("write config");
            command.env("KILN_CONFIG", "kiln.toml");
        }
        if let Some(server) = postgres() {
            let database = test_database(&server, dir.path()).await;
            command.env("KILN_DATABASE__URL", database);
        }
        command
            .current_dir(dir.path())
            .env("KILN_SERVER__LISTEN", "127.0.0.1:0")
            .env(
                "KILN_LOG",
                std::env::var("TEST_KILN_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn kiln");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut key = None;
        let base = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read kiln stdout") {
                if let Some(rest) = line.strip_prefix("kiln listening on ") {
                    return rest.trim().to_owned();
                }
                if line.starts_with("development API key") {
                    key = line.rsplit(' ').next().map(str::to_owned);
                }
            }
            panic!("kiln exited before listening");
        })
        .await
        .expect("kiln did not start within 30 s");
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Kiln {
            child,
            base,
            key,
            dir,
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }
}

/// The PostgreSQL server the suite runs against, from `E2E_POSTGRES`
/// (e.g. `postgres://postgres@127.0.0.1:5432`); without it, SQLite.
pub fn postgres() -> Option<String> {
    std::env::var("E2E_POSTGRES").ok().filter(|url| !url.is_empty())
}

/// A database of its own for the server working in `dir`: the same `dir`
/// (a restart) gets the same database. Databases left by earlier runs are
/// dropped the first time.
async fn test_database(server: &str, dir: &Path) -> String {
    static CLEANED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let admin = sqlx::PgPool::connect(&format!("{server}/postgres"))
        .await
        .expect("connect to PostgreSQL");
    CLEANED
        .get_or_init(|| async {
            let stale: Vec<String> =
                sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'kiln\\_test\\_%'")
                    .fetch_all(&admin)
                    .await
                    .expect("list databases");
            for name in stale {
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&admin)
                    .await
                    .expect("drop a stale test database");
            }
        })
        .await;
    let suffix: String = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let name = format!("kiln_test_{suffix}");
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&admin)
        .await
        .expect("look up database");
    if exists.is_none() {
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&admin)
            .await
            .expect("create database");
    }
    admin.close().await;
    format!("{server}/{name}")
}

impl Kiln {
    pub fn builder() -> Builder {
        Builder::default()
    }

    pub async fn start() -> Kiln {
        Builder::default().start().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A request with the development key.
    pub fn authed(&self, method: Method, path: &str) -> RequestBuilder {
        let key = self.key.as_deref().expect("this server has no development key");
        self.client.request(method, self.url(path)).bearer_auth(key)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path))
    }

    pub async fn upload(&self, path: &str, bytes: Vec<u8>) -> Response {
        self.authed(Method::POST, &format!("/assets/{path}"))
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .expect("upload request")
    }

    /// Uploads and asserts success, returning the entry's metadata.
    pub async fn upload_ok(&self, path: &str, bytes: Vec<u8>) -> serde_json::Value {
        let response = self.upload(path, bytes).await;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, 201, "upload to {path} failed: {body}");
        serde_json::from_str(&body).expect("metadata JSON")
    }

    /// Every regular file under the object store, temp files excluded.
    pub fn stored_objects(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data().join("objects"), &mut out);
        out
    }

    /// Stops with SIGTERM and returns the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        self.signal_term();
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("kiln did not exit within 30 s of SIGTERM")
            .expect("wait for kiln")
    }

    pub fn signal_term(&self) {
        if let Some(pid) = self.child.id() {
            let status = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            assert!(status.is_ok_and(|s| s.success()), "kill -TERM failed");
        }
    }

    /// Takes the working directory back, e.g. to restart on the same data.
    pub async fn stop_keep_dir(mut self) -> tempfile::TempDir {
        self.child.kill().await.ok();
        self.dir
    }
}

/// Asserts a JSON error response: status, `error` code, and a non-empty message.
pub async fn assert_error(response: Response, status: u16, code: &str) -> serde_json::Value {
    let actual = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(actual, status, "expected {status} {code}, got {actual}: {body}");
    assert!(
        content_type.starts_with("application/json"),
        "error is not JSON ({content_type}): {body}"
    );
    let json: serde_json::Value = serde_json::from_str(&body).expect("error body is JSON");
    assert_eq!(json["error"], code, "{body}");
    assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    json
}

/// The path of a plugin component built by `make plugins`.
pub fn wasm(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm/wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    assert!(
        path.is_file(),
        "{} is missing: run `make plugins` first",
        path.display()
    );
    path.canonicalize().expect("plugin path").display().to_string()
}

impl Kiln {
    /// GET, returning the response.
    pub async fn fetch(&self, path: &str) -> Response {
        self.get(path).send().await.expect("GET")
    }

    /// GET, returning the body as JSON.
    pub async fn json(&self, path: &str) -> serde_json::Value {
        self.fetch(path).await.json().await.expect("a JSON body")
    }

    /// GET, returning the body.
    pub async fn bytes(&self, path: &str) -> bytes::Bytes {
        self.fetch(path).await.bytes().await.expect("a body")
    }

    /// GET, returning the status.
    pub async fn status(&self, path: &str) -> reqwest::StatusCode {
        self.fetch(path).await.status()
    }
}

/// Runs `kiln ARGS` in a fresh directory holding `config` as kiln.toml,
/// asserts that it fails, and returns what it printed on stderr, with the
/// directory for a look at what was left behind.
pub fn fails_with_config(config: &str, args: &[&str]) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("kiln.toml"), config).expect("write config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(dir.path())
        .env("KILN_CONFIG", "kiln.toml")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kiln");
    // An accepted config would start a server that never exits: bound the wait.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for kiln") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{config:?} was accepted: kiln kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "{config:?} was accepted");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("read stderr");
    (stderr, dir)
}
