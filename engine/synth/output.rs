//! Writing a generated tenant in each export shape, split the way real exports are split.
//!
//! Every shape is rendered from the same canonical row of each event, so all shapes of one
//! seed read back to the same sign-ins, save the fields a shape does not carry.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::tenant::{Event, MICROS_PER_DAY, MICROS_PER_HOUR};
use super::{Plot, Tenant, Written};
use crate::frame::time::format_time;
use crate::frame::{event_type, OutcomeCodes, Row};
use crate::ingest::parquet::ROW_GROUP_ROWS;

/// The export shapes the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SynthShape {
    /// Diagnostic-settings storage tree: hourly `PT1H.json` JSON Lines per category.
    Diagnostic,
    /// Diagnostic settings streamed to an Event Hub and kept by Capture: one Avro file an
    /// hour and category, each event's body a `{"records":[…]}` document of up to 50.
    EventHubsCapture,
    /// Graph `signIns` pages, 1,000 sign-ins a page, newest first, per day.
    Graph,
    /// The portal's JSON download: one array per day and sign-in kind.
    PortalJson,
    /// The portal's CSV download: dated files per sign-in kind (57 and 22 columns).
    PortalCsv,
    /// Log Analytics query results as JSON, one file per day and table.
    LogAnalytics,
    /// The canonical frame as Parquet.
    Parquet,
}

pub const TENANT_ID: &str = "5f1c2d6e-8a4b-4c3d-9e2f-1a2b3c4d5e6f";

/// Where the sign-ins go: a directory; whether each file of a text shape is gzipped
/// (`name.gz`), as archiving pipelines often store exports; how Parquet pages are compressed.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub dir: &'a Path,
    pub gzip: bool,
    pub compression: crate::ingest::Compression,
}

impl Target<'_> {
    /// Creates the file for `name` under the directory (and its parents).
    fn create(&self, name: &str) -> std::io::Result<(PathBuf, OutFile)> {
        let mut path = self.dir.join(name);
        if self.gzip {
            path.as_mut_os_string().push(".gz");
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = File::create(&path)?;
        let out = if self.gzip {
            // No name and no time in the header, so the bytes depend on the content only.
            let encoder = flate2::GzBuilder::new().write(file, flate2::Compression::default());
            OutFile::Gzip(Box::new(BufWriter::new(encoder)))
        } else {
            OutFile::Plain(BufWriter::new(file))
        };
        Ok((path, out))
    }
}

/// One output file, plain or gzipped.
pub enum OutFile {
    Plain(BufWriter<File>),
    Gzip(Box<BufWriter<flate2::write::GzEncoder<File>>>),
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            OutFile::Plain(w) => w.write(buf),
            OutFile::Gzip(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            OutFile::Plain(w) => w.flush(),
            OutFile::Gzip(w) => w.flush(),
        }
    }
}

impl OutFile {
    /// Flushes everything, the gzip trailer included.
    fn finish(self) -> std::io::Result<()> {
        match self {
            OutFile::Plain(mut w) => w.flush(),
            OutFile::Gzip(w) => {
                w.into_inner().map_err(|e| e.into_error())?.finish()?;
                Ok(())
            }
        }
    }
}

/// Open files by name, for shapes that write several at once.
type Writers = std::collections::BTreeMap<String, (PathBuf, OutFile)>;

fn writer<'w>(
    writers: &'w mut Writers,
    target: Target<'_>,
    name: String,
) -> std::io::Result<&'w mut OutFile> {
    if !writers.contains_key(&name) {
        let created = target.create(&name)?;
        writers.insert(name.clone(), created);
    }
    Ok(&mut writers.get_mut(&name).expect("inserted above").1)
}

fn close(writers: &mut Writers, paths: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for (_, (path, w)) in std::mem::take(writers) {
        w.finish()?;
        paths.push(path);
    }
    Ok(())
}

/// Writes the tenant's sign-ins in `shape` under the target directory; returns the files
/// written. Parquet is compressed already: `gzip` applies to the text shapes.
pub fn write_signins(
    tenant: &Tenant,
    shape: SynthShape,
    target: Target<'_>,
) -> anyhow::Result<Vec<PathBuf>> {
    match shape {
        SynthShape::Parquet => {
            let path = target.dir.join("signins.parquet");
            write_parquet(tenant, &path, target.compression)?;
            Ok(vec![path])
        }
        SynthShape::Diagnostic => Ok(diagnostic(tenant, target)?),
        SynthShape::EventHubsCapture => event_hubs_capture(tenant, target),
        SynthShape::Graph => Ok(graph(tenant, target)?),
        SynthShape::PortalJson => Ok(portal_json(tenant, target)?),
        SynthShape::PortalCsv => Ok(portal_csv(tenant, target)?),
        SynthShape::LogAnalytics => Ok(log_analytics(tenant, target)?),
    }
}

/// The canonical frame as Parquet, a million sign-ins at a time so memory follows the batch,
/// not the tenant.
fn write_parquet(
    tenant: &Tenant,
    path: &Path,
    compression: crate::ingest::Compression,
) -> anyhow::Result<()> {
    let mut writer = crate::ingest::CanonicalParquetWriter::create(path, compression)?;
    append_parquet(tenant, &tenant.events, &mut writer)?;
    writer.finish()?;
    Ok(())
}

fn append_parquet(
    tenant: &Tenant,
    events: &[Event],
    writer: &mut crate::ingest::CanonicalParquetWriter,
) -> anyhow::Result<()> {
    // Row groups are built, encoded (their columns in parallel) and written one at a time,
    // so memory follows a group, not the tenant.
    for events in events.chunks(ROW_GROUP_ROWS) {
        let _span = crate::trace::span("synth: parquet group");
        let group = writer.encode(&tenant.transient_frame_of(events))?;
        writer.write_encoded(group)?;
    }
    Ok(())
}

/// The sign-ins of a tenant generated a group of users at a time (at most `most` sign-ins
/// each, see [`Plot::groups`]) as Parquet: `signins.parquet` when one group holds them all
/// (the file [`write_signins`] writes), else `signins-00000.parquet`, … a file per group,
/// each in time order. Memory follows a group, not the tenant. Returns the files and what
/// the groups add to the labels.
pub fn write_parquet_in_groups(
    plot: &Plot,
    dir: &Path,
    compression: crate::ingest::Compression,
    most: usize,
) -> anyhow::Result<(Vec<PathBuf>, Written)> {
    let groups = plot.groups(most);
    let mut written = Written::new(plot);
    let mut paths = Vec::with_capacity(groups.len());
    for (k, users) in groups.iter().enumerate() {
        let path = if groups.len() == 1 {
            dir.join("signins.parquet")
        } else {
            dir.join(format!("signins-{k:05}.parquet"))
        };
        let events = plot.group(users.clone(), &mut written);
        let mut writer = crate::ingest::CanonicalParquetWriter::create(&path, compression)?;
        append_parquet(plot.tenant(), &events, &mut writer)?;
        writer.finish()?;
        paths.push(path);
    }
    Ok((paths, written))
}

fn date(time: i64) -> String {
    format_time(time)[..10].to_string()
}

fn day_range(time: i64) -> String {
    let day = time.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
    format!("{}_{}", date(day), date(day + MICROS_PER_DAY))
}

fn text(value: &Option<std::borrow::Cow<'_, str>>) -> Value {
    value.as_deref().map_or(Value::Null, Value::from)
}

/// A Graph `signIn` object (beta field set) for a canonical row.
fn signin_json(row: &Row<'_>) -> Value {
    let geo = match (row.latitude, row.longitude) {
        (Some(lat), Some(lon)) => json!({"latitude": lat, "longitude": lon, "altitude": null}),
        _ => Value::Null,
    };
    let mut signin = json!({
        "id": text(&row.request_id),
        "createdDateTime": format_time(row.time),
        "userDisplayName": text(&row.user_display_name),
        "userPrincipalName": text(&row.user_principal_name),
        "userId": text(&row.user_id),
        "userType": text(&row.user_type),
        "appId": text(&row.app_id),
        "appDisplayName": text(&row.app_display_name),
        "resourceDisplayName": text(&row.resource_display_name),
        "servicePrincipalId": text(&row.service_principal_id),
        "servicePrincipalName": text(&row.service_principal_name),
        "ipAddress": text(&row.ip_address),
        "clientAppUsed": text(&row.client_app),
        "correlationId": text(&row.correlation_id),
        "conditionalAccessStatus": text(&row.conditional_access_status),
        "isInteractive": row.is_interactive,
        "userAgent": text(&row.user_agent),
        "authenticationRequirement": text(&row.authentication_requirement),
        "sessionId": text(&row.session_id),
        "tokenIssuerType": text(&row.token_issuer_type),
        "autonomousSystemNumber": row.asn,
        "signInEventTypes": [text(&row.event_type)],
        "riskDetail": "none",
        "riskLevelAggregated": "none",
        "riskLevelDuringSignIn": "none",
        "riskState": "none",
        "riskEventTypes_v2": [],
        "status": {"errorCode": row.error_code, "failureReason": text(&row.failure_reason), "additionalDetails": null},
        "location": {"city": text(&row.city), "state": text(&row.state), "countryOrRegion": text(&row.country), "geoCoordinates": geo},
        "deviceDetail": {"deviceId": "", "displayName": "", "operatingSystem": text(&row.operating_system), "browser": text(&row.browser), "isCompliant": false, "isManaged": false, "trustType": ""},
    });
    // The token, protocol and MFA fields (beta), in a second object: one macro call with
    // every field would pass the macro's recursion limit.
    if let Value::Object(fields) = &mut signin {
        let more = json!({
            "uniqueTokenIdentifier": text(&row.unique_token_identifier),
            "incomingTokenType": text(&row.incoming_token_type),
            "authenticationProtocol": text(&row.authentication_protocol),
            "originalTransferMethod": text(&row.original_transfer_method),
            "resourceId": text(&row.resource_id),
            "clientCredentialType": text(&row.client_credential_type),
            "authenticationDetails": authentication_details(row),
        });
        if let Value::Object(more) = more {
            fields.extend(more);
        }
    }
    signin
}

/// The `authenticationDetails` steps of a canonical row: the password, then the last step
/// when it is another (a push). Rows without steps (refreshes, service principals) have none.
fn authentication_details(row: &Row<'_>) -> Value {
    let Some(method) = row.auth_method.as_deref() else {
        return Value::Null;
    };
    let time = format_time(row.time);
    let step = |method: &str, succeeded: Option<bool>, detail: &Value| {
        json!({
            "authenticationStepDateTime": time,
            "authenticationMethod": method,
            "succeeded": succeeded,
            "authenticationStepResultDetail": detail,
        })
    };
    let last = step(method, row.auth_succeeded, &text(&row.auth_result_detail));
    if method == super::PASSWORD {
        return json!([last]);
    }
    json!([
        step(
            super::PASSWORD,
            Some(true),
            &Value::from(super::RIGHT_PASSWORD)
        ),
        last
    ])
}

/// How the portal CSV spells an enum the JSON shapes write in Graph's camelCase.
fn portal_spelling(value: &str) -> &str {
    match value {
        "none" => "None",
        "deviceCode" => "Device Code",
        "deviceCodeFlow" => "Device code flow",
        "ropc" => "ROPC",
        "refreshToken" => "Refresh token",
        "clientSecret" => "Client secret",
        "certificate" => "Certificate",
        "managedIdentity" => "Managed identity",
        other => other,
    }
}

fn category(kind: &str) -> (&'static str, &'static str) {
    match kind {
        event_type::INTERACTIVE_USER => ("SignInLogs", "insights-logs-signinlogs"),
        event_type::NON_INTERACTIVE_USER => (
            "NonInteractiveUserSignInLogs",
            "insights-logs-noninteractiveusersigninlogs",
        ),
        event_type::SERVICE_PRINCIPAL => (
            "ServicePrincipalSignInLogs",
            "insights-logs-serviceprincipalsigninlogs",
        ),
        _ => (
            "ManagedIdentitySignInLogs",
            "insights-logs-managedidentitysigninlogs",
        ),
    }
}

fn diagnostic(tenant: &Tenant, target: Target<'_>) -> std::io::Result<Vec<PathBuf>> {
    let mut writers = Writers::new();
    let mut scratch = super::EventText::default();
    let mut paths = Vec::new();
    let mut hour = i64::MIN;
    for event in &tenant.events {
        // Events come in time order: an hour's blobs are complete when the next hour starts,
        // so only a handful of files is ever open.
        let this_hour = event.time.div_euclid(MICROS_PER_HOUR);
        if this_hour != hour {
            close(&mut writers, &mut paths)?;
            hour = this_hour;
        }
        let (container, stamp, record) = diagnostic_record(tenant, event, &mut scratch);
        let name = format!(
            "{container}/tenantId={TENANT_ID}/y={}/m={}/d={}/h={}/m=00/PT1H.json",
            &stamp[0..4],
            &stamp[5..7],
            &stamp[8..10],
            &stamp[11..13]
        );
        let out = writer(&mut writers, target, name)?;
        serde_json::to_writer(&mut *out, &record)?;
        out.write_all(b"\n")?;
    }
    close(&mut writers, &mut paths)?;
    Ok(paths)
}

/// The diagnostic-settings record of an event: its container (category), time stamp and
/// the record.
fn diagnostic_record(
    tenant: &Tenant,
    event: &Event,
    scratch: &mut super::EventText,
) -> (&'static str, String, Value) {
    scratch.fill(event, &tenant.plan);
    let row = tenant.row_with(event, scratch);
    let (category, container) = category(event.event_type);
    let stamp = format_time(event.time);
    let record = json!({
            "time": stamp,
            "resourceId": format!("/tenants/{TENANT_ID}/providers/Microsoft.aadiam"),
            "operationName": "Sign-in activity",
            "operationVersion": "1.0",
            "category": category,
            "tenantId": TENANT_ID,
            "resultType": row.error_code.unwrap_or(0).to_string(),
            "resultSignature": "None",
            "resultDescription": text(&row.failure_reason),
            "durationMs": 0,
            "callerIpAddress": text(&row.ip_address),
            "correlationId": text(&row.correlation_id),
            "identity": text(&row.user_display_name),
            "Level": 4,
            "location": text(&row.country),
            "properties": signin_json(&row),
    });
    (container, stamp, record)
}

/// The schema Event Hubs Capture writes its Avro files with.
pub const CAPTURE_SCHEMA: &str = r#"{"type":"record","name":"EventData","namespace":"Microsoft.ServiceBus.Messaging","fields":[{"name":"SequenceNumber","type":"long"},{"name":"Offset","type":"string"},{"name":"EnqueuedTimeUtc","type":"string"},{"name":"SystemProperties","type":{"type":"map","values":["long","double","string","bytes"]}},{"name":"Properties","type":{"type":"map","values":["long","double","string","bytes","null"]}},{"name":"Body","type":["null","bytes"]}]}"#;

/// Event Hubs Capture: `{namespace}/{hub}/{partition}/{Y}/{M}/{D}/{H}/{m}/{s}.avro`, one file
/// an hour and category, events of up to 50 records (diagnostic settings batch them).
fn event_hubs_capture(tenant: &Tenant, target: Target<'_>) -> anyhow::Result<Vec<PathBuf>> {
    use apache_avro::types::{Record, Value as Avro};
    const PER_EVENT: usize = 50;
    let schema = apache_avro::Schema::parse_str(CAPTURE_SCHEMA)?;
    let mut scratch = super::EventText::default();
    let mut paths = Vec::new();
    let mut sequence = 0i64;
    let hours = tenant
        .events
        .chunk_by(|a, b| a.time.div_euclid(MICROS_PER_HOUR) == b.time.div_euclid(MICROS_PER_HOUR));
    for hour in hours {
        let mut by_category: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
        let mut stamp = String::new();
        for event in hour {
            let (container, time, record) = diagnostic_record(tenant, event, &mut scratch);
            if stamp.is_empty() {
                stamp = time;
            }
            by_category.entry(container).or_default().push(record);
        }
        for (container, records) in by_category {
            let hub = container.trim_start_matches("insights-logs-");
            let name = format!(
                "idrisk-ns/{hub}/0/{}/{}/{}/{}/00/00.avro",
                &stamp[0..4],
                &stamp[5..7],
                &stamp[8..10],
                &stamp[11..13]
            );
            let mut writer = apache_avro::Writer::new(&schema, Vec::new())?;
            for batch in records.chunks(PER_EVENT) {
                let mut event = Record::new(&schema)
                    .ok_or_else(|| anyhow::anyhow!("the Capture schema is not a record"))?;
                event.put("SequenceNumber", Avro::Long(sequence));
                event.put("Offset", Avro::String((sequence * 4096).to_string()));
                event.put("EnqueuedTimeUtc", Avro::String(stamp.clone()));
                event.put("SystemProperties", Avro::Map(Default::default()));
                event.put("Properties", Avro::Map(Default::default()));
                let body = serde_json::to_vec(&json!({ "records": batch }))?;
                event.put("Body", Avro::Union(1, Box::new(Avro::Bytes(body))));
                writer.append_value(event)?;
                sequence += 1;
            }
            let path = target.dir.join(&name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, writer.into_inner()?)?;
            paths.push(path);
        }
    }
    Ok(paths)
}

/// Events grouped by day (events are sorted by time).
fn by_day(events: &[Event]) -> Vec<&[Event]> {
    events
        .chunk_by(|a, b| a.time.div_euclid(MICROS_PER_DAY) == b.time.div_euclid(MICROS_PER_DAY))
        .collect()
}

fn graph(tenant: &Tenant, target: Target<'_>) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for day in by_day(&tenant.events) {
        // Graph lists newest first.
        let rows: Vec<Value> = day
            .iter()
            .rev()
            .map(|e| tenant.with_row(e, signin_json))
            .collect();
        let pages = rows.chunks(1000).count();
        for (n, page) in rows.chunks(1000).enumerate() {
            let mut object = Map::new();
            object.insert(
                "@odata.context".into(),
                "https://graph.microsoft.com/beta/$metadata#auditLogs/signIns".into(),
            );
            if n + 1 < pages {
                object.insert(
                    "@odata.nextLink".into(),
                    format!(
                        "https://graph.microsoft.com/beta/auditLogs/signIns?$skiptoken=page{}",
                        n + 1
                    )
                    .into(),
                );
            }
            object.insert("value".into(), Value::Array(page.to_vec()));
            let name = format!("signins-{}-page-{:03}.json", date(day[0].time), n + 1);
            paths.push(write_json(target, &name, &Value::Object(object))?);
        }
    }
    Ok(paths)
}

fn download_prefix(kind: &str) -> &'static str {
    match kind {
        event_type::INTERACTIVE_USER => "InteractiveSignIns",
        event_type::NON_INTERACTIVE_USER => "NonInteractiveSignIns",
        event_type::SERVICE_PRINCIPAL => "ApplicationSignIns",
        _ => "MSISignIns",
    }
}

fn portal_json(tenant: &Tenant, target: Target<'_>) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for day in by_day(&tenant.events) {
        let mut files: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
        for event in day {
            files
                .entry(download_prefix(event.event_type))
                .or_default()
                .push(tenant.with_row(event, signin_json));
        }
        for (prefix, rows) in files {
            let name = format!("{prefix}_{}.json", day_range(day[0].time));
            paths.push(write_json(target, &name, &Value::Array(rows))?);
        }
    }
    Ok(paths)
}

fn write_json(target: Target<'_>, name: &str, value: &Value) -> std::io::Result<PathBuf> {
    let (path, mut out) = target.create(name)?;
    serde_json::to_writer(&mut out, value)?;
    out.finish()?;
    Ok(path)
}

/// The portal's 57-column header, exactly as exported.
pub const PORTAL_HEADER: &[&str] = &[
    "Date (UTC)",
    "Request ID",
    "User agent",
    "Correlation ID",
    "User ID",
    "User",
    "Username",
    "User type",
    "Cross tenant access type",
    "Incoming token type",
    "Authentication Protocol",
    "Unique token identifier",
    "Original transfer method",
    "Client credential type",
    "Token Protection - Sign In Session",
    "Token Protection - Sign In Session StatusCode",
    "Application",
    "Application ID ",
    "App owner tenant ID",
    "Resource",
    "Resource ID ",
    "Resource tenant ID",
    "Resource owner tenant ID",
    "Home tenant ID",
    "Home tenant name",
    "IP address",
    "Location",
    "Status",
    "Sign-in error code",
    "Failure reason",
    "Client app",
    "Device ID",
    "Browser",
    "Operating System",
    "Compliant",
    "Managed",
    "Join Type",
    "Multifactor authentication result",
    "Multifactor authentication auth method",
    "Multifactor authentication auth detail",
    "Authentication requirement",
    "Sign-in identifier",
    "Session ID",
    "IP address (seen by resource)",
    "Through Global Secure Access",
    "Global Secure Access IP address",
    "Autonomous system  number",
    "Flagged for review",
    "Token issuer type",
    "Incoming token type",
    "Token issuer name",
    "Latency",
    "Conditional Access",
    "Managed Identity type",
    "Associated Resource Id",
    "Federated Token Id",
    "Federated Token Issuer",
];

/// The portal's 22-column service-principal header.
pub const SERVICE_PRINCIPAL_HEADER: &[&str] = &[
    "Date (UTC)",
    "Request ID",
    "Correlation ID",
    "Service principal ID",
    "Service principal name",
    "Credential key ID",
    "Credential thumbprint",
    "Application",
    "Application ID ",
    "App owner tenant ID",
    "Resource",
    "Resource ID ",
    "Resource tenant ID",
    "Resource owner tenant ID",
    "Home tenant ID",
    "Home tenant name",
    "IP address",
    "Location",
    "Status",
    "Sign-in error code",
    "Failure reason",
    "Conditional Access",
];

fn portal_cell(row: &Row<'_>, column: &str, codes: &OutcomeCodes) -> String {
    let s = |v: &Option<std::borrow::Cow<'_, str>>| v.as_deref().unwrap_or("").to_string();
    match column {
        "Date (UTC)" => format_time(row.time),
        "Request ID" => s(&row.request_id),
        "User agent" => s(&row.user_agent),
        "Correlation ID" => s(&row.correlation_id),
        "User ID" => s(&row.user_id),
        "User" => s(&row.user_display_name),
        "Username" => s(&row.user_principal_name),
        "User type" => s(&row.user_type),
        "Application" => s(&row.app_display_name),
        "Application ID " => s(&row.app_id),
        "Resource" => s(&row.resource_display_name),
        "IP address" => s(&row.ip_address),
        "Location" => format!("{}, {}, {}", s(&row.city), s(&row.state), s(&row.country)),
        "Status" => match row.error_code.map(|c| codes.classify(c)) {
            Some(crate::frame::outcome::SUCCESS) => "Success".into(),
            Some(crate::frame::outcome::CREDENTIAL_VALID) => "Interrupted".into(),
            _ => "Failure".into(),
        },
        "Sign-in error code" => row.error_code.map(|c| c.to_string()).unwrap_or_default(),
        "Failure reason" => {
            if row.error_code == Some(0) {
                String::new()
            } else {
                s(&row.failure_reason)
            }
        }
        "Client app" => s(&row.client_app),
        "Browser" => s(&row.browser),
        "Operating System" => s(&row.operating_system),
        "Authentication requirement" => match row.authentication_requirement.as_deref() {
            Some("multiFactorAuthentication") => "Multifactor authentication".into(),
            Some("singleFactorAuthentication") => "Single-factor authentication".into(),
            _ => String::new(),
        },
        "Session ID" => s(&row.session_id),
        "Incoming token type" => portal_spelling(&s(&row.incoming_token_type)).into(),
        "Authentication Protocol" => portal_spelling(&s(&row.authentication_protocol)).into(),
        "Original transfer method" => portal_spelling(&s(&row.original_transfer_method)).into(),
        "Client credential type" => portal_spelling(&s(&row.client_credential_type)).into(),
        "Unique token identifier" => s(&row.unique_token_identifier),
        "Resource ID " => s(&row.resource_id),
        "Multifactor authentication result" => s(&row.auth_result_detail),
        "Multifactor authentication auth method" => s(&row.auth_method),
        "Autonomous system  number" => row.asn.map(|a| a.to_string()).unwrap_or_default(),
        "Token issuer type" => s(&row.token_issuer_type),
        "Conditional Access" => match row.conditional_access_status.as_deref() {
            Some("success") => "Success".into(),
            Some("failure") => "Failure".into(),
            Some("notApplied") => "Not Applied".into(),
            _ => String::new(),
        },
        "Service principal ID" => s(&row.service_principal_id),
        "Service principal name" => s(&row.service_principal_name),
        "Home tenant ID" | "Resource tenant ID" => TENANT_ID.into(),
        "Compliant" | "Managed" => "FALSE".into(),
        "Flagged for review" => "No".into(),
        _ => String::new(),
    }
}

fn portal_csv(tenant: &Tenant, target: Target<'_>) -> anyhow::Result<Vec<PathBuf>> {
    let mut scratch = super::EventText::default();
    let mut paths = Vec::new();
    for day in by_day(&tenant.events) {
        let mut files: std::collections::BTreeMap<&str, ::csv::Writer<OutFile>> =
            Default::default();
        for event in day {
            let prefix = download_prefix(event.event_type);
            let header = if matches!(
                event.event_type,
                event_type::SERVICE_PRINCIPAL | event_type::MANAGED_IDENTITY
            ) {
                SERVICE_PRINCIPAL_HEADER
            } else {
                PORTAL_HEADER
            };
            if !files.contains_key(prefix) {
                let (path, out) =
                    target.create(&format!("{prefix}_{}.csv", day_range(day[0].time)))?;
                let mut w = ::csv::WriterBuilder::new()
                    .quote_style(::csv::QuoteStyle::Always)
                    .from_writer(out);
                w.write_record(header)?;
                files.insert(prefix, w);
                paths.push(path);
            }
            scratch.fill(event, &tenant.plan);
            let row = tenant.row_with(event, &scratch);
            let w = files.get_mut(prefix).expect("inserted above");
            w.write_record(header.iter().map(|c| portal_cell(&row, c, &tenant.codes)))?;
        }
        for (_, w) in files {
            w.into_inner().map_err(|e| e.into_error())?.finish()?;
        }
    }
    Ok(paths)
}

fn log_analytics(tenant: &Tenant, target: Target<'_>) -> std::io::Result<Vec<PathBuf>> {
    let mut scratch = super::EventText::default();
    let mut paths = Vec::new();
    for day in by_day(&tenant.events) {
        let mut tables: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
        for event in day {
            scratch.fill(event, &tenant.plan);
            let row = tenant.row_with(event, &scratch);
            let (category, _) = category(event.event_type);
            let table = match event.event_type {
                event_type::INTERACTIVE_USER => "SigninLogs",
                event_type::NON_INTERACTIVE_USER => "AADNonInteractiveUserSignInLogs",
                event_type::SERVICE_PRINCIPAL => "AADServicePrincipalSignInLogs",
                _ => "AADManagedIdentitySignInLogs",
            };
            let signin = signin_json(&row);
            // The non-interactive table stores its dynamic columns as JSON text.
            let dynamic = |v: &Value| {
                if table == "SigninLogs" {
                    v.clone()
                } else {
                    Value::from(v.to_string())
                }
            };
            tables.entry(table).or_default().push(json!({
                "TenantId": TENANT_ID,
                "TimeGenerated": format_time(row.time),
                "CreatedDateTime": format_time(row.time),
                "Id": text(&row.request_id),
                "OperationName": "Sign-in activity",
                "Category": category,
                "ResultType": row.error_code.unwrap_or(0).to_string(),
                "ResultDescription": text(&row.failure_reason),
                "UserPrincipalName": text(&row.user_principal_name),
                "UserId": text(&row.user_id),
                "UserDisplayName": text(&row.user_display_name),
                "UserType": text(&row.user_type),
                "AppId": text(&row.app_id),
                "AppDisplayName": text(&row.app_display_name),
                "ResourceDisplayName": text(&row.resource_display_name),
                "ServicePrincipalId": text(&row.service_principal_id),
                "ServicePrincipalName": text(&row.service_principal_name),
                "IPAddress": text(&row.ip_address),
                "Location": text(&row.country),
                "LocationDetails": dynamic(&signin["location"]),
                "DeviceDetail": dynamic(&signin["deviceDetail"]),
                "Status": dynamic(&signin["status"]),
                "ClientAppUsed": text(&row.client_app),
                "IsInteractive": row.is_interactive,
                "AutonomousSystemNumber": row.asn,
                "UserAgent": text(&row.user_agent),
                "AuthenticationRequirement": text(&row.authentication_requirement),
                "ConditionalAccessStatus": text(&row.conditional_access_status),
                "CorrelationId": text(&row.correlation_id),
                "SessionId": text(&row.session_id),
                "TokenIssuerType": text(&row.token_issuer_type),
                "UniqueTokenIdentifier": text(&row.unique_token_identifier),
                "IncomingTokenType": text(&row.incoming_token_type),
                "AuthenticationProtocol": text(&row.authentication_protocol),
                "OriginalTransferMethod": text(&row.original_transfer_method),
                "ResourceIdentity": text(&row.resource_id),
                "ClientCredentialType": text(&row.client_credential_type),
                "AuthenticationDetails": dynamic(&signin["authenticationDetails"]),
                "Type": table,
            }));
        }
        for (table, rows) in tables {
            let name = format!("{table}_{}.json", date(day[0].time));
            paths.push(write_json(target, &name, &Value::Array(rows))?);
        }
    }
    Ok(paths)
}
