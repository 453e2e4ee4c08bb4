//! The blob store: bytes too large for a row (diagnostic images), through the `object_store`
//! crate — a folder under the data dir by default, S3-compatible storage when
//! `HEALTHAPI_BLOB_URL` names it (`s3://bucket/prefix`; credentials and endpoint from the usual
//! `AWS_*` variables). It knows no domain: keys in, bytes out.
//!
//! Uploads stream: a chunk at a time goes to a multipart upload while its SHA-256 is computed,
//! so a file is never whole in memory. A failed upload is aborted, which leaves no object (the
//! local store writes to a staging file that only a completed upload renames into place).

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};

/// Bytes handed to the store per part (what an upload holds in memory at most, per part in
/// flight).
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
}

/// What an upload stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the content is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    #[error("the blob store failed: {0}")]
    Store(String),
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("the blob is missing")]
    Missing,
    #[error("the blob store failed: {0}")]
    Store(String),
}

impl Blobs {
    /// The store `url` names (`s3://bucket/prefix`, `file:///path`), else the folder `blobs`
    /// under the data dir.
    pub fn open(url: Option<&str>, data_dir: &FsPath) -> anyhow::Result<Blobs> {
        let store: Arc<dyn ObjectStore> = match url {
            Some(url) => {
                let parsed = url::Url::parse(url)
                    .map_err(|e| anyhow::anyhow!("HEALTHAPI_BLOB_URL is not a URL: {e}"))?;
                let options = std::env::vars()
                    .filter(|(k, _)| k.starts_with("AWS_"))
                    .map(|(k, v)| (k.to_ascii_lowercase(), v));
                let (store, prefix) = object_store::parse_url_opts(&parsed, options)?;
                if prefix.as_ref().is_empty() {
                    Arc::from(store)
                } else {
                    Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
                }
            }
            None => {
                let dir = data_dir.join("blobs");
                std::fs::create_dir_all(&dir)?;
                Arc::new(object_store::local::LocalFileSystem::new_with_prefix(&dir)?)
            }
        };
        Ok(Blobs { store })
    }

    /// Streams `chunks` into the object `key`, computing its SHA-256 and size on the way; more
    /// than `max` bytes, or a chunk that fails, aborts the upload and stores nothing.
    pub async fn upload<E: std::fmt::Display>(
        &self,
        key: &str,
        chunks: impl Stream<Item = Result<Bytes, E>>,
        max: u64,
    ) -> Result<Stored, UploadError> {
        let path = Path::from(key);
        let upload = self
            .store
            .put_multipart(&path)
            .await
            .map_err(|e| UploadError::Store(e.to_string()))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut hash = Sha256::new();
        let mut size = 0u64;
        let mut chunks = std::pin::pin!(chunks);
        let failed = loop {
            let chunk = match chunks.next().await {
                None => break None,
                Some(Err(e)) => break Some(UploadError::Interrupted(e.to_string())),
                Some(Ok(c)) => c,
            };
            size += chunk.len() as u64;
            if size > max {
                break Some(UploadError::TooLarge(max));
            }
            hash.update(&chunk);
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                break Some(UploadError::Store(e.to_string()));
            }
            writer.write(&chunk);
        };
        if let Some(e) = failed {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer
            .finish()
            .await
            .map_err(|e| UploadError::Store(e.to_string()))?;
        Ok(Stored {
            size,
            sha256: hex::encode(hash.finalize()),
        })
    }

    /// The object's bytes, or the `range` of them, as a stream.
    pub async fn download(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, std::io::Result<Bytes>>, DownloadError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let got = self
            .store
            .get_opts(&Path::from(key), options)
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => DownloadError::Missing,
                other => DownloadError::Store(other.to_string()),
            })?;
        Ok(got
            .into_stream()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .boxed())
    }

    /// Removes an object (one an upload stored but its row never took).
    pub async fn delete(&self, key: &str) {
        if let Err(e) = self.store.delete(&Path::from(key)).await {
            tracing::warn!(error = %e, "could not delete an unused blob");
        }
    }
}
