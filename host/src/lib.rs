//! Kiln: a self-hosted image service.
//!
//! A request reads top to bottom through the modules: `api` parses and
//! authorises (`auth`), resolves the path's rules (`config`), and calls
//! `assets`, which composes `probe`, `transform`, `catalog` and `store`.
//! See ARCHITECTURE.md for the map and its invariants.
//!
//! The library's surface is what the `kiln` binary needs: [`serve`], the
//! configuration, asset paths and URL signing. [`internals`] is for the fuzz
//! targets and benchmarks only.

pub mod address;
mod api;
mod assets;
pub mod auth;
mod catalog;
pub mod config;
mod error_chain;
mod jobs;
mod metrics;
mod plugin;
pub mod plugin_tool;
mod probe;
pub mod process;
mod remote;
mod secret;
mod server;
mod store;
mod transform;
mod usage;
mod views;
mod webhooks;

/// The HTTP API's OpenAPI 3.1 document, as `GET /openapi.json` serves it.
pub use api::openapi_json;

/// What the fuzz targets (`host/fuzz`) and the plugin benchmark drive
/// directly. Not an API: it changes with the code.
#[doc(hidden)]
pub mod internals {
    pub use crate::metrics::Metrics;
    pub use crate::plugin::{PluginConfig, PluginImage, Plugins};
    pub use crate::probe::{ImageFormat, SourceColour, probe, sniff};
    pub use crate::transform::{ParamLimits, Params, Plan, Source, encode_webp};
}

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::{Config, PathRules};

/// What `kiln version` prints: Kiln's version, the image libraries in this
/// build, and the plugin API versions it loads.
pub fn version_report() -> String {
    let mut report = format!("kiln {}\n", env!("CARGO_PKG_VERSION"));
    for (library, version) in transform::codec_versions() {
        report.push_str(&format!("{library} {version}\n"));
    }
    report.push_str(&format!("plugin API {}\n", plugin::API_VERSIONS.join(", ")));
    report
}

/// Opens the catalog and the store, binds the listener, and serves until
/// SIGINT or SIGTERM; in-flight requests are then given
/// `server.shutdown-grace-seconds` to finish.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let profiles = config.profiles()?;
    // Compiling plugins takes a while the first time; the cache makes later starts quick.
    let (plugin_configs, cache) = (config.plugins.clone(), config.data_dir.join("plugin-cache"));
    let max_output_side = config.limits.max_output_dimension;
    let tally = metrics::Tally::new(config.analytics.prefix_depth, config.analytics.enabled);
    let metrics = Arc::new(metrics::Metrics::with_tally(tally));
    let counted = metrics.clone();
    let plugins =
        tokio::task::spawn_blocking(move || plugin::Plugins::load(&plugin_configs, &cache, max_output_side, counted))
            .await??;
    // Checked again now that each plugin's kind is known.
    let rules = Arc::new(PathRules::compile(
        &config.paths,
        &config.limits,
        &profiles,
        &plugins.kinds(),
    )?);
    let transformer = Arc::new(transform::Transformer::new(
        config.limits.transform(),
        plugins,
        metrics.clone(),
    )?);
    let (keys, new_key) = auth::KeyRing::load(&config.api_keys, &config.data_dir)?;
    let webhooks = Arc::new(webhooks::Webhooks::compile(&config.webhooks).map_err(anyhow::Error::msg)?);
    let catalog = catalog::open(
        &config.database_url(),
        config.database.max_connections,
        webhooks.clone(),
        metrics.clone(),
    )
    .await
    .context("opening the catalog")?;
    let store: Arc<dyn store::ObjectStore> =
        Arc::new(store::MeteredStore::new(open_store(&config).await?, metrics.clone()));
    let assets = assets::Assets::new(
        catalog.clone(),
        store,
        transformer,
        config.cache.memory_bytes,
        config.limits.max_variants_per_entry,
    );
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let grace = Duration::from_secs(config.server.shutdown_grace_seconds);
    let address = listener.local_addr()?;
    if let Some(auth::NewDevelopmentKey(key)) = new_key {
        println!(
            "development API key (shown once; only its hash is kept in {}): {key}",
            config.data_dir.display()
        );
    }
    println!("kiln listening on http://{address}");
    let (stop_jobs, jobs_stopped) = tokio::sync::watch::channel(false);
    let job_runner = tokio::spawn(jobs::run(
        assets.clone(),
        profiles.clone(),
        rules.clone(),
        jobs_stopped.clone(),
    ));
    let deliverer = tokio::spawn(webhooks::run(
        catalog.clone(),
        webhooks,
        metrics.clone(),
        jobs_stopped.clone(),
    ));
    let writing = usage::Writing {
        every: Duration::from_secs_f64(config.analytics.flush_seconds),
        most_a_day: i64::from(config.analytics.max_paths_per_day),
        retention_days: i64::from(config.analytics.retention_days),
    };
    let usage_writer = tokio::spawn(usage::run(catalog, metrics.clone(), writing, jobs_stopped));
    let connection_limits = server::ConnectionLimits {
        max_connections: config.server.max_connections,
        header_timeout: Duration::from_millis(config.server.header_timeout_ms),
        max_headers: 4 * api::MAX_HEADERS,
    };
    let signer = config.signer()?;
    let fetcher = remote::Fetcher::new(&config.ingest)?;
    let metrics_listener = match config.metrics.listen {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("listening for /metrics on {address}"))?,
        ),
        None => None,
    };
    let state = api::AppState::new(
        config,
        rules,
        profiles,
        assets,
        api::Access { keys, signer, fetcher },
        address,
    );
    let app = api::router(state.clone());

    if let Some(listener) = metrics_listener {
        println!("kiln metrics on http://{}/metrics", listener.local_addr()?);
        let metrics_only = api::metrics_router(state);
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, metrics_only).await {
                tracing::error!(%error, "the metrics listener stopped");
            }
        });
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop_tx.send(true);
    });
    server::serve(listener, app, connection_limits, stop_rx, grace).await;
    // A job cut short stays locked until its lease passes, then runs again.
    let _ = stop_jobs.send(true);
    let _ = tokio::time::timeout(grace, async { tokio::join!(job_runner, deliverer, usage_writer) }).await;
    Ok(())
}

/// glibc raises its mmap threshold each time a large block is freed, after
/// which image-sized buffers are carved from per-thread arenas that rarely
/// shrink: with many threads, peak memory grows with every concurrent
/// request. A fixed threshold keeps the largest decode buffers in their own
/// mappings, returned to the system when freed, which more than halves the
/// peak RSS of concurrent transforms of a large photo. Below the threshold,
/// buffers are reused from the heap instead of faulted in afresh each time:
/// at 16 MiB that includes the 8 MB coefficient array libjpeg allocates (and
/// zeroes) for a 4 MP progressive JPEG, whose page faults were a visible
/// share of a cold request's CPU. Fixing the threshold also pins the trim
/// threshold at its 128 KiB default, so every request gave the top of its
/// heap back and faulted it in again: 32 MiB of trim slack and 4 MiB of
/// padding per heap growth avoid that for a little more peak RSS. The
/// figures are in bench/NOTES.md.
pub fn keep_image_buffers_out_of_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; callers call it
    // first thing in `main`, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 16 * 1024 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 * 1024 * 1024);
        libc::mallopt(libc::M_TOP_PAD, 4 * 1024 * 1024);
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn store::ObjectStore>> {
    Ok(match &config.storage {
        config::StorageConfig::Fs { root } => {
            let root = root.clone().unwrap_or_else(|| config.data_dir.join("objects"));
            let store = store::FsStore::open(&root)
                .with_context(|| format!("opening the object store at {}", root.display()))?;
            Arc::new(store)
        }
        config::StorageConfig::S3(settings) => Arc::new(store::S3Store::connect(settings).await),
    })
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}
