//! The `kiln` command line: `serve`, and `config check` / `config explain`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kiln::address::AssetPath;
use kiln::config::{Config, PathRules};

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
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kiln: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(kiln::serve(config)),
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            print!("{}", toml::to_string_pretty(&config)?);
            eprintln!("configuration is valid");
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
                &config.plugin_names(),
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
