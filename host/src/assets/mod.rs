//! Operations on entries — ingest an upload, find, render, update, delete —
//! composed from the probe, the transformer, the catalog and the store.
//!
//! This is what the HTTP layer and the job runner call; it knows nothing of
//! HTTP. Ordering between catalog and store is chosen so that a failure
//! halfway leaves at worst an orphaned object, never a catalog row whose
//! bytes are missing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::address::{AssetPath, Ordering};
use crate::catalog::{
    Catalog, CatalogError, Entries, Entry, EntryMetadata, LeaseToken, NewJob, Selection, Timestamp, Variant,
    VariantClaim,
};
use crate::config::PathSettings;
use crate::metrics::LookupLabels;
use crate::plugin::Kind;
use crate::probe::{ImageFormat, ProbeError};
use crate::store::{ObjectKey, ObjectStore, StoreError};
use crate::transform::{
    FxStep, OutputFormat, ParamError, Params, Plan, PoolError, Source, Timings, TransformError, Transformer,
};

mod hot;
mod ingest;
use hot::HotCache;

#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// The upload is not an acceptable image; nothing was stored.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The upload is a valid image of a type the path does not accept.
    #[error("{} uploads are not allowed at this path; allowed: {}", .format.mime(), .allowed.join(", "))]
    TypeNotAllowed { format: ImageFormat, allowed: Vec<String> },
    /// The upload's pixels could not be decoded.
    #[error("the image could not be decoded: {0}")]
    Undecodable(TransformError),
    #[error(transparent)]
    Transform(#[from] TransformError),
    /// The path's preprocessing parameters do not fit this upload.
    #[error("preprocessing: {0}")]
    Preprocess(String),
    /// A validator plugin refused the upload.
    #[error("plugin {plugin:?} rejected the upload: {reason}")]
    Rejected { plugin: String, reason: String },
    /// The entry has as many variants as `limits.max-variants-per-entry` allows.
    #[error(
        "this image already has {0} variants, the most the server keeps for one image; \
         ask for one of the transformations it has (see its metadata)"
    )]
    TooManyVariants(u32),
    /// Another process has been making this variant for longer than we wait.
    #[error("the variant is still being made elsewhere; try again shortly")]
    VariantBusy,
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a DELETE removes.
#[derive(Debug, Clone, Copy)]
pub enum DeleteTarget {
    Newest,
    Entry(u64),
    Tree,
}

/// The bytes a fetch answers with.
pub enum Rendition {
    /// The plan is the identity: the original itself.
    Original,
    /// A variant made earlier.
    Cached(Arc<Variant>),
    /// A variant made for this request, with where the time went.
    Fresh(Arc<Variant>, Bytes, Timings),
}

/// A URL into the object store itself, for `redirect`.
pub enum StoreLink<'a> {
    /// Presigned by the store, valid for this long.
    Presigned(Duration),
    /// A template with `{bucket}` and `{key}` in it.
    Template(&'a str),
}

/// A job kind on the durable queue.
pub const EAGER_VARIANT_JOB: &str = "eager-variant";

/// A variant to make off the request path: an upload's eager profiles, or
/// a batch asked for with `?async=true`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct EagerVariant {
    pub path: String,
    pub entry: u64,
    /// The transformation as a URL's query gives it: `w=300&format=webp`,
    /// `profile=thumb`.
    #[serde(default)]
    pub query: String,
    /// What jobs queued before `query` name instead: `profile={profile}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

#[derive(Clone)]
pub struct Assets {
    catalog: Arc<dyn Catalog>,
    store: Arc<dyn ObjectStore>,
    transformer: Arc<Transformer>,
    hot: Arc<HotCache>,
    /// `limits.max-variants-per-entry`.
    max_variants: u32,
    /// Variants being made by this process, so that its own concurrent
    /// requests wait on a lock instead of polling the catalog.
    making: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

/// Hex SHA-256 of an upload, computed off the async threads: hashing the
/// largest upload allowed (32 MiB) takes tens of milliseconds.
async fn sha256_hex(bytes: Bytes) -> String {
    let hashed = bytes.clone();
    match tokio::task::spawn_blocking(move || hex::encode(Sha256::digest(&hashed))).await {
        Ok(hex) => hex,
        // Only when the runtime is shutting down and drops the task.
        Err(_) => hex::encode(Sha256::digest(&bytes)),
    }
}

/// The job that makes the variant `query` of `path`'s entry `entry`.
fn variant_job(path: &AssetPath, entry: u64, query: String) -> NewJob {
    let job = EagerVariant {
        path: path.as_str().to_owned(),
        entry,
        query,
        profile: None,
    };
    NewJob {
        kind: EAGER_VARIANT_JOB,
        // A struct of strings and a number always serialises.
        payload: serde_json::to_string(&job).unwrap_or_default(),
    }
}

/// The planning facts of an entry's original.
pub fn source_of(entry: &Entry) -> Source {
    Source {
        format: ImageFormat::from_mime(&entry.original.content_type).unwrap_or(ImageFormat::Jpeg),
        width: entry.original.width,
        height: entry.original.height,
        has_alpha: entry.original.has_alpha,
        pages: entry.original.pages,
        colour: entry.original.colour,
    }
}

/// The canonical plan for `params` on an original described by `source`, at
/// a path with `settings`: the URL's `fx` (each allowed at the path and a
/// loaded transform), then the path's own `transforms`. The server's reads
/// and `kiln process` plan alike through it.
pub fn plan(
    transformer: &Transformer,
    source: &Source,
    params: &Params,
    settings: &PathSettings,
    accept: Option<&str>,
) -> Result<Plan, ParamError> {
    let invalid = |message: String| ParamError {
        param: "fx".into(),
        message,
    };
    let plugins = transformer.plugins();
    let named = params.fx.clone().unwrap_or_default();
    let chain = named
        .iter()
        .map(|n| (n, true))
        .chain(settings.transforms.iter().map(|n| (n, false)));
    let mut fx = Vec::new();
    for (name, from_url) in chain {
        if from_url && !settings.allowed_fx.contains(name) {
            return Err(invalid(format!(
                "plugin {name:?} is not allowed at this path (see allowed-fx)"
            )));
        }
        let plugin = plugins
            .get(name)
            .ok_or_else(|| invalid(format!("there is no plugin {name:?}")))?;
        if !plugin.is(Kind::Transform) {
            return Err(invalid(format!("plugin {name:?} is not a transform")));
        }
        let no_params = BTreeMap::new();
        let given = params.plugin_params.get(name).unwrap_or(&no_params);
        let params = plugin.canonical_params(given).map_err(|problem| ParamError {
            param: format!("{name}.{}", problem.key),
            message: problem.message,
        })?;
        fx.push(FxStep {
            name: name.clone(),
            hash: plugin.hash.clone(),
            params,
        });
    }
    if let Some(stray) = params
        .plugin_params
        .keys()
        .find(|p| !fx.iter().any(|step| &step.name == *p))
    {
        return Err(ParamError {
            param: format!("{stray}.*"),
            message: format!("plugin {stray:?} is not in this request's chain; name it in fx"),
        });
    }
    let max = transformer.limits().max_dimension;
    let plan = Plan::new(params, source, accept, max, fx.clone())?;
    // `format=auto` asks for the best format the server can make: AVIF's
    // encoder holds several times what the others do, so a result too
    // large to make as AVIF is negotiated again without it (WebP, as a
    // browser that takes AVIF takes WebP too).
    if plan.negotiated && plan.output.format == OutputFormat::Avif && !transformer.can_make(&plan, source) {
        let without_avif: Vec<&str> = accept
            .unwrap_or_default()
            .split(',')
            .filter(|item| !item.trim_start().to_ascii_lowercase().starts_with("image/avif"))
            .collect();
        return Plan::new(params, source, Some(&without_avif.join(",")), max, fx);
    }
    Ok(plan)
}

impl Assets {
    /// `memory_bytes` bounds the bytes kept in memory for repeated reads (0:
    /// none); `max_variants` the variants one entry may have.
    pub fn new(
        catalog: Arc<dyn Catalog>,
        store: Arc<dyn ObjectStore>,
        transformer: Arc<Transformer>,
        memory_bytes: u64,
        max_variants: u32,
    ) -> Self {
        Self {
            catalog,
            store,
            transformer,
            hot: Arc::new(HotCache::new(memory_bytes)),
            max_variants,
            making: Arc::default(),
        }
    }

    pub fn transformer(&self) -> &Transformer {
        &self.transformer
    }

    pub fn catalog(&self) -> &dyn Catalog {
        self.catalog.as_ref()
    }

    /// The canonical plan for `params` on `entry` at a path with `settings`:
    /// the URL's `fx` (each allowed at the path and a loaded transform),
    /// then the path's own `transforms`.
    pub fn plan(
        &self,
        entry: &Entry,
        params: &Params,
        settings: &PathSettings,
        accept: Option<&str>,
    ) -> Result<Plan, ParamError> {
        plan(&self.transformer, &source_of(entry), params, settings, accept)
    }

    pub async fn find(&self, path: &AssetPath, selection: &Selection) -> Result<Option<Arc<Entry>>, AssetError> {
        Ok(self.catalog.find_entry(path, selection).await?)
    }

    /// The bytes of an original or variant whose content hash is `sha256`.
    pub async fn read(&self, key: &ObjectKey, sha256: &str) -> Result<Bytes, AssetError> {
        if let Some(bytes) = self.hot.object(key, sha256) {
            return Ok(bytes);
        }
        let bytes = self.store.get(key).await?;
        self.hot.keep_object(key, sha256, &bytes);
        Ok(bytes)
    }

    /// A variant already made for `plan`, if any.
    pub async fn existing(&self, entry: &Entry, plan: &Plan) -> Result<Option<Variant>, AssetError> {
        let key = plan.key(entry.original.has_alpha);
        Ok(self.catalog.find_variant(&entry.path, entry.entry, &key).await?)
    }

    /// The bytes for `plan`: the original, a cached variant, or a variant
    /// made now — once, however many requests and processes ask at once.
    pub async fn render(&self, entry: &Entry, plan: &Plan) -> Result<Rendition, AssetError> {
        if plan.identity {
            return Ok(Rendition::Original);
        }
        let key = plan.key(entry.original.has_alpha);
        let lookups = &self.transformer.metrics().variant_lookups;
        if let Some(variant) = self.hot.variant(entry, &key) {
            lookups.get_or_create(&LookupLabels { source: "memory" }).inc();
            return Ok(Rendition::Cached(variant));
        }
        if let Some(variant) = self.catalog.find_variant(&entry.path, entry.entry, &key).await? {
            lookups.get_or_create(&LookupLabels { source: "catalog" }).inc();
            let variant = Arc::new(variant);
            self.hot.keep_variant(entry, &variant);
            return Ok(Rendition::Cached(variant));
        }
        lookups.get_or_create(&LookupLabels { source: "made" }).inc();
        // The variant is made by a task of its own, not by this request: a
        // client that disconnects must neither strand the variant's lease
        // nor leave its entry in the lock map, and the work it started is
        // finished and stored for the next request.
        let (assets, entry, plan) = (self.clone(), entry.clone(), plan.clone());
        // The task logs in the span of the request that started it.
        let making = tokio::spawn(tracing::Instrument::in_current_span(async move {
            let local = format!("{}\n{}\n{key}", entry.path.as_str(), entry.entry);
            let lock = assets.local_lock(&local);
            let rendition = {
                let _making = lock.lock().await;
                assets.claim_and_render(&entry, &plan, &key).await
            };
            drop(lock);
            assets.release_local_lock(&local);
            rendition
        }));
        making
            .await
            .map_err(|e| AssetError::Transform(TransformError::Pool(PoolError::Crashed(e.to_string()))))?
    }

    fn local_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut making = self.making.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        making.entry(key.to_owned()).or_default().clone()
    }

    fn release_local_lock(&self, key: &str) {
        let mut making = self.making.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if making.get(key).is_some_and(|lock| Arc::strong_count(lock) == 1) {
            making.remove(key);
        }
    }

    async fn claim_and_render(&self, entry: &Entry, plan: &Plan, key: &str) -> Result<Rendition, AssetError> {
        let timeout = self.transformer.limits().timeout;
        // A lease outlives the time limit so that a live maker is never
        // overtaken; a dead one's lease lapses and another process takes over.
        let lease = timeout * 2 + Duration::from_secs(5);
        // A live maker finishes within its time limit; waiting longer for it
        // only holds the request.
        let give_up = Instant::now() + timeout + Duration::from_secs(5);
        let mut pause = Duration::from_millis(10);
        // Concurrent first requests for different variants may each pass
        // this check, so the bound can be overrun by as many as run at once.
        if self.catalog.count_variants(&entry.path, entry.entry).await? >= u64::from(self.max_variants)
            && self
                .catalog
                .find_variant(&entry.path, entry.entry, key)
                .await?
                .is_none()
        {
            return Err(AssetError::TooManyVariants(self.max_variants));
        }
        loop {
            match self.catalog.claim_variant(&entry.path, entry.entry, key, lease).await? {
                VariantClaim::Ready(variant) => return Ok(Rendition::Cached(Arc::new(variant))),
                VariantClaim::Claimed(token) => {
                    let made = self.make_variant(entry, plan, key, token).await;
                    if let Err(error) = &made {
                        let failure = match error {
                            AssetError::Transform(transform) => transform.code(),
                            _ => None,
                        };
                        self.catalog
                            .abandon_variant(&entry.path, entry.entry, key, token, failure)
                            .await?;
                    }
                    return made;
                }
                VariantClaim::Busy if Instant::now() > give_up => return Err(AssetError::VariantBusy),
                VariantClaim::Busy => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
            }
        }
    }

    async fn make_variant(
        &self,
        entry: &Entry,
        plan: &Plan,
        key: &str,
        token: LeaseToken,
    ) -> Result<Rendition, AssetError> {
        let started = Instant::now();
        let original = self.read(&entry.original.object_key, &entry.original.sha256).await?;
        let read = started.elapsed();
        let encoded = self
            .transformer
            .render(original, plan.clone(), source_of(entry))
            .await?;
        let mut timings = encoded.timings;
        timings.0.insert(0, ("original".into(), read));
        let storing = Instant::now();
        let bytes = Bytes::from(encoded.bytes);
        let object_key = ObjectKey::variant(
            &entry.original.object_key,
            &entry.path,
            entry.entry,
            &hex::encode(&Sha256::digest(key.as_bytes())[..16]),
        );
        let variant = Variant {
            key: key.to_owned(),
            content_type: plan.output.format.mime().to_owned(),
            width: encoded.width,
            height: encoded.height,
            bytes: bytes.len() as u64,
            sha256: sha256_hex(bytes.clone()).await,
            object_key: object_key.clone(),
            created_at: Timestamp::now(),
        };
        self.store
            .put(&object_key, bytes.clone(), &variant.content_type)
            .await?;
        let recorded = match self
            .catalog
            .complete_variant(&entry.path, entry.entry, &variant, token)
            .await
        {
            Ok(recorded) => recorded,
            Err(error) => {
                self.discard(&object_key).await;
                return Err(error.into());
            }
        };
        timings.add("store", storing.elapsed());
        let variant = Arc::new(variant);
        if !recorded {
            // The lease lapsed and another maker took it over; it writes the
            // same bytes to the same key, so the object stays, and these
            // bytes are still the right answer to this request.
            tracing::warn!(path = %entry.path, entry = entry.entry, variant = key, "variant lease was taken over");
            return Ok(Rendition::Fresh(variant, bytes, timings));
        }
        tracing::info!(path = %entry.path, entry = entry.entry, variant = key, bytes = variant.bytes, "variant made");
        self.hot.keep_variant(entry, &variant);
        self.hot.keep_object(&variant.object_key, &variant.sha256, &bytes);
        Ok(Rendition::Fresh(variant, bytes, timings))
    }

    /// A URL that reads `plan`'s bytes straight from the object store,
    /// making the variant first when it does not exist yet.
    pub async fn store_link(&self, entry: &Entry, plan: &Plan, link: StoreLink<'_>) -> Result<String, AssetError> {
        let rendition = self.render(entry, plan).await?;
        let key = match &rendition {
            Rendition::Original => &entry.original.object_key,
            Rendition::Cached(variant) | Rendition::Fresh(variant, ..) => &variant.object_key,
        };
        Ok(match link {
            StoreLink::Presigned(ttl) => self.store.presigned_get(key, ttl).await?,
            StoreLink::Template(template) => template
                .replace("{bucket}", self.store.bucket_of(key))
                .replace("{key}", key.as_str()),
        })
    }

    /// Queues the variants `queries` of `entry` for the job runner.
    pub async fn queue_variants(&self, entry: &Entry, queries: &[String]) -> Result<(), AssetError> {
        let jobs: Vec<NewJob> = queries
            .iter()
            .map(|query| variant_job(&entry.path, entry.entry, query.clone()))
            .collect();
        Ok(self.catalog.queue_jobs(&jobs).await?)
    }

    pub async fn variants(&self, entry: &Entry) -> Result<Vec<Variant>, AssetError> {
        Ok(self.catalog.list_variants(&entry.path, entry.entry).await?)
    }

    pub async fn update_metadata(
        &self,
        path: &AssetPath,
        entry: u64,
        metadata: &EntryMetadata,
    ) -> Result<Option<Entry>, AssetError> {
        Ok(self
            .catalog
            .update_metadata(path, entry, metadata, Timestamp::now())
            .await?)
    }

    /// Deletes entries with their variants, then their objects; returns
    /// what was deleted.
    pub async fn delete(&self, path: &AssetPath, target: DeleteTarget) -> Result<Vec<Entry>, AssetError> {
        let deleted = match target {
            DeleteTarget::Tree => self.catalog.delete_tree(path).await?,
            DeleteTarget::Entry(n) => self.catalog.delete_entry(path, n).await?.into_iter().collect(),
            DeleteTarget::Newest => {
                let newest = Selection {
                    ordering: Ordering::New,
                    labels: Vec::new(),
                };
                match self.catalog.find_entry(path, &newest).await? {
                    Some(entry) => self
                        .catalog
                        .delete_entry(path, entry.entry)
                        .await?
                        .into_iter()
                        .collect(),
                    None => Vec::new(),
                }
            }
        };
        for key in deleted.iter().flat_map(|d| &d.objects) {
            self.discard(key).await;
        }
        Ok(deleted.into_iter().map(|d| d.entry).collect())
    }

    /// Purges the made variants of `entries`: their rows first, then their
    /// objects; the next request for one makes it again. Answers how many
    /// entries were found and how many variants went.
    pub async fn purge_variants(&self, entries: Entries<'_>) -> Result<(u64, usize), AssetError> {
        let purged = self.catalog.purge_variants(entries).await?;
        for key in &purged.objects {
            self.discard(key).await;
        }
        tracing::info!(
            entries = purged.entries,
            variants = purged.objects.len(),
            "variants purged"
        );
        Ok((purged.entries, purged.objects.len()))
    }

    /// Removes an object whose catalog row is gone or was never written. A
    /// failure only leaks storage, so it is logged rather than returned.
    async fn discard(&self, key: &ObjectKey) {
        if let Err(error) = self.store.delete(key).await {
            tracing::warn!(%key, %error, "could not delete object; it is orphaned");
        }
    }

    pub async fn ready(&self) -> Result<(), AssetError> {
        self.catalog.ping().await?;
        self.store.ping().await?;
        Ok(())
    }
}
