//! The S3 store: objects in S3 or anything that speaks its API (MinIO,
//! Garage, R2, moto).
//!
//! Bodies go out as [`Bytes`] handed to the SDK without copying; objects
//! larger than one part are sent as a multipart upload whose parts are slices
//! of the same buffer, so a large original is never held twice. Checksums are
//! only sent where S3 requires them: several S3-compatible stores reject the
//! SDK's newer default of streaming trailing checksums.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use bytes::Bytes;

use super::{ObjectKey, ObjectStore, StoreError};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// S3 refuses multipart parts smaller than this (except the last).
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;

/// `[storage]` with `kind = "s3"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct S3Settings {
    /// The bucket for paths whose rules name none.
    pub bucket: String,
    /// E.g. `http://127.0.0.1:9000` for MinIO; without it, AWS itself.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Without it, the standard AWS chain (`AWS_REGION`, profile), else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// `endpoint/bucket/key` rather than `bucket.endpoint/key` (MinIO, Garage, moto).
    #[serde(default)]
    pub path_style: bool,
    /// With `secret-access-key`; without both, the standard AWS chain
    /// (`AWS_ACCESS_KEY_ID`…, profile, web identity, instance metadata).
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Objects larger than this go up as a multipart upload in parts of this size.
    #[serde(default = "default_part_bytes")]
    pub multipart_part_bytes: u64,
}

fn default_part_bytes() -> u64 {
    16 * 1024 * 1024
}

pub struct S3Store {
    client: aws_sdk_s3::Client,
    default_bucket: String,
    part_bytes: usize,
}

impl S3Store {
    /// Builds the client. Credentials come from `settings` when both halves
    /// are given, else from the standard AWS chain (environment, profile,
    /// web identity, instance metadata); the region likewise.
    pub async fn connect(settings: &S3Settings) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        // An unreachable store must fail a request (and `/ready`) quickly
        // rather than hold it: connecting is bounded here, each attempt of a
        // call (a part is at most `multipart-part-bytes`) more generously,
        // and a call with its retries as a whole.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2))
            .operation_attempt_timeout(Duration::from_secs(20))
            .operation_timeout(Duration::from_secs(45))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(timeouts);
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(id, secret.expose(), None, None, "kiln-config"));
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if shared.region().is_none() {
            // Custom endpoints (MinIO, Garage) often have no region; SigV4 still needs one.
            config = config.region(Region::new("us-east-1"));
        }
        if let Some(endpoint) = &settings.endpoint {
            config = config.endpoint_url(endpoint);
        }
        Self {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            default_bucket: settings.bucket.clone(),
            part_bytes: usize::try_from(settings.multipart_part_bytes.max(MIN_PART_BYTES)).unwrap_or(usize::MAX),
        }
    }

    fn bucket<'a>(&'a self, key: &'a ObjectKey) -> &'a str {
        key.bucket().unwrap_or(&self.default_bucket)
    }

    async fn put_multipart(&self, key: &ObjectKey, bytes: Bytes, content_type: &str) -> Result<(), StoreError> {
        let bucket = self.bucket(key);
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key.as_str())
            .content_type(content_type)
            .send()
            .await
            .map_err(not_sent(key))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_owned();
        let mut parts = Vec::new();
        let sent: Result<(), StoreError> = async {
            for (index, start) in (0..bytes.len()).step_by(self.part_bytes).enumerate() {
                let part = bytes.slice(start..(start + self.part_bytes).min(bytes.len()));
                let number = i32::try_from(index + 1).map_err(|_| StoreError::S3 {
                    key: key.to_string(),
                    message: "too many parts".into(),
                })?;
                let length = part.len() as i64;
                let uploaded = self
                    .client
                    .upload_part()
                    .bucket(bucket)
                    .key(key.as_str())
                    .upload_id(&upload_id)
                    .part_number(number)
                    .content_length(length)
                    .body(ByteStream::from(part))
                    .send()
                    .await
                    .map_err(not_sent(key))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(uploaded.e_tag().map(str::to_owned))
                        .build(),
                );
            }
            self.client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(key.as_str())
                .upload_id(&upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send()
                .await
                .map_err(not_sent(key))?;
            Ok(())
        }
        .await;
        if sent.is_err() {
            // Parts of an abandoned upload are billed until aborted.
            let aborted = self
                .client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key.as_str())
                .upload_id(&upload_id)
                .send()
                .await;
            if let Err(error) = aborted {
                tracing::warn!(%key, error = %crate::error_chain::of(&error), "could not abort a failed multipart upload");
            }
        }
        sent
    }
}

fn failed<E: std::error::Error>(key: &ObjectKey) -> impl FnOnce(E) -> StoreError + '_ {
    move |error| StoreError::S3 {
        key: key.to_string(),
        message: crate::error_chain::of(&error),
    }
}

/// As [`failed`], but a request that never got an answer (the connection
/// failed or a timeout passed) means the store is unavailable.
fn not_sent<E, R>(key: &ObjectKey) -> impl FnOnce(SdkError<E, R>) -> StoreError + '_
where
    SdkError<E, R>: std::error::Error,
{
    move |error| match error {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => StoreError::Unavailable {
            key: key.to_string(),
            message: crate::error_chain::of(&error),
        },
        other => failed(key)(other),
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &ObjectKey, bytes: Bytes, content_type: &str) -> Result<(), StoreError> {
        if bytes.len() > self.part_bytes {
            return self.put_multipart(key, bytes, content_type).await;
        }
        let length = bytes.len() as i64;
        self.client
            .put_object()
            .bucket(self.bucket(key))
            .key(key.as_str())
            .content_type(content_type)
            .content_length(length)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(not_sent(key))?;
        Ok(())
    }

    async fn get(&self, key: &ObjectKey) -> Result<Bytes, StoreError> {
        let object = match self
            .client
            .get_object()
            .bucket(self.bucket(key))
            .key(key.as_str())
            .send()
            .await
        {
            Ok(object) => object,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Err(StoreError::NotFound(key.to_string()));
            }
            Err(error) => return Err(not_sent(key)(error)),
        };
        let body = object.body.collect().await.map_err(failed(key))?;
        Ok(body.into_bytes())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(self.bucket(key))
            .key(key.as_str())
            .send()
            .await
            .map_err(not_sent(key))?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let bucket = ObjectKey {
            bucket: Some(self.default_bucket.clone()),
            key: String::new(),
        };
        self.client
            .head_bucket()
            .bucket(&self.default_bucket)
            .send()
            .await
            .map_err(not_sent(&bucket))?;
        Ok(())
    }

    async fn presigned_get(&self, key: &ObjectKey, ttl: Duration) -> Result<String, StoreError> {
        let presigning = PresigningConfig::expires_in(ttl).map_err(failed(key))?;
        let request = self
            .client
            .get_object()
            .bucket(self.bucket(key))
            .key(key.as_str())
            .presigned(presigning)
            .await
            .map_err(failed(key))?;
        Ok(request.uri().to_owned())
    }

    fn bucket_of<'a>(&'a self, key: &'a ObjectKey) -> &'a str {
        self.bucket(key)
    }
}
