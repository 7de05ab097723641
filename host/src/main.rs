//! The `kiln` command line: `serve`, `config check` / `config explain`,
//! `sign-url`, `sign-upload`, `generate-secret` and `plugin new` / `plugin
//! check`.

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
    SignUrl {
        /// A URL or a path with its query, e.g. `/assets/users/1/avatar?w=256`.
        url: String,
        /// Make the URL expire this many seconds from now (adds `exp`).
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// Print the query of a signed upload URL: POSTs to paths under PREFIX until it expires.
    SignUpload {
        /// An asset path prefix such as /users/123.
        prefix: String,
        /// Seconds until it expires.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
    /// Print a new random signing key (hex) for `[signing] keys`.
    GenerateSecret,
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
    if let Command::GenerateSecret = command {
        println!("{}", signing::generate_secret());
        return Ok(());
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
        Command::GenerateSecret
        | Command::Plugin {
            command: PluginCommand::New { .. },
        } => Ok(()),
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
