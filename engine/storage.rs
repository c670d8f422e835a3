//! Object storage: inputs named by URL (`az://`, `abfs[s]://`, `s3://`, `gs://`) listed and
//! fetched, outputs written, through the `object_store` crate with each cloud's usual
//! credentials from the environment. Blobs are fetched several at a time into memory, in
//! listing order, while the ones before them are parsed: nothing is staged on local disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

use crate::frame::time::days_from_civil;

/// URL schemes read as object storage.
pub const SCHEMES: &[&str] = &["az", "azure", "abfs", "abfss", "adl", "s3", "s3a", "gs"];

/// How many blobs are fetched at once, ahead of the parser.
const IN_FLIGHT: usize = 16;

/// True for text that names object storage (`s3://bucket/…`), not a local path.
pub fn is_url(text: &str) -> bool {
    text.split_once("://")
        .is_some_and(|(scheme, _)| SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()))
}

/// What went wrong with a URL, said so a person can act on it.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct StorageError {
    pub url: String,
    pub reason: String,
}

impl StorageError {
    fn new(url: &str, reason: impl Into<String>) -> Self {
        StorageError {
            url: url.to_string(),
            reason: reason.into(),
        }
    }

    /// An error of the store, classified: missing credentials, no such container, access
    /// denied, or the store's own words.
    fn of(url: &str, error: &object_store::Error) -> Self {
        // The store's errors repeat their sources' words: each cause is added once.
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(e) = source {
            let cause = e.to_string();
            if !text.contains(&cause) {
                text.push_str(": ");
                text.push_str(&cause);
            }
            source = e.source();
        }
        // A server's XML error body, on one line.
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let lower = text.to_ascii_lowercase();
        let reason = if matches!(error, object_store::Error::NotFound { .. })
            || lower.contains("containernotfound")
            || lower.contains("nosuchbucket")
            || lower.contains("the specified container does not exist")
        {
            format!("no such container, bucket or blob ({text})")
        } else if matches!(
            error,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ) || lower.contains("403")
            || lower.contains("authorizationfailure")
            || lower.contains("accessdenied")
            || lower.contains("signaturedoesnotmatch")
            || lower.contains("invalidaccesskeyid")
        {
            format!("access denied: check the credentials and their rights ({text})")
        } else if lower.contains("credential")
            || lower.contains("metadata")
            || lower.contains("imds")
        {
            format!("no usable credentials ({text}); see the README's object storage section")
        } else {
            text
        };
        StorageError::new(url, reason)
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("idrisk-storage")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the object storage client: {e}"))
    })
}

/// A URL split into its store (scheme and container or bucket) and the path inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `scheme://container` (for `abfs://container@account…`, up to the first `/`).
    pub root: String,
    /// The path inside the container, without leading or trailing `/`.
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, StorageError> {
        let Some((scheme, rest)) = url.split_once("://").filter(|_| is_url(url)) else {
            return Err(StorageError::new(url, "not an object storage URL"));
        };
        let (container, path) = rest.split_once('/').unwrap_or((rest, ""));
        if container.is_empty() {
            return Err(StorageError::new(
                url,
                "the URL names no container or bucket",
            ));
        }
        Ok(Url {
            root: format!("{}://{container}", scheme.to_ascii_lowercase()),
            path: path.trim_matches('/').to_string(),
        })
    }

    /// The URL of an object of the same store.
    pub fn of(&self, path: &str) -> String {
        format!("{}/{path}", self.root)
    }
}

/// Client settings beyond the environment's: a stalled connection fails in seconds rather
/// than minutes, and so do credential probes (the clouds' metadata endpoints) off a cloud.
const TIMEOUTS: [(ClientConfigKey, &str); 2] = [
    (ClientConfigKey::ConnectTimeout, "5s"),
    (ClientConfigKey::Timeout, "120s"),
];

fn retry() -> RetryConfig {
    RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
        ..RetryConfig::default()
    }
}

/// The store of a URL's root, built once per run from the environment's credentials.
fn store(url: &Url) -> Result<Arc<dyn ObjectStore>, StorageError> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let stores = STORES.get_or_init(Default::default);
    let mut stores = stores.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(store) = stores.get(&url.root) {
        return Ok(store.clone());
    }
    let scheme = url.root.split("://").next().unwrap_or("");
    let built: Result<Arc<dyn ObjectStore>, object_store::Error> = match scheme {
        "s3" | "s3a" => TIMEOUTS
            .iter()
            .fold(AmazonS3Builder::from_env(), |b, (k, v)| {
                b.with_config(AmazonS3ConfigKey::Client(*k), *v)
            })
            .with_url(&url.root)
            .with_retry(retry())
            .build()
            .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        "gs" => TIMEOUTS
            .iter()
            .fold(GoogleCloudStorageBuilder::from_env(), |b, (k, v)| {
                b.with_config(GoogleConfigKey::Client(*k), *v)
            })
            .with_url(&url.root)
            .with_retry(retry())
            .build()
            .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        _ => TIMEOUTS
            .iter()
            .fold(MicrosoftAzureBuilder::from_env(), |b, (k, v)| {
                b.with_config(AzureConfigKey::Client(*k), *v)
            })
            .with_url(&url.root)
            .with_retry(retry())
            .build()
            .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
    };
    let store = built.map_err(|e| StorageError::of(&url.root, &e))?;
    stores.insert(url.root.clone(), store.clone());
    Ok(store)
}

/// One object a listing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub url: String,
    pub size: u64,
}

/// A time window `[since, until)` in microseconds (UTC); either end open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl Window {
    pub fn is_open(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    pub fn contains(&self, time: i64) -> bool {
        self.since.is_none_or(|s| time >= s) && self.until.is_none_or(|u| time < u)
    }

    /// False when a path's partition (`y=/m=/d=/h=` of a diagnostic-settings archive, or a
    /// hive `date=YYYY-MM-DD`) lies wholly outside the window; true when it overlaps it or
    /// the path names no partition.
    pub fn admits_path(&self, path: &str) -> bool {
        match partition_span(path) {
            Some((start, end)) => {
                self.since.is_none_or(|s| end > s) && self.until.is_none_or(|u| start < u)
            }
            None => true,
        }
    }
}

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// The time a path's partition covers, `[start, end)` in microseconds.
pub fn partition_span(path: &str) -> Option<(i64, i64)> {
    let (mut year, mut month, mut day, mut hour) = (None, None, None, None);
    for segment in path.split('/') {
        let Some((key, value)) = segment.split_once('=') else {
            continue;
        };
        match key {
            "y" => year = value.parse::<i64>().ok(),
            // `m=` is the month after `y=`, the minute after `h=`.
            "m" if month.is_none() => month = value.parse::<u32>().ok(),
            "d" => day = value.parse::<u32>().ok(),
            "h" => hour = value.parse::<i64>().ok(),
            "date" => {
                let mut parts = value.splitn(3, '-');
                year = parts.next().and_then(|v| v.parse().ok());
                month = parts.next().and_then(|v| v.parse().ok());
                day = parts.next().and_then(|v| v.parse().ok());
            }
            _ => {}
        }
    }
    let year = year?;
    let Some(month) = month.filter(|m| (1..=12).contains(m)) else {
        let start = days_from_civil(year, 1, 1) * DAY;
        return Some((start, days_from_civil(year + 1, 1, 1) * DAY));
    };
    let Some(day) = day.filter(|d| (1..=31).contains(d)) else {
        let (next_year, next_month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        return Some((
            days_from_civil(year, month, 1) * DAY,
            days_from_civil(next_year, next_month, 1) * DAY,
        ));
    };
    let start = days_from_civil(year, month, day) * DAY;
    match hour.filter(|h| (0..24).contains(h)) {
        Some(h) => Some((start + h * HOUR, start + (h + 1) * HOUR)),
        None => Some((start, start + DAY)),
    }
}

/// True for a name a directory walk passes over: hidden entries and `convert`'s quarantine.
fn passed_over(path: &str) -> bool {
    path.split('/').any(|s| s.starts_with('.')) || path.ends_with(".quarantine.jsonl")
}

fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// The objects a URL names: the object itself, every object under it as a prefix, or those a
/// glob in it matches; sorted, hidden and quarantine objects passed over, partitions
/// outside `window` pruned before anything is fetched. `progress` is called with the count
/// listed so far. None found is an error.
pub fn list(
    url: &str,
    window: Window,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Listed>, StorageError> {
    let parsed = Url::parse(url)?;
    let store = store(&parsed)?;
    let pattern = if is_glob(&parsed.path) {
        Some(
            glob::Pattern::new(&parsed.path)
                .map_err(|e| StorageError::new(url, format!("invalid glob pattern: {e}")))?,
        )
    } else {
        None
    };
    // The listing starts at the deepest folder that has no glob character.
    let prefix = match &pattern {
        Some(_) => {
            let literal = &parsed.path[..parsed.path.find(['*', '?', '[']).unwrap_or(0)];
            literal
                .rsplit_once('/')
                .map_or("", |(folder, _)| folder)
                .to_string()
        }
        None => parsed.path.clone(),
    };
    let found = runtime().block_on(async {
        if pattern.is_none() && !prefix.is_empty() {
            // A URL that names one object is that object.
            match store.head(&ObjectPath::from(prefix.as_str())).await {
                Ok(meta) => {
                    return Ok(vec![Listed {
                        url: parsed.of(meta.location.as_ref()),
                        size: meta.size,
                    }])
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(StorageError::of(url, &e)),
            }
        }
        let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix.as_str()));
        let mut stream = store.list(prefix.as_ref());
        let mut found = Vec::new();
        let mut seen = 0;
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| StorageError::of(url, &e))?;
            seen += 1;
            if seen % 1000 == 0 {
                progress(seen);
            }
            let path = meta.location.as_ref();
            if passed_over(path)
                || pattern.as_ref().is_some_and(|p| !p.matches(path))
                || !window.admits_path(path)
            {
                continue;
            }
            found.push(Listed {
                url: parsed.of(path),
                size: meta.size,
            });
        }
        progress(seen);
        Ok(found)
    })?;
    if found.is_empty() {
        let why = if window.is_open() {
            "no blobs under this URL"
        } else {
            "no blobs under this URL in the --since/--until window"
        };
        return Err(StorageError::new(url, why));
    }
    let mut found = found;
    found.sort_by(|a, b| a.url.cmp(&b.url));
    Ok(found)
}

/// Objects fetched a few at a time, handed over in the order asked.
pub struct Fetcher {
    receiver: tokio::sync::mpsc::Receiver<(String, Result<Vec<u8>, String>)>,
}

impl Fetcher {
    /// Starts fetching `urls`, at most [`IN_FLIGHT`] at once and that many held ready.
    pub fn start(urls: Vec<String>) -> Fetcher {
        let (sender, receiver) = tokio::sync::mpsc::channel(IN_FLIGHT);
        runtime().spawn(async move {
            let mut fetched = futures::stream::iter(urls)
                .map(|url| async move {
                    let result = fetch(&url).await;
                    (url, result)
                })
                .buffered(IN_FLIGHT);
            while let Some(item) = fetched.next().await {
                if sender.send(item).await.is_err() {
                    break;
                }
            }
        });
        Fetcher { receiver }
    }
}

impl Iterator for Fetcher {
    /// An object's URL and bytes, or why they could not be read (a blob that failed
    /// mid-stream).
    type Item = (String, Result<Vec<u8>, String>);

    fn next(&mut self) -> Option<Self::Item> {
        self.receiver.blocking_recv()
    }
}

async fn fetch(url: &str) -> Result<Vec<u8>, String> {
    let parsed = Url::parse(url).map_err(|e| e.reason)?;
    let store = store(&parsed).map_err(|e| e.reason)?;
    let path = ObjectPath::from(parsed.path.as_str());
    let result = store
        .get(&path)
        .await
        .map_err(|e| StorageError::of(url, &e).reason)?;
    let mut bytes = Vec::with_capacity(result.meta.size as usize);
    let mut stream = result.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            format!(
                "the blob failed after {} bytes: {}",
                bytes.len(),
                StorageError::of(url, &e).reason
            )
        })?;
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Checks that the container of `url` can be listed with the credentials at hand: what a
/// command writing there checks before it starts.
pub fn check_writable(url: &str) -> Result<(), StorageError> {
    let parsed = Url::parse(url)?;
    let store = store(&parsed)?;
    let prefix = (!parsed.path.is_empty()).then(|| ObjectPath::from(parsed.path.as_str()));
    runtime().block_on(async {
        match store.list(prefix.as_ref()).next().await {
            Some(Err(e)) => Err(StorageError::of(url, &e)),
            _ => Ok(()),
        }
    })
}

/// Writes `bytes` to the object at `url`: a single PUT, so the object appears whole or not
/// at all.
pub fn put(url: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
    let parsed = Url::parse(url)?;
    let store = store(&parsed)?;
    let path = ObjectPath::from(parsed.path.as_str());
    runtime()
        .block_on(store.put(&path, PutPayload::from(bytes::Bytes::from(bytes))))
        .map(|_| ())
        .map_err(|e| StorageError::of(url, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i64, m: u32, d: u32, h: i64) -> i64 {
        days_from_civil(y, m, d) * DAY + h * HOUR
    }

    #[test]
    fn urls_split_into_store_and_path() {
        assert!(
            is_url("az://logs/x")
                && is_url("S3://b")
                && is_url("abfss://c@a.dfs.core.windows.net/p")
        );
        assert!(!is_url("/tmp/x") && !is_url("https://example.com/x") && !is_url("C:\\x"));
        let u = Url::parse("s3://bucket/a/b/").unwrap();
        assert_eq!((u.root.as_str(), u.path.as_str()), ("s3://bucket", "a/b"));
        assert_eq!(u.of("a/b/c.json"), "s3://bucket/a/b/c.json");
        assert!(Url::parse("s3:///x").is_err());
    }

    #[test]
    fn archive_partitions_are_pruned_by_the_window() {
        let path = "insights-logs-signinlogs/tenantId=t/y=2025/m=03/d=01/h=10/m=00/PT1H.json";
        assert_eq!(
            partition_span(path),
            Some((at(2025, 3, 1, 10), at(2025, 3, 1, 11)))
        );
        assert_eq!(
            partition_span("ds/date=2025-12-31/part-0.parquet"),
            Some((at(2025, 12, 31, 0), at(2026, 1, 1, 0)))
        );
        assert_eq!(
            partition_span("y=2025/m=12/x.json"),
            Some((at(2025, 12, 1, 0), at(2026, 1, 1, 0)))
        );
        assert_eq!(partition_span("exports/signins.json"), None);
        let window = Window {
            since: Some(at(2025, 3, 1, 10)),
            until: Some(at(2025, 3, 2, 0)),
        };
        assert!(window.admits_path(path));
        assert!(!window.admits_path(&path.replace("h=10", "h=09")));
        assert!(window.admits_path(&path.replace("h=10", "h=23")));
        assert!(!window.admits_path(&path.replace("d=01/h=10", "d=02/h=00")));
        assert!(window.admits_path("exports/signins.json"));
        assert!(window.contains(at(2025, 3, 1, 10)) && !window.contains(at(2025, 3, 2, 0)));
    }
}
