//! Object storage end to end against real servers on the loopback (Azurite and moto's S3
//! server, started by `.ci/test`): the committed diagnostic archive (840 hourly blobs, in its
//! `y=/m=/d=/h=` layout) uploaded, scored from storage with two Azure credential methods and
//! from S3, outputs written back to S3, the window pruning partitions, and the errors users
//! meet (no container, wrong key) naming the URL.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::support::repo;

/// Azurite's well-known development account and key (public, documented by Microsoft).
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const CONTAINER: &str = "idrisk-test";

fn emulator(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!(
            "{variable} is not set: the object storage tests need Azurite and an S3 server on \
             the loopback; run the tests with .ci/test, which starts them"
        )
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn azurite() -> Arc<dyn ObjectStore> {
    Arc::new(
        MicrosoftAzureBuilder::new()
            .with_use_emulator(true)
            .with_account(ACCOUNT)
            .with_access_key(KEY)
            .with_container_name(CONTAINER)
            .with_endpoint(format!("{}/{ACCOUNT}", emulator("IDRISK_TEST_AZURITE")))
            .with_allow_http(true)
            .build()
            .unwrap(),
    )
}

fn s3() -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(emulator("IDRISK_TEST_S3"))
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(CONTAINER)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()
            .unwrap(),
    )
}

/// The environment an idrisk process needs for each store and credential method.
fn azure_key_env(command: &mut Command) -> &mut Command {
    command
        .env("AZURE_STORAGE_USE_EMULATOR", "true")
        .env("AZURITE_BLOB_STORAGE_URL", emulator("IDRISK_TEST_AZURITE"))
        .env("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT)
        .env("AZURE_STORAGE_ACCOUNT_KEY", KEY)
}

fn s3_env(command: &mut Command) -> &mut Command {
    command
        .env("AWS_ENDPOINT", emulator("IDRISK_TEST_S3"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
}

const ARCHIVE: &str = "datasets/shapes/diagnostic/signins";

/// Uploads the committed archive under `prefix`, once per store and run.
fn upload(store: &Arc<dyn ObjectStore>, prefix: &str) {
    let root = repo(ARCHIVE);
    let files =
        idrisk::ingest::source::expand_inputs(std::slice::from_ref(&root), Default::default())
            .unwrap();
    assert_eq!(files.len(), 840);
    runtime().block_on(async {
        futures::stream::iter(files)
            .map(|file| {
                let store = store.clone();
                let name = file
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                async move {
                    let bytes = std::fs::read(&file).unwrap();
                    store
                        .put(
                            &ObjectPath::from(format!("{prefix}/{name}")),
                            PutPayload::from(bytes),
                        )
                        .await
                        .unwrap();
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
    });
}

fn uploaded_to_azurite() -> &'static str {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| upload(&azurite(), "archive"));
    "az://idrisk-test/archive"
}

fn uploaded_to_s3() -> &'static str {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| upload(&s3(), "archive"));
    "s3://idrisk-test/archive"
}

fn idrisk(set: impl FnOnce(&mut Command) -> &mut Command, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_idrisk"));
    set(&mut command).args(args).output().unwrap()
}

fn succeeded(output: Output) -> Output {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn local(set: impl FnOnce(&mut Command) -> &mut Command, input: &str, out: &Path, extra: &[&str]) {
    let out = out.to_str().unwrap();
    let mut args = vec!["score", input, "--out", out, "-q"];
    args.extend_from_slice(extra);
    succeeded(idrisk(set, &args));
}

/// The tables a run wrote, which must not depend on where its inputs came from.
fn tables(dir: &Path) -> Vec<(String, String)> {
    [
        "detections",
        "risky_signins",
        "risky_users",
        "risky_service_principals",
        "timeline",
    ]
    .iter()
    .map(|t| {
        let path = dir.join(format!("{t}.jsonl"));
        (t.to_string(), std::fs::read_to_string(&path).unwrap())
    })
    .collect()
}

fn counts(dir: &Path) -> serde_json::Value {
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let mut totals = summary["input"]["totals"].clone();
    totals["detections"] = summary["detections"].clone();
    totals
}

fn same_run(a: &Path, b: &Path) {
    assert_eq!(counts(a), counts(b));
    for ((name, left), (_, right)) in tables(a).into_iter().zip(tables(b)) {
        assert!(left == right, "{name} differs");
    }
}

#[test]
fn the_archive_scored_from_azurite_equals_the_local_run() {
    let url = uploaded_to_azurite();
    let dir = tempfile::tempdir().unwrap();
    let (here, there) = (dir.path().join("local"), dir.path().join("azurite"));
    local(|c| c, repo(ARCHIVE).to_str().unwrap(), &here, &[]);
    local(azure_key_env, url, &there, &[]);
    same_run(&here, &there);
    assert_eq!(counts(&there)["files"], 840);
    assert!(counts(&there)["kept"].as_u64().unwrap() > 1000);
}

#[test]
fn a_sas_token_reads_the_container_too() {
    let url = uploaded_to_azurite();
    let output = succeeded(idrisk(
        |c| {
            c.env("AZURE_STORAGE_USE_EMULATOR", "true")
                .env("AZURITE_BLOB_STORAGE_URL", emulator("IDRISK_TEST_AZURITE"))
                .env("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT)
                .env(
                    "AZURE_STORAGE_SAS_TOKEN",
                    emulator("IDRISK_TEST_AZURITE_SAS"),
                )
        },
        &[
            "inspect",
            &format!("{url}/insights-logs-signinlogs/*/y=2025/m=03/d=01/**/PT1H.json.gz"),
            "--json",
        ],
    ));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let files = report["files"].as_array().unwrap();
    assert!(!files.is_empty());
    assert!(files
        .iter()
        .all(|f| f["path"].as_str().unwrap().contains("/d=01/")));
}

#[test]
fn the_archive_scored_from_s3_and_written_back_equals_the_local_run() {
    let url = uploaded_to_s3();
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path().join("local");
    local(
        |c| c,
        repo(ARCHIVE).to_str().unwrap(),
        &here,
        &["--html", dir.path().join("r.html").to_str().unwrap()],
    );
    succeeded(idrisk(
        s3_env,
        &[
            "score",
            url,
            "--out",
            "s3://idrisk-test/runs/one",
            "-q",
            "--html",
            "s3://idrisk-test/runs/one.html",
        ],
    ));
    // Fetch what was written and compare.
    let there = dir.path().join("s3");
    std::fs::create_dir_all(&there).unwrap();
    let store = s3();
    let listed: Vec<String> = runtime().block_on(async {
        store
            .list(Some(&ObjectPath::from("runs/one")))
            .map(|m| m.unwrap().location.to_string())
            .collect()
            .await
    });
    assert!(
        listed.iter().any(|l| l.ends_with("summary.json")),
        "{listed:?}"
    );
    for name in listed {
        let bytes = runtime()
            .block_on(async {
                store
                    .get(&ObjectPath::from(name.as_str()))
                    .await
                    .unwrap()
                    .bytes()
                    .await
            })
            .unwrap();
        let file = name.rsplit('/').next().unwrap();
        std::fs::write(there.join(file), bytes).unwrap();
    }
    same_run(&here, &there);
    let page = runtime()
        .block_on(async {
            store
                .get(&ObjectPath::from("runs/one.html"))
                .await
                .unwrap()
                .bytes()
                .await
        })
        .unwrap();
    assert!(page.starts_with(b"<!doctype html>"));
    // `idrisk report` on the run in storage makes the same page.
    let again = dir.path().join("again.html");
    succeeded(idrisk(
        s3_env,
        &[
            "report",
            "s3://idrisk-test/runs/one",
            "--html",
            again.to_str().unwrap(),
        ],
    ));
    assert!(
        std::fs::read(&again).unwrap() == page.to_vec(),
        "report from s3 differs"
    );
}

#[test]
fn since_and_until_read_only_the_partitions_of_the_window() {
    let url = uploaded_to_azurite();
    let dir = tempfile::tempdir().unwrap();
    let (here, there) = (dir.path().join("local"), dir.path().join("azurite"));
    let window = ["--since", "2025-03-03", "--until", "2025-03-05T12:00:00Z"];
    local(|c| c, repo(ARCHIVE).to_str().unwrap(), &here, &window);
    local(azure_key_env, url, &there, &window);
    same_run(&here, &there);
    // The blobs of 3 and 4 March and the morning of the 5th, of every category; no other.
    let root = repo(ARCHIVE);
    let all =
        idrisk::ingest::source::expand_inputs(std::slice::from_ref(&root), Default::default())
            .unwrap();
    let in_window = all
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .filter(|f| {
            f.contains("/d=03/")
                || f.contains("/d=04/")
                || (f.contains("/d=05/") && (0..12).any(|h| f.contains(&format!("/h={h:02}/"))))
        })
        .count() as u64;
    assert!(in_window > 0 && in_window < 840);
    assert_eq!(counts(&there)["files"].as_u64().unwrap(), in_window);
    assert_eq!(counts(&here)["files"].as_u64().unwrap(), in_window);
    let all = dir.path().join("all");
    local(|c| c, repo(ARCHIVE).to_str().unwrap(), &all, &[]);
    assert!(counts(&there)["kept"].as_u64().unwrap() < counts(&all)["kept"].as_u64().unwrap());
}

fn failure(output: Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn storage_errors_name_the_url_and_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let missing = failure(idrisk(
        azure_key_env,
        &["score", "az://no-such-container/x", "--out", out, "-q"],
    ));
    assert!(
        missing.contains("az://no-such-container/x") && missing.contains("no such container"),
        "{missing}"
    );
    uploaded_to_azurite();
    let denied = failure(idrisk(
        |c| azure_key_env(c).env("AZURE_STORAGE_ACCOUNT_KEY", KEY.replace('E', "F")),
        &["score", "az://idrisk-test/archive", "--out", out, "-q"],
    ));
    assert!(
        denied.contains("az://idrisk-test/archive") && denied.contains("access denied"),
        "{denied}"
    );
    let empty = failure(idrisk(
        azure_key_env,
        &[
            "score",
            "az://idrisk-test/nothing-here/",
            "--out",
            out,
            "-q",
        ],
    ));
    assert!(empty.contains("no blobs under this URL"), "{empty}");
    let bucket = failure(idrisk(
        s3_env,
        &["score", "s3://no-such-bucket/x", "--out", out, "-q"],
    ));
    assert!(
        bucket.contains("s3://no-such-bucket/x") && bucket.contains("no such container"),
        "{bucket}"
    );
}

#[test]
fn partitions_prune_local_archives_as_well() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    local(
        |c| c,
        repo(ARCHIVE).to_str().unwrap(),
        &out,
        &["--since", "2025-03-11"],
    );
    let files = counts(&out)["files"].as_u64().unwrap();
    assert!(files > 0 && files < 840, "{files}");
    let archive = repo(ARCHIVE);
    let refused = |window: &[&str]| {
        let mut args = vec![
            "score",
            archive.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ];
        args.extend_from_slice(window);
        failure(idrisk(|c| c, &args))
    };
    let late = refused(&["--since", "2030-01-01"]);
    assert!(
        late.contains("no files in the --since/--until window"),
        "{late}"
    );
    let inverted = refused(&["--since", "2025-03-05", "--until", "2025-03-04"]);
    assert!(
        inverted.contains("'--until' must be after '--since'"),
        "{inverted}"
    );
}

#[test]
fn facts_shards_and_merge_run_over_storage_as_one_local_run() {
    // The shape of a scheduler's run: the archive, the facts and each shard's outputs in the
    // container; the merge reads the shards from it.
    let url = uploaded_to_azurite();
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path().join("local");
    local(|c| c, repo(ARCHIVE).to_str().unwrap(), &here, &[]);
    let facts = "az://idrisk-test/sharded/facts.json";
    succeeded(idrisk(azure_key_env, &["facts", url, "--out", facts, "-q"]));
    let shards: Vec<String> = (1..=3)
        .map(|k| format!("az://idrisk-test/sharded/shard-{k}"))
        .collect();
    for (k, shard) in shards.iter().enumerate() {
        let which = format!("{}/3", k + 1);
        let args = [
            "score", url, "--facts", facts, "--shard", &which, "--out", shard, "-q",
        ];
        succeeded(idrisk(azure_key_env, &args));
    }
    let merged = dir.path().join("merged");
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(String::as_str));
    args.extend(["--out", merged.to_str().unwrap(), "-q"]);
    succeeded(idrisk(azure_key_env, &args));
    same_run(&here, &merged);
}
