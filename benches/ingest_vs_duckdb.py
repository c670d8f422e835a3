#!/usr/bin/env python3
"""Raw ingest against DuckDB, same job, same run: the same diagnostic-settings records as one
big JSON Lines file and as an archive of hourly blobs (`y=/m=/d=/h=/m=00/PT1H.json`), each
converted to zstd Parquet by `idrisk convert` and by DuckDB: 29 sign-in fields, one row per
sign-in id, ordered by time, two threads. Runs alternate between the tools; the medians of
wall time and peak RSS (GNU time) are printed, with idrisk's speed as a ratio of DuckDB's.

    cargo build --release
    python3 -m pip install duckdb          # for this script only; idrisk does not use it
    python3 benches/ingest_vs_duckdb.py [--records 360000] [--blobs 8640] [--runs 3]

The inputs are made once under --work (default /tmp/idrisk-ingest-cmp) by
datasets/recipes/make_big_diagnostic.py and kept; the page cache is warmed before timing.
"""
import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The fields idrisk's canonical frame takes from a diagnostic record, as DuckDB paths.
FIELDS = {
    "time": "CAST(properties.createdDateTime AS TIMESTAMPTZ)",
    "request_id": "properties.id",
    "correlation_id": "properties.correlationId",
    "user_id": "properties.userId",
    "user_principal_name": "properties.userPrincipalName",
    "user_display_name": "properties.userDisplayName",
    "user_type": "properties.userType",
    "app_id": "properties.appId",
    "app_display_name": "properties.appDisplayName",
    "resource_display_name": "properties.resourceDisplayName",
    "resource_id": "properties.resourceId",
    "ip_address": "properties.ipAddress",
    "error_code": "CAST(properties.status.errorCode AS INTEGER)",
    "failure_reason": "properties.status.failureReason",
    "is_interactive": "properties.isInteractive",
    "event_type": "category",
    "country": "properties.location.countryOrRegion",
    "state": "properties.location.state",
    "city": "properties.location.city",
    "latitude": "properties.location.geoCoordinates.latitude",
    "longitude": "properties.location.geoCoordinates.longitude",
    "asn": "properties.autonomousSystemNumber",
    "operating_system": "properties.deviceDetail.operatingSystem",
    "browser": "properties.deviceDetail.browser",
    "user_agent": "properties.userAgent",
    "client_app": "properties.clientAppUsed",
    "authentication_requirement": "properties.authenticationRequirement",
    "conditional_access_status": "properties.conditionalAccessStatus",
    "session_id": "properties.sessionId",
}


def make_inputs(work: Path, records: int, blobs: int) -> tuple[Path, Path]:
    big = work / "big.json"
    archive = work / "archive"
    if not big.exists():
        subprocess.run([sys.executable, str(ROOT / "datasets/recipes/make_big_diagnostic.py"),
                        str(big), str(records)], check=True)
    if not archive.exists():
        lines = big.read_bytes().splitlines(keepends=True)
        per = -(-len(lines) // blobs)
        tmp = work / "archive.partial"
        for k in range(blobs):
            day, hour = divmod(k, 24)
            month, day = divmod(day, 28)
            folder = tmp / f"y=2025/m={month + 1:02d}/d={day + 1:02d}/h={hour:02d}/m=00"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "PT1H.json").write_bytes(b"".join(lines[k * per:(k + 1) * per]))
        tmp.rename(archive)
    return big, archive


def timed(command: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB of one run."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + command, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    wall, kib = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kib) / 1024


def duckdb_command(source: str, target: Path) -> list[str]:
    select = ", ".join(f"{expr} AS {name}" for name, expr in FIELDS.items())
    query = (
        "SET threads = 2; "
        f"COPY (SELECT DISTINCT ON (request_id) * FROM (SELECT {select} FROM read_json('{source}', "
        "format = 'newline_delimited', maximum_object_size = 16777216)) ORDER BY time, request_id) "
        f"TO '{target}' (FORMAT parquet, COMPRESSION zstd);"
    )
    return [sys.executable, "-c", f"import duckdb; duckdb.sql({query!r})"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=360_000)
    parser.add_argument("--blobs", type=int, default=8_640)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/idrisk-ingest-cmp"))
    parser.add_argument("--idrisk", type=Path, default=ROOT / "target/release/idrisk")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    big, archive = make_inputs(args.work, args.records, args.blobs)
    size = big.stat().st_size
    env = dict(os.environ, RAYON_NUM_THREADS="2")
    out = args.work / "out.parquet"
    jobs = {
        ("one file", "idrisk"): [str(args.idrisk), "convert", "-q", str(big), "--out", str(out), "--threads", "2"],
        ("one file", "duckdb"): duckdb_command(str(big), out),
        ("hourly blobs", "idrisk"): [str(args.idrisk), "convert", "-q", str(archive), "--out", str(out), "--threads", "2"],
        ("hourly blobs", "duckdb"): duckdb_command(f"{archive}/**/PT1H.json", out),
    }
    # Warm the page cache with one untimed run of each.
    for command in jobs.values():
        timed(command, env)
    results = {key: [] for key in jobs}
    for _ in range(args.runs):
        for key, command in jobs.items():
            results[key].append(timed(command, env))
    print(f"{args.records} records, {size / 1e9:.2f} GB of JSON; {args.blobs} blobs in the archive layout; "
          f"medians of {args.runs} runs")
    print(f"{'layout':<14}{'tool':<8}{'wall s':>9}{'GB/s':>7}{'peak MB':>9}{'× DuckDB':>10}")
    for layout in ("one file", "hourly blobs"):
        duck = statistics.median(w for w, _ in results[(layout, "duckdb")])
        for tool in ("idrisk", "duckdb"):
            walls = [w for w, _ in results[(layout, tool)]]
            peaks = [m for _, m in results[(layout, tool)]]
            wall = statistics.median(walls)
            print(f"{layout:<14}{tool:<8}{wall:>9.2f}{size / wall / 1e9:>7.2f}{statistics.median(peaks):>9.0f}"
                  f"{duck / wall:>10.2f}")


main()
