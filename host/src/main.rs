//! The `kiln` command line: `serve`, `config check` / `config explain`,
//! `sign-url`, `sign-upload`, `generate-secret`, `generate-key`, `process`,
//! `plugin new` / `plugin check` and `version`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use kiln::address::AssetPath;
use kiln::auth::signing::{self, Signer, unix_now};
use kiln::config::{Config, LogFormat, PathRules};
use kiln::plugin_tool;

#[derive(Parser)]
#[command(name = "kiln", version, about = "Self-hosted image service")]
struct Cli {
    /// The TOML config file; without one Kiln runs on embedded defaults.
    #[arg(long, global = true, env = "KILN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Sign a URL with the first of `[signing] keys`, printing it signed.
    #[command(
        after_help = "Examples:\n  kiln sign-url '/assets/users/1/avatar?w=256&format=webp'\n  \
                            kiln sign-url 'https://images.example.com/assets/docs/a/-/link?w=800' --ttl 3600"
    )]
    SignUrl {
        /// A URL or a path with its query, e.g. `/assets/users/1/avatar?w=256`.
        url: String,
        /// Make the URL expire this many seconds from now (adds `exp`).
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// Print the query of a signed upload URL: POSTs to paths under PREFIX until it expires.
    #[command(after_help = "Example:\n  kiln sign-upload /users/123 --ttl 600\n  \
                            # then: curl -X POST --data-binary @a.jpg \"$KILN/assets/users/123/avatar?$(…)\"")]
    SignUpload {
        /// An asset path prefix such as /users/123.
        prefix: String,
        /// Seconds until it expires.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
    /// Print new random secrets in hex, e.g. for `[signing] keys`.
    #[command(after_help = "Examples:\n  kiln generate-secret\n  kiln generate-secret --length 64 --count 2")]
    GenerateSecret {
        /// Random bytes in each secret (printed as twice as many hex digits).
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(16..=1024))]
        length: u16,
        /// How many secrets to print, one a line.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=100))]
        count: u16,
    },
    /// Print a new API key, once, and the `[[api-keys]]` lines that accept it (its hash only).
    #[command(after_help = "Examples:\n  kiln generate-key --name ci\n  \
                            kiln generate-key --name avatars --scopes write --prefix /users >> kiln.toml")]
    GenerateKey {
        /// The key's name in the config, shown in logs and errors.
        #[arg(long, default_value = "api")]
        name: String,
        /// What the key may do: any of read, write, delete, admin.
        #[arg(long, value_delimiter = ',', default_value = "read,write,delete,admin")]
        scopes: Vec<ScopeArg>,
        /// The paths the key may touch.
        #[arg(long, default_value = "/")]
        prefix: String,
    },
    /// Run the server's pipeline (profiles, parameters, plugins) on local
    /// files, several at a time, and write the results into a directory.
    #[command(
        after_help = "Examples:\n  kiln process photos/*.jpg --ops \"w=300&format=webp\" --out thumbs\n  \
                            kiln --config kiln.toml process in/*.png --profile thumb --ops \"fx=duotone\" --out out"
    )]
    Process {
        /// The images to process.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The transformation, as a URL query: w=300&format=webp.
        #[arg(long, default_value = "")]
        ops: String,
        /// A configured profile, laid under --ops.
        #[arg(long)]
        profile: Option<String>,
        /// Where to write the results (made if missing), each named after its file.
        #[arg(long)]
        out: PathBuf,
        /// Files made at once; the number of cores by default.
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Print Kiln's version, its image libraries' and the plugin API versions it loads.
    Version,
    /// Print the HTTP API's OpenAPI 3.1 document, as `GET /openapi.json` serves it.
    #[command(after_help = "Example:\n  kiln openapi > openapi.json")]
    Openapi,
    /// Write and try plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Scaffold a plugin project that builds and passes its own test as it is.
    #[command(after_help = "Examples:\n  kiln plugin new soften --kind transform\n  \
                            cd soften && cargo test && cargo build --release --target wasm32-wasip2\n  \
                            kiln plugin new policy --kind validator --lang python")]
    New {
        /// The plugin's name: lower-case letters, digits, - and _.
        name: String,
        #[arg(long, value_enum, default_value_t = KindArg::Transform)]
        kind: KindArg,
        #[arg(long, value_enum, default_value_t = LangArg::Rust)]
        lang: LangArg,
        /// Where to write it; ./NAME by default.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The kiln-sdk crate to depend on; the one beside this build of Kiln by default.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Load a component as the server would, print what it declares, run it
    /// once on a sample (or the given) image and write the result.
    #[command(
        after_help = "Example:\n  kiln plugin check target/wasm32-wasip2/release/soften.wasm \
                            --image photo.jpg -p amount=0.5 --out soft.png"
    )]
    Check {
        /// The .wasm component.
        wasm: PathBuf,
        /// The image to run it on; a generated 512x320 sample by default.
        #[arg(long)]
        image: Option<PathBuf>,
        /// A parameter, without the plugin's prefix: -p amount=0.5 (repeatable).
        #[arg(short = 'p', value_parser = key_value)]
        params: Vec<(String, String)>,
        /// Where to write the result; NAME.check.png (or the preprocessor's format) by default.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum ScopeArg {
    Read,
    Write,
    Delete,
    Admin,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KindArg {
    Transform,
    Validator,
    Preprocessor,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LangArg {
    Rust,
    Python,
    Js,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("{text:?} is not key=value"))
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration, then print it merged with the defaults.
    Check,
    /// Print the path rules that apply to PATH and the settings they merge into.
    Explain {
        /// An asset path such as /users/123/avatar.
        path: String,
    },
}

fn main() -> ExitCode {
    kiln::keep_image_buffers_out_of_arenas();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kiln: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    match &command {
        Command::GenerateSecret { length, count } => {
            for _ in 0..*count {
                println!("{}", signing::generate_secret(usize::from(*length)));
            }
            return Ok(());
        }
        Command::GenerateKey { name, scopes, prefix } => {
            print!("{}", new_key(name, scopes, prefix)?);
            return Ok(());
        }
        Command::Version => {
            print!("{}", kiln::version_report());
            return Ok(());
        }
        Command::Openapi => {
            print!("{}", kiln::openapi_json()?);
            return Ok(());
        }
        _ => {}
    }
    if let Command::Plugin {
        command:
            PluginCommand::New {
                name,
                kind,
                lang,
                dir,
                sdk,
            },
    } = &command
    {
        let kind = match kind {
            KindArg::Transform => plugin_tool::Kind::Transform,
            KindArg::Validator => plugin_tool::Kind::Validator,
            KindArg::Preprocessor => plugin_tool::Kind::Preprocessor,
        };
        let dir = dir.clone().unwrap_or_else(|| PathBuf::from(name));
        let sdk = sdk
            .clone()
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk")));
        let language = match lang {
            LangArg::Rust => plugin_tool::Language::Rust,
            LangArg::Python => plugin_tool::Language::Python,
            LangArg::Js => plugin_tool::Language::JavaScript,
        };
        let written = plugin_tool::scaffold(name, kind, language, &dir, &sdk)?;
        for path in written {
            println!("wrote {}", path.display());
        }
        println!(
            "next: see {} for how to test and build it",
            dir.join("README.md").display()
        );
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    init_logging(config.log.format);
    match command {
        Command::GenerateSecret { .. }
        | Command::GenerateKey { .. }
        | Command::Version
        | Command::Openapi
        | Command::Plugin {
            command: PluginCommand::New { .. },
        } => Ok(()),
        Command::Process {
            files,
            ops,
            profile,
            out,
            jobs,
        } => process(&config, &files, &ops, profile.as_deref(), &out, jobs),
        Command::Plugin {
            command:
                PluginCommand::Check {
                    wasm,
                    image,
                    params,
                    out,
                },
        } => {
            let request = plugin_tool::CheckRequest {
                wasm,
                image,
                params,
                out,
            };
            print!("{}", plugin_tool::check(&config, &request)?);
            Ok(())
        }
        Command::SignUrl { url, ttl } => {
            let signer = configured_signer(&config)?;
            println!("{}", signer.sign_url(&url, ttl, unix_now())?);
            Ok(())
        }
        Command::SignUpload { prefix, ttl } => {
            let signer = configured_signer(&config)?;
            let prefix = format!("/{}", prefix.trim_matches('/'));
            if prefix != "/" {
                AssetPath::parse(prefix.trim_start_matches('/'))?;
            }
            let query = signer
                .upload_query(&prefix, unix_now() + ttl)
                .context("no signing key")?;
            println!("{query}");
            Ok(())
        }
        Command::Serve => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(config.server.io_threads())
                .enable_all()
                .build()?;
            let served = runtime.block_on(kiln::serve(config));
            // A transformation libvips cannot be made to stop holds its
            // blocking thread; dropping the runtime would wait for it forever.
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            served
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            print!("{}", toml::to_string_pretty(&config.redacted())?);
            let loaded = plugin_tool::check_configured(&config)?;
            eprintln!("configuration is valid ({loaded} plugins loaded)");
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Explain { path },
        } => {
            let path = AssetPath::parse(path.trim_start_matches('/'))?;
            let rules = PathRules::compile(
                &config.paths,
                &config.limits,
                &config.profiles()?,
                &config.plugin_kinds(),
            )?;
            let resolved = rules.resolve(&path);
            println!("# rules for {path}, applied in this order (later ones override):");
            if resolved.patterns.is_empty() {
                println!("#   (none: only defaults apply)");
            }
            for pattern in &resolved.patterns {
                println!("#   {pattern}");
            }
            println!("# effective settings:");
            print!("{}", toml::to_string_pretty(&resolved.settings)?);
            println!("# upload limit in bytes: {}", resolved.max_upload_bytes);
            Ok(())
        }
    }
}

/// Logs to stderr, filtered by `KILN_LOG`, as text or one JSON object a line.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let logger = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logger.init(),
        LogFormat::Json => logger.json().with_current_span(true).with_span_list(false).init(),
    }
}

fn configured_signer(config: &Config) -> anyhow::Result<Signer> {
    let signer = config.signer()?;
    if !signer.is_configured() {
        bail!("no [signing] keys in the configuration; make one with `kiln generate-secret`");
    }
    Ok(signer)
}

/// A new key and the config lines for it, checked as the server will check them.
fn new_key(name: &str, scopes: &[ScopeArg], prefix: &str) -> anyhow::Result<String> {
    let key = kiln::auth::generate_key("kiln_");
    let scopes: Vec<kiln::auth::Scope> = [
        (ScopeArg::Read, kiln::auth::Scope::Read),
        (ScopeArg::Write, kiln::auth::Scope::Write),
        (ScopeArg::Delete, kiln::auth::Scope::Delete),
        (ScopeArg::Admin, kiln::auth::Scope::Admin),
    ]
    .into_iter()
    .filter(|(arg, _)| scopes.contains(arg))
    .map(|(_, scope)| scope)
    .collect();
    let entry = kiln::auth::ApiKeyConfig {
        name: name.to_owned(),
        sha256: kiln::auth::key_hash(&key),
        scopes,
        prefix: prefix.to_owned(),
    };
    kiln::auth::ApiKey::from_config(&entry)?;
    let table = toml::to_string(&std::collections::BTreeMap::from([("api-keys", [&entry])]))?;
    Ok(format!(
        "# API key {name:?}, shown this once; Kiln keeps only its SHA-256 below.\n# {key}\n{table}"
    ))
}

/// `kiln process`: every file through the pipeline, `jobs` at a time, with a
/// progress bar on stderr and a summary at the end.
fn process(
    config: &Config,
    files: &[PathBuf],
    ops: &str,
    profile: Option<&str>,
    out: &std::path::Path,
    jobs: Option<usize>,
) -> anyhow::Result<()> {
    use futures_util::StreamExt;

    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let processor = kiln::process::Processor::new(config, ops, profile)?;
    let jobs = jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let bar = indicatif::ProgressBar::new(files.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed} {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let (mut made, mut failed, mut bytes_in, mut bytes_out) = (0u64, 0u64, 0u64, 0u64);
    runtime.block_on(async {
        let names = kiln::process::output_names(files);
        let mut results = futures_util::stream::iter(files.iter().zip(&names))
            .map(|(file, name)| {
                let processor = &processor;
                async move { (file, processor.process(file, out, name).await) }
            })
            .buffer_unordered(jobs);
        while let Some((file, result)) = results.next().await {
            match result {
                Ok(done) => {
                    made += 1;
                    bytes_in += done.bytes_in;
                    bytes_out += done.bytes_out;
                    bar.set_message(format!("{}", done.written.display()));
                }
                Err(error) => {
                    failed += 1;
                    // Not `bar.println`, which prints nothing when stderr is not a terminal.
                    bar.suspend(|| eprintln!("kiln: {}: {error}", file.display()));
                }
            }
            bar.inc(1);
        }
    });
    bar.finish_and_clear();
    let megabytes = |bytes: u64| bytes as f64 / 1_048_576.0;
    println!(
        "{made} of {} files made into {} ({failed} failed): {:.2} MiB in, {:.2} MiB out, {:.2} s",
        files.len(),
        out.display(),
        megabytes(bytes_in),
        megabytes(bytes_out),
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        bail!("{failed} of {} files failed", files.len());
    }
    Ok(())
}
