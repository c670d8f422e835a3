//! Every export shape and quirk from the formats reference, read from the committed samples
//! and checked against the expected canonical rows.

use serde_json::Value;

use crate::support::{expected_rows, load_one, load_paths, rows, rows_by_id, samples};
use idrisk::ingest::Shape;

/// How precisely a shape writes time stamps.
#[derive(Clone, Copy)]
enum TimePrecision {
    Micros,
    Millis,
    Seconds,
}

fn truncate_time(time: &str, precision: TimePrecision) -> String {
    let (head, fraction) = time.trim_end_matches('Z').split_once('.').unwrap();
    let keep = match precision {
        TimePrecision::Micros => 6,
        TimePrecision::Millis => 3,
        TimePrecision::Seconds => 0,
    };
    format!("{head}.{:0<6}Z", &fraction[..keep])
}

/// Loads one sample file and checks each of its rows against the expected rows, on every
/// expected column except those the shape does not carry.
fn check_file(
    relative: &str,
    shape: Shape,
    rows_expected: u64,
    lacks: &[&str],
    precision: TimePrecision,
) {
    let ingested = load_one(samples(relative));
    let report = &ingested.files[0];
    assert_eq!(report.shape, shape, "{relative}");
    assert_eq!(report.kept, rows_expected, "{relative}: {report:?}");
    assert_eq!(
        report.quarantined, 0,
        "{relative}: {:?}",
        ingested.quarantine
    );
    let expected = expected_rows();
    for row in rows(&ingested.frame) {
        let id = row["request_id"].as_str().unwrap();
        let want = expected
            .get(id)
            .unwrap_or_else(|| panic!("{relative}: unexpected sign-in {id}"));
        for (column, value) in want {
            if lacks.contains(&column.as_str()) {
                assert_eq!(
                    row[column],
                    Value::Null,
                    "{relative} {id}: {column} must stay null"
                );
                continue;
            }
            let value = match (column.as_str(), value) {
                ("time", Value::String(t)) => Value::from(truncate_time(t, precision)),
                _ => value.clone(),
            };
            assert_eq!(row[column], value, "{relative} {id}: column {column}");
        }
        assert!(row["source_file"].as_str().unwrap().ends_with(relative));
        assert!(row["source_line"].as_u64().unwrap() >= 1);
    }
}

/// Columns Graph v1.0 does not have (they are beta fields).
const GRAPH_V1_LACKS: &[&str] = &[
    "user_agent",
    "asn",
    "authentication_requirement",
    "session_id",
    "token_issuer_type",
    "unique_token_identifier",
    "incoming_token_type",
    "authentication_protocol",
    "original_transfer_method",
    "client_credential_type",
    "mfa_denials",
    "mfa_fraud_reported",
    "auth_method",
    "auth_succeeded",
    "auth_result_detail",
];

#[test]
fn graph_page_pretty_printed_with_odata_keys() {
    check_file(
        "graph/signins-page-1.json",
        Shape::GraphPage,
        6,
        GRAPH_V1_LACKS,
        TimePrecision::Micros,
    );
}

#[test]
fn graph_page_gzip_compressed() {
    check_file(
        "graph/signins-page-2.json.gz",
        Shape::GraphPage,
        6,
        GRAPH_V1_LACKS,
        TimePrecision::Micros,
    );
    assert!(load_one(samples("graph/signins-page-2.json.gz")).files[0].gzip);
}

#[test]
fn graph_json_lines_of_beta_sign_ins() {
    check_file(
        "graph/signins-beta.jsonl",
        Shape::SignInLines,
        6,
        &[],
        TimePrecision::Micros,
    );
}

#[test]
fn portal_json_download_is_a_top_level_array() {
    check_file(
        "portal-json/InteractiveSignIns_2025-03-01_2025-03-02.json",
        Shape::SignInArray,
        12,
        &[],
        TimePrecision::Micros,
    );
}

/// The portal CSV has no coordinates, and of the MFA steps only the last one's method and
/// result (not whether it succeeded).
const PORTAL_CSV_LACKS: &[&str] = &["latitude", "longitude", "auth_succeeded"];

#[test]
fn portal_csv_57_columns_with_bom_crlf_and_multi_line_cells() {
    let file = "portal-csv/InteractiveSignIns_2025-03-02_2025-03-03.csv";
    check_file(
        file,
        Shape::PortalCsv,
        9,
        PORTAL_CSV_LACKS,
        TimePrecision::Micros,
    );
    let text = std::fs::read(samples(file)).unwrap();
    assert!(text.starts_with(b"\xEF\xBB\xBF") && text.windows(2).any(|w| w == b"\r\n"));
    let frame = load_one(samples(file)).frame;
    let reasons = frame
        .column("failure_reason")
        .unwrap()
        .str()
        .unwrap()
        .clone();
    assert!(
        reasons.iter().flatten().any(|r| r.contains('\n')),
        "a quoted multi-line cell is one value"
    );
}

#[test]
fn portal_csv_55_columns_non_interactive_from_file_name() {
    let file = "portal-csv/NonInteractiveSignIns_2025-03-02_2025-03-03.csv";
    check_file(
        file,
        Shape::PortalCsv,
        3,
        PORTAL_CSV_LACKS,
        TimePrecision::Micros,
    );
    for row in rows(&load_one(samples(file)).frame) {
        assert_eq!(row["event_type"], "nonInteractiveUser");
        assert_eq!(row["is_interactive"], false);
    }
}

#[test]
fn portal_csv_54_columns_resaved_by_a_spreadsheet_with_local_dates() {
    check_file(
        "portal-csv/InteractiveSignIns_2025-03-01_2025-03-02_resaved.csv",
        Shape::PortalCsv,
        4,
        &["latitude", "longitude", "session_id", "auth_succeeded"],
        TimePrecision::Seconds,
    );
}

#[test]
fn portal_csv_service_principal_22_columns() {
    check_file(
        "portal-csv/ApplicationSignIns_2025-03-02_2025-03-03.csv",
        Shape::ServicePrincipalCsv,
        4,
        &["user_principal_name", "latitude"],
        TimePrecision::Micros,
    );
}

#[test]
fn portal_auth_details_download_is_skipped_and_counted() {
    let ingested = load_one(samples(
        "portal-csv/InteractiveSignIns_AuthDetails_2025-03-02_2025-03-03.csv",
    ));
    let report = &ingested.files[0];
    assert_eq!((report.read, report.skipped, report.kept), (1, 1, 0));
    assert_eq!(report.warnings.len(), 1);
}

#[test]
fn portal_location_splits_city_names_holding_commas() {
    let frame = load_one(samples("portal-csv")).frame;
    let cities = frame.column("city").unwrap().str().unwrap().clone();
    assert!(cities.iter().flatten().any(|c| c == "Washington, D.C."));
}

#[test]
fn diagnostic_json_lines_keep_sign_ins_and_skip_other_categories() {
    let file = "diagnostic/insights-logs-signinlogs/tenantId=72f988bf-86f1-41af-91ab-2d7cd011db47/y=2025/m=03/d=01/h=10/m=00/PT1H.json";
    check_file(file, Shape::DiagnosticLines, 7, &[], TimePrecision::Micros);
    let report = &load_one(samples(file)).files[0];
    assert_eq!(
        report.skipped, 2,
        "AuditLogs and UserRiskEvents are counted, not quarantined"
    );
    assert_eq!(report.read, 9);
}

#[test]
fn diagnostic_gzip_non_interactive_category_is_the_event_type() {
    let file = "diagnostic/insights-logs-noninteractiveusersigninlogs/tenantId=72f988bf-86f1-41af-91ab-2d7cd011db47/y=2025/m=03/d=01/h=10/m=00/PT1H.json.gz";
    check_file(file, Shape::DiagnosticLines, 9, &[], TimePrecision::Micros);
}

#[test]
fn diagnostic_records_document_from_event_hub() {
    check_file(
        "diagnostic/eventhub/records-2018.json",
        Shape::DiagnosticRecords,
        5,
        &[],
        TimePrecision::Micros,
    );
}

/// `SigninLogs` has no client credential type (a service-principal column).
const LOG_ANALYTICS_LACKS: &[&str] = &["client_credential_type"];

#[test]
fn log_analytics_json_with_dynamic_objects_and_a_repeated_row() {
    check_file(
        "log-analytics/SigninLogs.json",
        Shape::LogAnalyticsJson,
        9,
        LOG_ANALYTICS_LACKS,
        TimePrecision::Micros,
    );
    let report = &load_one(samples("log-analytics/SigninLogs.json")).files[0];
    assert_eq!((report.read, report.duplicates), (10, 1));
}

#[test]
fn log_analytics_json_with_dynamic_columns_as_json_text() {
    check_file(
        "log-analytics/AADNonInteractiveUserSignInLogs.json",
        Shape::LogAnalyticsJson,
        9,
        LOG_ANALYTICS_LACKS,
        TimePrecision::Micros,
    );
}

#[test]
fn log_analytics_csv_with_utc_headers_dynamic_string_pairs_and_us_times() {
    check_file(
        "log-analytics/query_data.csv",
        Shape::LogAnalyticsCsv,
        12,
        LOG_ANALYTICS_LACKS,
        TimePrecision::Millis,
    );
}

#[test]
fn all_samples_together_deduplicate_to_the_distinct_sign_ins() {
    let ingested = load_paths(&[samples("")]);
    let expected = expected_rows();
    assert_eq!(ingested.files.len(), 15);
    assert_eq!(ingested.totals.kept as usize, expected.len());
    assert_eq!(ingested.totals.quarantined, 0);
    let got = rows_by_id(&ingested.frame);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    // Coordinates exist only in the JSON shapes; a sign-in that has a JSON copy keeps them
    // whichever copy is kept, and one known only from CSV has none.
    let json_ids = rows_by_id(
        &load_paths(&[
            samples("graph"),
            samples("portal-json"),
            samples("diagnostic"),
            samples("log-analytics"),
        ])
        .frame,
    );
    for (id, want) in &expected {
        if json_ids.contains_key(id) {
            assert_eq!(got[id]["latitude"], want["latitude"], "{id}");
            assert_eq!(got[id]["time"], want["time"], "{id}: the precise copy wins");
        } else {
            assert_eq!(got[id]["latitude"], Value::Null, "{id}");
        }
    }
}

#[test]
fn output_is_sorted_by_time_then_request_id() {
    let frame = load_paths(&[samples("")]).frame;
    let keys: Vec<(String, String)> = rows(&frame)
        .into_iter()
        .map(|r| {
            (
                r["time"].as_str().unwrap().to_string(),
                r["request_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn duplicates_across_shapes_merge_what_each_copy_lacks() {
    // Graph v1.0 pages have coordinates but no user agent; the portal CSV has the user agent
    // but no coordinates. The kept row has both.
    let ingested = load_paths(&[
        samples("graph/signins-page-2.json.gz"),
        samples("portal-csv/InteractiveSignIns_2025-03-01_2025-03-02_resaved.csv"),
    ]);
    assert_eq!(ingested.totals.duplicates, 4);
    let expected = expected_rows();
    let merged = rows_by_id(&ingested.frame);
    let mut checked = 0;
    for (id, row) in &merged {
        if row["user_agent"].is_null() {
            continue;
        }
        checked += 1;
        assert_eq!(row["latitude"], expected[id]["latitude"], "{id}");
        assert_eq!(row["user_agent"], expected[id]["user_agent"], "{id}");
        assert_eq!(
            row["time"], expected[id]["time"],
            "{id}: the kept copy's precise time"
        );
    }
    assert_eq!(checked, 4);
}

/// The 57-column portal header, exactly as exported (two "Incoming token type" columns).
const PORTAL_HEADER_57: &str = r#""Date (UTC)","Request ID","User agent","Correlation ID","User ID","User","Username","User type","Cross tenant access type","Incoming token type","Authentication Protocol","Unique token identifier","Original transfer method","Client credential type","Token Protection - Sign In Session","Token Protection - Sign In Session StatusCode","Application","Application ID ","App owner tenant ID","Resource","Resource ID ","Resource tenant ID","Resource owner tenant ID","Home tenant ID","Home tenant name","IP address","Location","Status","Sign-in error code","Failure reason","Client app","Device ID","Browser","Operating System","Compliant","Managed","Join Type","Multifactor authentication result","Multifactor authentication auth method","Multifactor authentication auth detail","Authentication requirement","Sign-in identifier","Session ID","IP address (seen by resource)","Through Global Secure Access","Global Secure Access IP address","Autonomous system  number","Flagged for review","Token issuer type","Incoming token type","Token issuer name","Latency","Conditional Access","Managed Identity type","Associated Resource Id","Federated Token Id","Federated Token Issuer""#;

#[test]
fn portal_csv_token_protocol_and_mfa_columns_in_graphs_spelling() {
    let header: Vec<&str> = PORTAL_HEADER_57.trim_matches('"').split("\",\"").collect();
    assert_eq!(header.len(), 57);
    // The first "Incoming token type" cell is empty, the second filled; every enum is spelt
    // as the portal spells it.
    let cells = |request: &str, client: &str, protocol: &str, mfa: &str| -> String {
        let mut seen_token = false;
        let row: Vec<String> = header
            .iter()
            .map(|&name| match name {
                "Date (UTC)" => "2025-03-02T10:00:00Z".into(),
                "Request ID" => request.into(),
                "Username" => "ada@contoso.com".into(),
                "IP address" => "203.0.113.9".into(),
                "Status" => "Failure".into(),
                "Sign-in error code" => "500121".into(),
                "Client app" => client.into(),
                "Authentication Protocol" => protocol.into(),
                "Original transfer method" => "Device code flow".into(),
                "Unique token identifier" => "utid-1".into(),
                "Client credential type" => "None".into(),
                "Resource ID " => "00000003-0000-0000-c000-000000000000".into(),
                "Multifactor authentication result" => mfa.into(),
                "Multifactor authentication auth method" => "Mobile app notification".into(),
                "Incoming token type" if !seen_token => {
                    seen_token = true;
                    String::new()
                }
                "Incoming token type" => "Primary Refresh Token".into(),
                _ => String::new(),
            })
            .collect();
        format!("\"{}\"", row.join("\",\""))
    };
    let text = format!(
        "{PORTAL_HEADER_57}\n{}\n{}\n",
        cells(
            "r1",
            "SMTP Auth",
            "ROPC",
            "MFA denied; user declined the authentication"
        ),
        cells(
            "r2",
            "MAPI over HTTP",
            "Device Code",
            "MFA denied; Phone App Reported Fraud"
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("InteractiveSignIns_2025-03-02_2025-03-03.csv");
    std::fs::write(&path, text).unwrap();
    let got = rows_by_id(&load_one(path).frame);
    let (r1, r2) = (&got["r1"], &got["r2"]);
    assert_eq!(r1["client_app"], "Authenticated SMTP");
    assert_eq!(r2["client_app"], "MAPI Over HTTP");
    assert_eq!(r1["authentication_protocol"], "ropc");
    assert_eq!(r2["authentication_protocol"], "deviceCode");
    assert_eq!(r1["original_transfer_method"], "deviceCodeFlow");
    assert_eq!(r1["incoming_token_type"], "primaryRefreshToken");
    assert_eq!(r1["client_credential_type"], "none");
    assert_eq!(r1["unique_token_identifier"], "utid-1");
    assert_eq!(r1["resource_id"], "00000003-0000-0000-c000-000000000000");
    assert_eq!(r1["auth_method"], "Mobile app notification");
    assert_eq!(
        r1["auth_result_detail"],
        "MFA denied; user declined the authentication"
    );
    assert_eq!(
        (
            r1["mfa_denials"].as_u64(),
            r1["mfa_fraud_reported"].as_bool()
        ),
        (Some(1), Some(false))
    );
    assert_eq!(
        (
            r2["mfa_denials"].as_u64(),
            r2["mfa_fraud_reported"].as_bool()
        ),
        (Some(0), Some(true))
    );
    assert_eq!(
        r1["auth_succeeded"],
        Value::Null,
        "the portal CSV does not say"
    );
}

#[test]
fn a_projected_load_of_parquet_and_text_keeps_every_column_of_the_text_rows() {
    // Canonical Parquet first (its unread columns held as nulls), then text inputs whose
    // rows have those columns: each row's values are its own, whichever order.
    let parquet = crate::support::repo("datasets/tenant/signins/signins.parquet");
    let text = samples("graph");
    let columns = || Some(idrisk::report::score::columns_read());
    let projected =
        crate::support::load_with(&[parquet.clone(), text.clone()], |o| o.columns = columns());
    let whole = crate::support::load_with(&[parquet, text], |_| {});
    assert_eq!(projected.frame.height(), whole.frame.height());
    let agents = |i: &idrisk::ingest::Ingested| {
        let rows: Vec<usize> = (0..i.frame.height()).collect();
        i.unread
            .fetch(&i.frame, idrisk::frame::col::user_agent, &rows)
            .unwrap()
    };
    assert_eq!(agents(&projected), agents(&whole));
    assert!(agents(&whole).iter().any(Option::is_some));
}
