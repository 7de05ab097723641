//! `kiln process`: the server's pipeline on local files. Each file is
//! probed and inspected as an upload is, planned as a URL's query is
//! (profiles, canonical parameters, the plugin chain) and made by the same
//! `Transformer`, on the same bounded pool; nothing touches a catalog or a
//! store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::assets;
use crate::config::{Config, PathSettings};
use crate::metrics::Metrics;
use crate::plugin::{Kind, Plugins};
use crate::probe::{self, ProbeError};
use crate::transform::{LqipKinds, ParamError, Params, TransformError, Transformer};

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{0}")]
    Setup(String),
    #[error("{param}: {message}")]
    Param { param: String, message: String },
    #[error("reading it: {0}")]
    Read(std::io::Error),
    #[error("{0}")]
    Probe(#[from] ProbeError),
    #[error("{0}")]
    Transform(#[from] TransformError),
    #[error("writing {path}: {error}")]
    Write { path: PathBuf, error: std::io::Error },
}

impl From<ParamError> for ProcessError {
    fn from(error: ParamError) -> Self {
        ProcessError::Param {
            param: error.param,
            message: error.message,
        }
    }
}

/// What each file's result is called: its name without its extension, or
/// with it where two files share a stem (`a.jpg`, `a.png` → `a.jpg`, `a.png`),
/// so that no result overwrites another.
pub fn output_names(files: &[PathBuf]) -> Vec<String> {
    let stem = |file: &PathBuf| {
        file.file_stem()
            .map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned())
    };
    let name = |file: &PathBuf| {
        file.file_name()
            .map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned())
    };
    files
        .iter()
        .map(|file| {
            let shared = files
                .iter()
                .filter(|other| stem(other) == stem(file) && name(other) != name(file))
                .count()
                > 0;
            if shared { name(file) } else { stem(file) }
        })
        .collect()
}

/// One file made.
#[derive(Debug)]
pub struct Processed {
    pub written: PathBuf,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub width: u32,
    pub height: u32,
}

/// The pipeline, set up once for every file of a run.
pub struct Processor {
    transformer: Transformer,
    params: Params,
    settings: PathSettings,
}

impl Processor {
    /// Loads the configured plugins (compiled into the data directory's
    /// cache, as `serve` does) and parses `ops`, a URL query such as
    /// `w=300&format=webp`, with `profile` laid under it. Blocking: it
    /// compiles plugins.
    pub fn new(config: &Config, ops: &str, profile: Option<&str>) -> Result<Self, ProcessError> {
        let setup = |error: &dyn std::fmt::Display| ProcessError::Setup(error.to_string());
        let profiles = config.profiles().map_err(|e| setup(&e))?;
        let metrics = Arc::new(Metrics::new());
        let cache = config.data_dir.join("plugin-cache");
        let plugins = Plugins::load(
            &config.plugins,
            &cache,
            config.limits.max_output_dimension,
            metrics.clone(),
        )
        .map_err(|e| setup(&e))?;
        // Locally, the operator may name any loaded transform in `fx`.
        let settings = PathSettings {
            allowed_fx: plugins
                .iter()
                .filter(|plugin| plugin.is(Kind::Transform))
                .map(|plugin| plugin.name.clone())
                .collect(),
            ..PathSettings::default()
        };
        let transformer = Transformer::new(config.limits.transform(), plugins, metrics).map_err(|e| setup(&e))?;
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(ops.as_bytes()).into_owned().collect();
        if let Some(profile) = profile {
            pairs.push(("profile".into(), profile.into()));
        }
        let params = Params::parse(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            config.limits.params(),
        )?;
        // What can be refused before any file is read is refused once, here.
        let params = profiles.apply(params).map_err(|message| ProcessError::Param {
            param: "profile".into(),
            message,
        })?;
        if let Some(name) = params
            .fx
            .iter()
            .flatten()
            .find(|name| !settings.allowed_fx.contains(name))
        {
            return Err(ProcessError::Param {
                param: "fx".into(),
                message: format!("there is no transform plugin {name:?} in the configuration's [plugins]"),
            });
        }
        Ok(Self {
            transformer,
            params,
            settings,
        })
    }

    /// Makes `file` into `out/{name}.{the result's extension}`.
    pub async fn process(&self, file: &Path, out: &Path, name: &str) -> Result<Processed, ProcessError> {
        let bytes = Bytes::from(tokio::fs::read(file).await.map_err(ProcessError::Read)?);
        let probed = bytes.clone();
        let info = tokio::task::spawn_blocking(move || probe::probe(&probed))
            .await
            .map_err(|_| ProcessError::Setup("the runtime is shutting down".into()))??;
        let inspection = self
            .transformer
            .inspect(bytes.clone(), info, LqipKinds::default(), false)
            .await?;

        let plan = assets::plan(
            &self.transformer,
            &inspection.source,
            &self.params,
            &self.settings,
            None,
        )?;
        let extension = plan.output.format.image_format().extension();
        let written = out.join(format!("{name}.{extension}"));
        let (bytes_in, width, height, made) = if plan.identity {
            let source = &inspection.source;
            (bytes.len() as u64, source.width, source.height, bytes.to_vec())
        } else {
            let encoded = self.transformer.render(bytes.clone(), plan, inspection.source).await?;
            (bytes.len() as u64, encoded.width, encoded.height, encoded.bytes)
        };
        let bytes_out = made.len() as u64;
        tokio::fs::write(&written, made)
            .await
            .map_err(|error| ProcessError::Write {
                path: written.clone(),
                error,
            })?;
        Ok(Processed {
            written,
            bytes_in,
            bytes_out,
            width,
            height,
        })
    }
}
