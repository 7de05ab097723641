//! An object store that counts what it does: every operation by outcome,
//! with its duration, for `/metrics`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;

use super::{ObjectKey, ObjectStore, StoreError};
use crate::metrics::{Metrics, OperationLabels, StoreLabels};

pub struct MeteredStore {
    inner: Arc<dyn ObjectStore>,
    metrics: Arc<Metrics>,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn ObjectStore>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    fn count<T>(&self, operation: &'static str, started: Instant, result: &Result<T, StoreError>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(StoreError::NotFound(_)) => "not_found",
            Err(error) if error.is_unavailable() => "unavailable",
            Err(_) => "error",
        };
        self.metrics
            .store_operations
            .get_or_create(&StoreLabels { operation, outcome })
            .inc();
        self.metrics
            .store_duration
            .get_or_create(&OperationLabels { operation })
            .observe(started.elapsed().as_secs_f64());
    }
}

#[async_trait]
impl ObjectStore for MeteredStore {
    async fn put(&self, key: &ObjectKey, bytes: Bytes, content_type: &str) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.inner.put(key, bytes, content_type).await;
        self.count("put", started, &result);
        result
    }

    async fn get(&self, key: &ObjectKey) -> Result<Bytes, StoreError> {
        let started = Instant::now();
        let result = self.inner.get(key).await;
        self.count("get", started, &result);
        result
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.inner.delete(key).await;
        self.count("delete", started, &result);
        result
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.inner.ping().await;
        self.count("ping", started, &result);
        result
    }

    async fn presigned_get(&self, key: &ObjectKey, ttl: Duration) -> Result<String, StoreError> {
        let started = Instant::now();
        let result = self.inner.presigned_get(key, ttl).await;
        self.count("presign", started, &result);
        result
    }

    fn bucket_of<'a>(&'a self, key: &'a ObjectKey) -> &'a str {
        self.inner.bucket_of(key)
    }
}
