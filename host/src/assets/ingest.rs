//! Taking in an upload: the type check, probe and inspection, the path's
//! validators and preprocessors, and the write of bytes then row.

use bytes::Bytes;

use super::{AssetError, Assets, sha256_hex, variant_job};
use crate::address::AssetPath;
use crate::catalog::{Entry, EntryMetadata, NewJob, Original, Timestamp};
use crate::config::{LqipKind, PathSettings};
use crate::plugin::{PluginError, UploadFacts, Verdict};
use crate::probe::{self, ImageInfo, ProbeError, SourceColour};
use crate::store::ObjectKey;
use crate::transform::{LqipKinds, Plan, Source, TransformError};

/// What validators and preprocessors are told: what the bytes say, and
/// where and with what metadata they were sent.
fn facts(source: &Source, bytes: usize, sent: (&AssetPath, &EntryMetadata)) -> UploadFacts {
    let (path, metadata) = sent;
    UploadFacts {
        content_type: source.format.mime().to_owned(),
        width: source.width,
        height: source.height,
        frames: source.pages,
        bytes: bytes as u64,
        path: format!("/{path}"),
        alt: metadata.alt.clone(),
        labels: metadata.labels.clone().into_iter().collect(),
        tags: metadata.tags.clone(),
    }
}

fn not_loaded(name: &str) -> PluginError {
    PluginError::Load {
        name: name.to_owned(),
        message: "the plugin is not loaded".into(),
    }
}

/// Probes an upload off the async threads: the structural walks (PNG CRCs
/// over a 32 MiB upload, SVG's XML, EXIF) take milliseconds.
async fn probe_blocking(bytes: &Bytes) -> Result<probe::ImageInfo, ProbeError> {
    let probed = bytes.clone();
    match tokio::task::spawn_blocking(move || probe::probe(&probed)).await {
        Ok(info) => info,
        // Only when the runtime is shutting down and drops the task.
        Err(_) => probe::probe(bytes),
    }
}

/// What the header alone says of an image, for judging before it is
/// inspected whether a preprocess will replace it.
fn header_source(info: &ImageInfo) -> Source {
    Source {
        format: info.format,
        width: info.width,
        height: info.height,
        has_alpha: false,
        pages: 1,
        colour: SourceColour::Srgb,
    }
}

impl Assets {
    /// Checks an upload and, if it is acceptable, preprocesses it and stores
    /// it as the next entry at `path`, with its eager variants queued: the
    /// path's and the upload's own `eager` profiles.
    pub async fn ingest(
        &self,
        path: &AssetPath,
        bytes: Bytes,
        metadata: EntryMetadata,
        settings: &PathSettings,
        eager: &[String],
    ) -> Result<Entry, AssetError> {
        // A type the path refuses is refused as such, before its contents are
        // looked at any closer.
        if let Some(format) = probe::sniff(&bytes)
            && !settings.allows(format)
        {
            return Err(AssetError::TypeNotAllowed {
                format,
                allowed: settings.allowed_content_types.clone(),
            });
        }
        let info = probe_blocking(&bytes).await?;
        let lqip = LqipKinds {
            blurhash: settings.lqip.contains(&LqipKind::Blurhash),
            thumbhash: settings.lqip.contains(&LqipKind::Thumbhash),
        };
        // Each version of the bytes is inspected once, and its LQIP worked
        // out only when it is the one stored: judged from its header
        // before the inspection, checked against the inspection after.
        let stored_as_is = |info: &ImageInfo| -> Result<bool, AssetError> {
            Ok(settings.preprocessors.is_empty() && self.preprocess_plan(settings, &header_source(info))?.is_none())
        };
        let kinds = |stored: bool| if stored { lqip } else { LqipKinds::default() };
        let validating = !settings.validators.is_empty();
        let mut inspection = self
            .inspect(bytes.clone(), info, kinds(stored_as_is(&info)?), validating)
            .await?;
        if let Some(preview) = inspection.preview.take() {
            let facts = facts(&inspection.source, bytes.len(), (path, &metadata));
            self.validate(&bytes, facts, preview, settings).await?;
        }
        let (bytes, info) = if settings.preprocessors.is_empty() {
            (bytes, info)
        } else {
            let (bytes, info) = self
                .preprocess_with_plugins(bytes, info, &inspection.source, settings, (path, &metadata))
                .await?;
            let stored = self.preprocess_plan(settings, &header_source(&info))?.is_none();
            inspection = self.inspect(bytes.clone(), info, kinds(stored), false).await?;
            (bytes, info)
        };
        let (bytes, info) = match self.preprocess_plan(settings, &inspection.source)? {
            Some(plan) => {
                let encoded = self.transformer.render(bytes, plan, inspection.source).await?;
                let bytes = Bytes::from(encoded.bytes);
                let info = probe_blocking(&bytes).await?;
                inspection = self.inspect(bytes.clone(), info, lqip, false).await?;
                (bytes, info)
            }
            None => (bytes, info),
        };
        if inspection.lqip.is_none() && (lqip.blurhash || lqip.thumbhash) {
            // The header misjudged the preprocess (it could not see alpha,
            // frames or colour): the stored bytes still get their LQIP.
            inspection.lqip = self.inspect(bytes.clone(), info, lqip, false).await?.lqip;
        }
        let sha256 = sha256_hex(bytes.clone()).await;
        let number = self.catalog.allocate_entry(path).await?;
        let object_key = ObjectKey::original(settings.bucket.as_deref(), path, number);
        let now = Timestamp::now();
        let source = inspection.source;
        let entry = Entry {
            path: path.clone(),
            entry: number,
            metadata,
            original: Original {
                content_type: info.format.mime().to_owned(),
                width: source.width,
                height: source.height,
                bytes: bytes.len() as u64,
                sha256,
                object_key: object_key.clone(),
                has_alpha: source.has_alpha,
                pages: source.pages,
                colour: source.colour,
            },
            lqip: inspection.lqip,
            created_at: now,
            modified_at: now,
            purges: 0,
        };
        // The eager variants are queued in the entry's own transaction: a
        // crash can leave neither an entry without its jobs nor jobs for an
        // entry that was never stored.
        let mut profiles: Vec<&String> = settings.eager_variants.iter().collect();
        profiles.extend(eager.iter().filter(|p| !settings.eager_variants.contains(p)));
        let jobs: Vec<NewJob> = profiles
            .into_iter()
            .map(|profile| variant_job(path, number, format!("profile={profile}")))
            .collect();
        self.store.put(&object_key, bytes, &entry.original.content_type).await?;
        if let Err(error) = self.catalog.insert_entry(&entry, &jobs).await {
            self.discard(&object_key).await;
            return Err(error.into());
        }
        tracing::info!(path = %path, entry = number, content_type = %entry.original.content_type, "entry stored");
        Ok(entry)
    }

    /// The path's `preprocess` as a plan for `source`, unless it has none
    /// or it would leave the upload as it is.
    fn preprocess_plan(&self, settings: &PathSettings, source: &Source) -> Result<Option<Plan>, AssetError> {
        let Some(preprocess) = &settings.preprocess else {
            return Ok(None);
        };
        let params = preprocess
            .params(source.width, source.height, self.transformer.param_limits())
            .map_err(|e| AssetError::Preprocess(e.to_string()))?;
        let max = self.transformer.limits().max_dimension;
        let plan =
            Plan::new(&params, source, None, max, Vec::new()).map_err(|e| AssetError::Preprocess(e.to_string()))?;
        Ok((!plan.identity).then_some(plan))
    }

    /// Runs the path's validators in order; the first rejection refuses the upload.
    async fn validate(
        &self,
        bytes: &Bytes,
        facts: UploadFacts,
        preview: crate::plugin::PluginImage,
        settings: &PathSettings,
    ) -> Result<(), AssetError> {
        for name in &settings.validators {
            let (plugin, upload, facts, preview) = (name.clone(), bytes.clone(), facts.clone(), preview.clone());
            let verdict = self
                .transformer
                .run_plugin(move |plugins| {
                    let found = plugins.get(&plugin).ok_or_else(|| not_loaded(&plugin))?;
                    found.validate(&upload, &facts, preview)
                })
                .await?;
            if let Verdict::Reject(reason) = verdict {
                return Err(AssetError::Rejected {
                    plugin: name.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// Runs the path's preprocessor plugins in order; each result must still
    /// be an image the path accepts.
    async fn preprocess_with_plugins(
        &self,
        mut bytes: Bytes,
        mut info: probe::ImageInfo,
        source: &Source,
        settings: &PathSettings,
        sent: (&AssetPath, &EntryMetadata),
    ) -> Result<(Bytes, probe::ImageInfo), AssetError> {
        let mut source = *source;
        for name in &settings.preprocessors {
            let (plugin, upload, facts) = (name.clone(), bytes.clone(), facts(&source, bytes.len(), sent));
            let replaced = self
                .transformer
                .run_plugin(move |plugins| {
                    let found = plugins.get(&plugin).ok_or_else(|| not_loaded(&plugin))?;
                    found.preprocess(&upload, &facts)
                })
                .await?;
            bytes = Bytes::from(replaced);
            info = probe_blocking(&bytes).await?;
            if !settings.allows(info.format) {
                return Err(AssetError::TypeNotAllowed {
                    format: info.format,
                    allowed: settings.allowed_content_types.clone(),
                });
            }
            source = Source {
                format: info.format,
                width: info.width,
                height: info.height,
                ..source
            };
        }
        Ok((bytes, info))
    }

    async fn inspect(
        &self,
        bytes: Bytes,
        info: probe::ImageInfo,
        lqip: LqipKinds,
        preview: bool,
    ) -> Result<crate::transform::Inspection, AssetError> {
        self.transformer
            .inspect(bytes, info, lqip, preview)
            .await
            .map_err(|error| match error {
                TransformError::Pipeline(_) => AssetError::Undecodable(error),
                other => AssetError::Transform(other),
            })
    }
}
