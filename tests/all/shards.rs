//! Sharded runs: `idrisk facts`, then `score --facts --shard K/N` as N processes at once, then
//! `idrisk merge`, and `score --memory-limit` running the shards one after another, each
//! give byte for byte the outputs of one run over the whole tenant (the summary's `run`
//! section, wall-clock facts, aside). Tenants are made by `idrisk synth`, large enough for
//! password-spray and malicious-address campaigns (the tenant-wide detectors) and new
//! countries (a tenant-wide table).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::idrisk_ok;

/// A synthetic tenant of `users` in `shape` under `dir`.
fn tenant(dir: &Path, shape: &str, users: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(format!("tenant-{shape}"));
    let mut args = vec![
        "synth",
        "--users",
        users,
        "--days",
        "14",
        "--seed",
        "23",
        "--shape",
        shape,
        "--out",
        out.to_str().unwrap(),
        "-q",
    ];
    args.extend_from_slice(extra);
    idrisk_ok(&args);
    out
}

/// The tenant's sign-ins and every side file it came with.
fn inputs(t: &Path) -> Vec<String> {
    crate::support::tenant_args(t, true)
}

fn run(command: &str, t: &Path, extra: &[&str]) {
    let mut args = vec![command.to_string()];
    args.extend(inputs(t));
    args.extend(extra.iter().map(|s| s.to_string()));
    idrisk_ok(&args);
}

fn summary_but_run(dir: &Path) -> serde_json::Value {
    let mut summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    summary.as_object_mut().unwrap().remove("run");
    summary
}

/// Every output of `got` is byte for byte `want`'s; the summaries are equal but for `run`.
fn assert_same_run(want: &Path, got: &Path, ext: &str) {
    assert_same_tables(want, got, ext);
    assert_eq!(summary_but_run(want), summary_but_run(got));
}

/// The tables and quarantine of `got` are byte for byte `want`'s.
fn assert_same_tables(want: &Path, got: &Path, ext: &str) {
    for table in [
        "detections",
        "risky_signins",
        "risky_users",
        "risky_service_principals",
        "timeline",
    ] {
        let name = format!("{table}.{ext}");
        assert!(
            std::fs::read(want.join(&name)).unwrap() == std::fs::read(got.join(&name)).unwrap(),
            "{name} differs between {} and {}",
            want.display(),
            got.display()
        );
    }
    assert_eq!(
        std::fs::read(want.join("quarantine.jsonl")).unwrap(),
        std::fs::read(got.join("quarantine.jsonl")).unwrap()
    );
}

/// Facts, then the N shards as N processes at once, then merge (shards given in reverse).
fn sharded(t: &Path, work: &Path, n: u32, extra: &[&str]) -> PathBuf {
    let facts = work.join(format!("facts-{n}.json"));
    run("facts", t, &["--out", facts.to_str().unwrap()]);
    let shards: Vec<PathBuf> = (1..=n)
        .map(|k| work.join(format!("shard-{k}-of-{n}")))
        .collect();
    let children: Vec<_> = shards
        .iter()
        .enumerate()
        .map(|(k, dir)| {
            let mut args = vec!["score".to_string()];
            args.extend(inputs(t));
            args.extend(
                [
                    "--facts",
                    facts.to_str().unwrap(),
                    "--shard",
                    &format!("{}/{n}", k + 1),
                    "--out",
                    dir.to_str().unwrap(),
                    "--threads",
                    "1",
                ]
                .iter()
                .map(|s| s.to_string()),
            );
            args.extend(extra.iter().map(|s| s.to_string()));
            Command::new(env!("CARGO_BIN_EXE_idrisk"))
                .args(&args)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let merged = work.join(format!("merged-{n}"));
    let mut args = vec!["merge".to_string()];
    args.extend(
        shards
            .iter()
            .rev()
            .map(|d| d.to_string_lossy().into_owned()),
    );
    args.extend([
        "--out".to_string(),
        merged.to_string_lossy().into_owned(),
        "-q".into(),
    ]);
    idrisk_ok(&args);
    merged
}

fn counts(dir: &Path) -> serde_json::Value {
    summary_but_run(dir)["detections"].clone()
}

#[test]
fn facts_shards_and_merge_equal_one_run_for_1_3_and_7_shards() {
    let work = tempfile::tempdir().unwrap();
    let t = tenant(work.path(), "parquet", "600", &[]);
    let whole = work.path().join("whole");
    run("score", &t, &["--out", whole.to_str().unwrap()]);
    // The tenant exercises what the facts carry: campaigns found over the whole tenant, and
    // new countries judged by every user's countries.
    let c = counts(&whole);
    for kind in [
        "passwordSpray",
        "maliciousIPAddress",
        "unlikelyTravel",
        "unfamiliarFeatures",
    ] {
        assert!(c.get(kind).is_some(), "no {kind} in {c}");
    }
    for n in [1, 3, 7] {
        let merged = sharded(&t, work.path(), n, &[]);
        assert_same_run(&whole, &merged, "jsonl");
    }
    // A shard on its own holds only its users' detections, and together they are all.
    let total: usize = (1..=7)
        .map(|k| {
            let dir = work.path().join(format!("shard-{k}-of-7"));
            std::fs::read_to_string(dir.join("detections.jsonl"))
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    let whole_detections = std::fs::read_to_string(whole.join("detections.jsonl")).unwrap();
    assert_eq!(total, whole_detections.lines().count());
}

#[test]
fn sharded_runs_of_a_raw_archive_merge_to_one_run_in_every_format() {
    let work = tempfile::tempdir().unwrap();
    // Hourly gzipped blobs of the diagnostic-settings archive: rows of other shards are left
    // out as each blob is read.
    let t = tenant(work.path(), "diagnostic", "250", &["--gzip"]);
    facts_in_shards_equal_one_pass(&t, work.path());
    for format in ["csv", "parquet"] {
        let whole = work.path().join(format!("whole-{format}"));
        run(
            "score",
            &t,
            &["--out", whole.to_str().unwrap(), "--format", format],
        );
        let merged = sharded(&t, work.path(), 3, &["--format", format]);
        assert_same_run(&whole, &merged, format);
        std::fs::remove_dir_all(&merged).unwrap();
    }
}

/// The facts found shard by shard under a tiny memory limit (two rounds over many shards,
/// the tenant-wide detectors over the sign-ins gathered) are byte for byte the one pass's.
fn facts_in_shards_equal_one_pass(t: &Path, work: &Path) {
    let (one, sharded) = (work.join("facts-one.json"), work.join("facts-sharded.json"));
    run("facts", t, &["--out", one.to_str().unwrap()]);
    let mut args = vec!["facts".to_string()];
    args.extend(inputs(t));
    args.extend(["--memory-limit", "3MiB", "--out", sharded.to_str().unwrap()].map(String::from));
    args.retain(|a| a != "-q");
    let out = idrisk_ok(&args);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("tenant facts in"), "{said}");
    let facts: serde_json::Value = serde_json::from_slice(&std::fs::read(&one).unwrap()).unwrap();
    assert!(!facts["facts"]["tenant"]["findings"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(!facts["facts"]["campaigns"].as_array().unwrap().is_empty());
    assert!(std::fs::read(&one).unwrap() == std::fs::read(&sharded).unwrap());
}

#[test]
fn a_memory_limit_that_forces_many_shards_gives_the_one_pass_outputs() {
    let work = tempfile::tempdir().unwrap();
    let t = tenant(work.path(), "parquet", "600", &[]);
    facts_in_shards_equal_one_pass(&t, work.path());
    let whole = work.path().join("whole");
    let since = ["--score-since", "2025-03-05"];
    run(
        "score",
        &t,
        &[&["--out", whole.to_str().unwrap()][..], &since].concat(),
    );
    let limited = work.path().join("limited");
    let limit = ["--memory-limit", "2MiB", "--out", limited.to_str().unwrap()];
    run("score", &t, &[&limit[..], &since].concat());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(limited.join("summary.json")).unwrap()).unwrap();
    let shards = summary["run"]["shards"].as_u64().unwrap();
    assert!(shards >= 10, "only {shards} shards");
    assert_same_run(&whole, &limited, "jsonl");
}

#[test]
fn merge_refuses_a_missing_shard_and_shards_of_other_facts_and_a_shard_refuses_other_flags() {
    let work = tempfile::tempdir().unwrap();
    let t = tenant(work.path(), "parquet", "60", &[]);
    let dir = |name: &str| work.path().join(name).to_string_lossy().into_owned();
    run("facts", &t, &["--out", &dir("facts.json")]);
    run(
        "facts",
        &t,
        &["--out", &dir("other.json"), "--score-since", "2025-03-03"],
    );
    for (k, facts) in [(1, "facts.json"), (2, "facts.json"), (3, "other.json")] {
        let mut extra = vec![
            "--facts".to_string(),
            dir(facts),
            "--shard".into(),
            format!("{k}/3"),
        ];
        extra.extend(["--out".to_string(), dir(&format!("s{k}"))]);
        if facts == "other.json" {
            extra.extend(["--score-since".to_string(), "2025-03-03".into()]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        run("score", &t, &extra);
    }
    let merge = |shards: &[&str]| {
        let mut args = vec!["merge".to_string()];
        args.extend(shards.iter().map(|s| dir(s)));
        args.extend(["--out".to_string(), dir("merged"), "-q".into()]);
        let out = Command::new(env!("CARGO_BIN_EXE_idrisk"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(merge(&["s1", "s2"]).contains("shard(s) 3/3 missing"));
    assert!(merge(&["s1", "s2", "s3"]).contains("other tenant facts"));
    assert!(merge(&["s1", "s1", "s2"]).contains("given twice"));
    // A shard's folder scored again as a whole run is no shard's output any more.
    run("score", &t, &["--out", &dir("s2")]);
    assert!(merge(&["s1", "s2", "s3"]).contains("no shard's output"));
    // A shard scored with flags other than its facts' is refused before anything is read.
    let out = Command::new(env!("CARGO_BIN_EXE_idrisk"))
        .args(
            inputs(&t)
                .iter()
                .fold(vec!["score".to_string()], |mut a, s| {
                    a.push(s.clone());
                    a
                }),
        )
        .args([
            "--facts",
            &dir("facts.json"),
            "--shard",
            "1/3",
            "--out",
            &dir("x"),
        ])
        .args(["--score-since", "2025-03-09"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("other settings (score_since)"), "{stderr}");
    assert!(!work.path().join("x").join("detections.jsonl").exists());
}

#[test]
fn the_slurm_example_run_as_plain_scripts_gives_one_run() {
    // The array job's scripts are shell scripts (#SBATCH lines are comments): run here as the
    // scheduler would, the shards at once, each told a memory limit that splits it further.
    let work = tempfile::tempdir().unwrap();
    let t = tenant(work.path(), "parquet", "300", &[]);
    let whole = work.path().join("whole");
    run("score", &t, &["--out", whole.to_str().unwrap()]);
    let args = inputs(&t);
    let flags = args[1..args.len() - 1].join(" ");
    let run_dir = work.path().join("run");
    let script = |name: &str| crate::support::repo(&format!("examples/slurm/{name}"));
    let step = |name: &str, task: Option<u32>| {
        let mut command = Command::new("bash");
        command
            .arg(script(name))
            .env("IDRISK", env!("CARGO_BIN_EXE_idrisk"))
            .env("INPUT", t.join("signins"))
            .env("WORK", &run_dir)
            .env("SHARDS", "3")
            .env("SHARD_MEMORY", "1MiB")
            .env("IDRISK_FLAGS", &flags)
            .stderr(Stdio::piped());
        if let Some(k) = task {
            command.env("SLURM_ARRAY_TASK_ID", k.to_string());
        }
        command.spawn().unwrap()
    };
    let done = |child: std::process::Child| {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    done(step("facts.sbatch", None));
    let shards: Vec<_> = (1..=3).map(|k| step("shard.sbatch", Some(k))).collect();
    shards.into_iter().for_each(done);
    done(step("merge.sbatch", None));
    assert_same_run(&whole, &run_dir.join("run"), "jsonl");
    assert!(run_dir.join("run/report.html").is_file());
}

/// The one container of a Job manifest of `examples/kubernetes`, its variables set as
/// `run.sh` sets them: (the Job's spec, the container).
fn kubernetes_job(step: &str, vars: &[(&str, &str)]) -> (yaml_rust2::Yaml, yaml_rust2::Yaml) {
    let path = crate::support::repo(&format!("examples/kubernetes/{step}-job.yaml"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    let run_sh =
        std::fs::read_to_string(crate::support::repo("examples/kubernetes/run.sh")).unwrap();
    for (name, value) in vars {
        let var = format!("${{{name}}}");
        // run.sh hands envsubst exactly these variables; the rest is the shell's.
        assert!(run_sh.contains(&var), "run.sh does not substitute {var}");
        text = text.replace(&var, value);
    }
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
    let job = docs.into_iter().next().unwrap();
    assert_eq!(job["kind"].as_str(), Some("Job"), "{}", path.display());
    let spec = job["spec"].clone();
    let containers = spec["template"]["spec"]["containers"].as_vec().unwrap();
    assert_eq!(containers.len(), 1);
    (spec.clone(), containers[0].clone())
}

/// Runs `container` as a kubelet would with the image's entrypoint `idrisk`: its `args` to
/// the entrypoint, or its `command` with its `args` (idrisk on the PATH).
fn kubernetes_pod(container: &yaml_rust2::Yaml, env: &[(&str, String)]) -> std::process::Child {
    let strings = |key: &str| -> Vec<String> {
        container[key].as_vec().map_or(Vec::new(), |v| {
            v.iter().map(|s| s.as_str().unwrap().to_string()).collect()
        })
    };
    let (command, args) = (strings("command"), strings("args"));
    let bin = Path::new(env!("CARGO_BIN_EXE_idrisk"));
    let mut pod = match command.split_first() {
        None => Command::new(bin),
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest);
            c
        }
    };
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    pod.args(args).env("PATH", path).stderr(Stdio::piped());
    for (name, value) in env {
        pod.env(name, value);
    }
    pod.spawn().unwrap()
}

#[test]
fn the_kubernetes_example_run_as_its_pods_would_gives_one_run() {
    // No cluster here: each Job's container runs as its pods would (the Indexed Job's at
    // once, each with its JOB_COMPLETION_INDEX), from the manifests as run.sh applies them.
    let work = tempfile::tempdir().unwrap();
    let t = tenant(work.path(), "parquet", "300", &[]);
    let input = t.join("signins").display().to_string();
    let whole = work.path().join("whole");
    idrisk_ok(&["score", &input, "--out", whole.to_str().unwrap(), "-q"]);
    let output = work.path().join("run-output").display().to_string();
    let vars = [
        ("IMAGE", "registry.example/idrisk:test"),
        ("RUN", "test"),
        ("INPUT", input.as_str()),
        ("OUTPUT", output.as_str()),
        ("SHARDS", "3"),
        ("PARALLELISM", "3"),
    ];
    let done = |child: std::process::Child| {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::create_dir_all(&output).unwrap();
    let (_, facts) = kubernetes_job("facts", &vars);
    done(kubernetes_pod(&facts, &[]));
    let (spec, shard) = kubernetes_job("shards", &vars);
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let completions = spec["completions"].as_i64().unwrap();
    assert_eq!(completions, 3);
    let pods: Vec<_> = (0..completions)
        .map(|k| kubernetes_pod(&shard, &[("JOB_COMPLETION_INDEX", k.to_string())]))
        .collect();
    pods.into_iter().for_each(done);
    let (_, merge) = kubernetes_job("merge", &vars);
    done(kubernetes_pod(&merge, &[]));
    let run = Path::new(&output).join("run");
    assert_same_run(&whole, &run, "jsonl");
    assert!(run.join("report.html").is_file());
}

/// The tenant's sign-ins converted into a dataset split into `buckets` user buckets, put
/// where its sign-ins were (`signins/`), the side files beside them as before.
fn as_bucketed_dataset(t: &Path, buckets: &str) {
    let dataset = t.join("dataset");
    idrisk_ok(&[
        "convert",
        t.join("signins").to_str().unwrap(),
        "--out",
        &format!("{}/", dataset.display()),
        "--buckets",
        buckets,
        "-q",
    ]);
    std::fs::rename(t.join("signins"), t.join("raw")).unwrap();
    std::fs::rename(&dataset, t.join("signins")).unwrap();
}

/// Zeroes every byte of a Parquet file between its magic and its footer: the row count
/// still reads, any page read fails.
fn damage_pages(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let n = bytes.len();
    let footer = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    bytes[4..n - 8 - footer].fill(0);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn shards_of_a_bucketed_dataset_read_only_their_buckets_and_merge_to_one_run() {
    let work = tempfile::tempdir().unwrap();
    let t = tenant(work.path(), "parquet", "600", &[]);
    let from_file = work.path().join("from-file");
    run("score", &t, &["--out", from_file.to_str().unwrap()]);
    as_bucketed_dataset(&t, "8");
    let whole = work.path().join("whole");
    run("score", &t, &["--out", whole.to_str().unwrap()]);
    assert!(counts(&whole).get("passwordSpray").is_some());
    // The buckets of a day interleave in time: their rows are put in order, as one file's.
    assert_same_tables(&from_file, &whole, "jsonl");
    let files = |dir: &Path| summary_but_run(dir)["input"]["totals"]["files"].clone();
    assert_eq!((files(&from_file), files(&whole)), (1.into(), 120.into()));
    // 4 shards of 8 buckets: each reads two buckets; 3 shards: every bucket, filtered.
    for n in [4, 3] {
        let merged = sharded(&t, work.path(), n, &[]);
        assert_same_run(&whole, &merged, "jsonl");
    }
    let limited = work.path().join("limited");
    run(
        "score",
        &t,
        &["--memory-limit", "3MiB", "--out", limited.to_str().unwrap()],
    );
    assert_same_run(&whole, &limited, "jsonl");
    // Shard 2 of 4 owns buckets 1 and 5: with every other bucket's pages destroyed, it
    // scores as before, so it never read them.
    let before = work.path().join("shard-2-of-4");
    let facts = work.path().join("facts-4.json");
    let files: Vec<PathBuf> = crate::support::files_under(&t.join("signins"))
        .into_keys()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .map(|f| t.join("signins").join(f))
        .collect();
    let others: Vec<&PathBuf> = files
        .iter()
        .filter(|f| {
            let bucket = f.parent().unwrap().file_name().unwrap().to_string_lossy();
            bucket != "bucket=1" && bucket != "bucket=5"
        })
        .collect();
    assert!(others.len() > files.len() / 2, "{files:?}");
    for f in &others {
        damage_pages(f);
    }
    let after = work.path().join("shard-2-of-4-again");
    run(
        "score",
        &t,
        &[
            "--facts",
            facts.to_str().unwrap(),
            "--shard",
            "2/4",
            "--out",
            after.to_str().unwrap(),
        ],
    );
    assert_same_run(&before, &after, "jsonl");
}
