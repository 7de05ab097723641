//! Starts a real `kiln` process for a test: its own temporary working
//! directory (so the embedded defaults put SQLite and the object store there),
//! a free loopback port chosen by the server itself, and the development key
//! it prints on first start. The process is killed when the handle drops.
//!
//! `E2E_STACK` picks the catalog and store every test runs on: `sqlite-fs`
//! (the default: the embedded defaults) or `postgres-s3` (a database of its
//! own on the PostgreSQL server at `E2E_POSTGRES`, and a bucket of its own on
//! a moto S3 server the harness starts on loopback). Tests of several
//! processes sharing one catalog and store always use `postgres-s3`.

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
    /// The database and bucket, on `postgres-s3`.
    pub shared: Option<Shared>,
    pub client: Client,
}

#[derive(Default)]
pub struct Builder {
    config: Option<String>,
    env: Vec<(String, String)>,
    dir: Option<tempfile::TempDir>,
    stack: Option<Stack>,
    shared: Option<Shared>,
    key: Option<String>,
    /// Where the server's log goes instead of the test's stderr.
    log: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    SqliteFs,
    PostgresS3,
}

/// The catalog and store a `postgres-s3` server uses, which a second server can share.
#[derive(Debug, Clone)]
pub struct Shared {
    pub database: String,
    pub bucket: String,
}

/// The stack the suite runs on, from `E2E_STACK`.
pub fn stack() -> Stack {
    match std::env::var("E2E_STACK").as_deref() {
        Ok("postgres-s3") => Stack::PostgresS3,
        Ok("sqlite-fs") | Ok("") | Err(_) => Stack::SqliteFs,
        Ok(other) => panic!("E2E_STACK={other:?}: use sqlite-fs or postgres-s3"),
    }
}

/// The widths of the `variants` a metadata or variants answer lists, in order.
pub fn variant_widths(listing: &serde_json::Value) -> Vec<u64> {
    let mut widths: Vec<u64> = listing["variants"]
        .as_array()
        .expect("a list of variants")
        .iter()
        .map(|v| v["width"].as_u64().expect("a width"))
        .collect();
    widths.sort();
    widths
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

    pub fn stack(mut self, stack: Stack) -> Self {
        self.stack = Some(stack);
        self
    }

    /// Runs on the same PostgreSQL database and S3 bucket as `other`.
    pub fn sharing(mut self, other: &Kiln) -> Self {
        self.stack = Some(Stack::PostgresS3);
        self.shared = Some(other.shared.clone().expect("the other server runs on postgres-s3"));
        self
    }

    /// Writes the server's log to `file`.
    pub fn log_to(mut self, file: &Path) -> Self {
        self.log = Some(file.to_owned());
        self
    }

    /// The API key the config gives, for [`Kiln::authed`].
    pub fn key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
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
        let shared = match (self.stack.unwrap_or_else(stack), self.shared) {
            (Stack::SqliteFs, _) => None,
            (Stack::PostgresS3, Some(shared)) => Some(shared),
            (Stack::PostgresS3, None) => Some(Shared {
                database: test_database(&postgres(), dir.path()).await,
                bucket: s3_bucket(dir.path()).await,
            }),
        };
        if let Some(shared) = &shared {
            command
                .env("KILN_DATABASE__URL", &shared.database)
                .env("KILN_STORAGE__KIND", "s3")
                .env("KILN_STORAGE__BUCKET", &shared.bucket)
                .env("KILN_STORAGE__ENDPOINT", s3_endpoint().await)
                .env("KILN_STORAGE__PATH_STYLE", "true")
                .env("KILN_STORAGE__REGION", "us-east-1")
                .env("KILN_STORAGE__ACCESS_KEY_ID", "e2e")
                .env("KILN_STORAGE__SECRET_ACCESS_KEY", "e2e");
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
            .stderr(match &self.log {
                Some(file) => Stdio::from(std::fs::File::create(file).expect("create the log file")),
                None => Stdio::inherit(),
            })
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn kiln");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut key = self.key;
        // Generous: a first start compiles every plugin, and the Python and
        // JavaScript components are tens of megabytes of wasm.
        let base = tokio::time::timeout(Duration::from_secs(180), async {
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
            shared,
            // Pooled connections are dropped well before the server's idle
            // timeout closes them, so no request races a closing connection.
            client: Client::builder()
                .pool_idle_timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }
}

/// The PostgreSQL server for `postgres-s3`, from `E2E_POSTGRES`
/// (e.g. `postgres://kiln_e2e:kiln_e2e@127.0.0.1:5432`, a role that may create databases).
fn postgres() -> String {
    std::env::var("E2E_POSTGRES")
        .ok()
        .filter(|url| !url.is_empty())
        .expect("E2E_POSTGRES must name a PostgreSQL server (make test sets it)")
}

/// A name for the database or bucket of the server working in `dir`: the
/// same `dir` (a restart) gets the same one.
fn name_for(dir: &Path) -> String {
    let suffix: String = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("kiln-test-{suffix}")
}

/// The moto S3 server, started once per test binary on a free loopback
/// port; it exits with the test process. moto comes from the virtualenv at
/// `E2E_MOTO_VENV` (default `target/tools/moto`, where `make test` puts it).
async fn s3_endpoint() -> String {
    static ENDPOINT: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    ENDPOINT
        .get_or_init(|| async {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let python = test_python();
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            // Never waited for: it outlives every test and exits with the test process.
            #[expect(clippy::zombie_processes)]
            let _server = std::process::Command::new(python)
                .arg(root.join("tests/support/s3_server.py"))
                .arg(port.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto");
            let endpoint = format!("http://127.0.0.1:{port}");
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while reqwest::get(&endpoint).await.is_err() {
                assert!(std::time::Instant::now() < deadline, "moto did not start within 60 s");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            endpoint
        })
        .await
        .clone()
}

/// A bucket of its own for the server working in `dir`.
async fn s3_bucket(dir: &Path) -> String {
    create_bucket(&name_for(dir)).await
}

/// Creates a bucket on the moto server, returning its name.
pub async fn create_bucket(bucket: &str) -> String {
    on_bucket(Method::PUT, bucket).await;
    bucket.to_owned()
}

/// Deletes an (empty) bucket, as an outage of the store.
pub async fn delete_bucket(bucket: &str) {
    on_bucket(Method::DELETE, bucket).await;
}

async fn on_bucket(method: Method, bucket: &str) {
    let url = format!("{}/{bucket}", s3_endpoint().await);
    let response = Client::new().request(method.clone(), url).send().await.expect("moto");
    assert!(
        response.status().is_success(),
        "{method} {bucket}: {}",
        response.status()
    );
}

/// The ETag S3 gives an object: a multipart upload's ends in `-{parts}`.
pub async fn s3_object_etag(bucket: &str, key: &str) -> String {
    let response = Client::new()
        .head(format!("{}/{bucket}/{key}", s3_endpoint().await))
        .send()
        .await
        .expect("HEAD object");
    assert_eq!(response.status(), 200, "{bucket}/{key}");
    response.headers()["etag"].to_str().expect("ETag").to_owned()
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
            let stale: Vec<String> = sqlx::query_scalar(
                "SELECT datname FROM pg_database WHERE datname LIKE 'kiln\\_test\\_%' \
                     AND datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user)",
            )
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
    let name = name_for(dir).replace('-', "_");
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

    /// The server's peak resident memory so far, in bytes (Linux: VmHWM).
    pub fn peak_rss(&self) -> u64 {
        let pid = self.child.id().expect("the server is running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc status");
        kib * 1024
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

    /// The key of every object in the store: the files under the
    /// filesystem store, or the objects in this server's bucket.
    pub async fn stored_objects(&self) -> Vec<String> {
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
        match &self.shared {
            None => {
                let (root, mut files) = (self.data().join("objects"), Vec::new());
                walk(&root, &mut files);
                files
                    .iter()
                    .map(|file| file.strip_prefix(&root).unwrap_or(file).display().to_string())
                    .collect()
            }
            Some(shared) => s3_keys(&shared.bucket, None).await,
        }
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

/// The keys in `bucket` (under `prefix`), read from moto.
pub async fn s3_keys(bucket: &str, prefix: Option<&str>) -> Vec<String> {
    let mut url = format!("{}/{bucket}?list-type=2", s3_endpoint().await);
    if let Some(prefix) = prefix {
        url.push_str(&format!("&prefix={prefix}"));
    }
    let listing = reqwest::get(url)
        .await
        .expect("list bucket")
        .text()
        .await
        .expect("listing");
    assert!(!listing.contains("<IsTruncated>true"), "more than one page of objects");
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|part| part.split("</Key>").next())
        .map(str::to_owned)
        .collect()
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

/// The `[[api-keys]]` lines of a key (its SHA-256 only), `scopes` as TOML.
pub fn key_config(name: &str, key: &str, scopes: &str, prefix: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    format!("[[api-keys]]\nname = \"{name}\"\nsha256 = \"{hash}\"\nscopes = {scopes}\nprefix = \"{prefix}\"\n")
}

/// The Python of the test tools' virtualenv (moto, standardwebhooks),
/// which `make test` makes.
pub fn test_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv = std::env::var_os("E2E_MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/tools/moto"));
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: `make test` installs the test tools there",
        python.display()
    );
    python
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

/// Runs the `kiln` command line in `dir`, with no `KILN_CONFIG` from outside.
pub fn kiln_cli(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(dir)
        .env_remove("KILN_CONFIG")
        .args(args)
        .output()
        .expect("run kiln")
}
