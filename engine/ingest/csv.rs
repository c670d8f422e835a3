//! The CSV reader: the portal's sign-in downloads (user and service-principal headers) and
//! Log Analytics "Export to CSV" files.
//!
//! Columns are matched by trimmed, space-collapsed, case-folded name, never by position, so
//! the 54-, 55- and 57-column portal headers, the trailing-space and double-space names and
//! the duplicated `Incoming token type` all work. Records are read sequentially (quoted cells
//! may span lines) and converted to rows in parallel batches.

use std::borrow::Cow;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ::csv::{ByteRecord, ReaderBuilder};
use rayon::prelude::*;

use super::enums::{self, fold_words, summarise_steps, Step};
use super::lenient::{Dynamic, Int};
use super::records::{
    asn, error_code, push_log_analytics, set_ip, set_steps, set_time, LogAnalyticsRow, SourceRef,
    TokenFields, Verdict,
};
use super::source::{stopped_warning, Opened};
use super::values::{lowercase, parse_bool, parse_int};
use super::{FileLoad, IngestError, IngestOptions, Part, Quarantined, Shape};
use crate::frame::{event_type, FrameBuilder, OutcomeCodes, Row};

/// Rows converted per parallel batch.
const BATCH_ROWS: usize = 16 * 1024;

/// A header name as matched: trimmed, BOM removed, runs of spaces collapsed, lowercase.
pub fn normalise_header(name: &[u8]) -> String {
    let text = String::from_utf8_lossy(name);
    let text = text.trim_start_matches('\u{feff}');
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The portal columns the engine keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Portal {
    Time,
    RequestId,
    UserAgent,
    CorrelationId,
    UserId,
    UserDisplayName,
    Username,
    UserType,
    Application,
    ApplicationId,
    Resource,
    IpAddress,
    Location,
    Status,
    ErrorCode,
    FailureReason,
    ClientApp,
    DeviceId,
    Browser,
    OperatingSystem,
    AuthenticationRequirement,
    SessionId,
    Asn,
    TokenIssuerType,
    ConditionalAccess,
    ServicePrincipalId,
    ServicePrincipalName,
    IncomingTokenType,
    /// "Incoming token type" appears twice in the 57-column header: the second one.
    IncomingTokenTypeAgain,
    AuthenticationProtocol,
    UniqueTokenIdentifier,
    OriginalTransferMethod,
    ClientCredentialType,
    ResourceId,
    MfaResult,
    MfaMethod,
}

const PORTAL_COLUMNS: &[(&str, Portal)] = &[
    ("date (utc)", Portal::Time),
    ("request id", Portal::RequestId),
    ("user agent", Portal::UserAgent),
    ("correlation id", Portal::CorrelationId),
    ("user id", Portal::UserId),
    ("user", Portal::UserDisplayName),
    ("username", Portal::Username),
    ("user type", Portal::UserType),
    ("application", Portal::Application),
    ("application id", Portal::ApplicationId),
    ("resource", Portal::Resource),
    ("ip address", Portal::IpAddress),
    ("location", Portal::Location),
    ("status", Portal::Status),
    ("sign-in error code", Portal::ErrorCode),
    ("failure reason", Portal::FailureReason),
    ("client app", Portal::ClientApp),
    ("device id", Portal::DeviceId),
    ("browser", Portal::Browser),
    ("operating system", Portal::OperatingSystem),
    (
        "authentication requirement",
        Portal::AuthenticationRequirement,
    ),
    ("session id", Portal::SessionId),
    ("autonomous system number", Portal::Asn),
    ("token issuer type", Portal::TokenIssuerType),
    ("conditional access", Portal::ConditionalAccess),
    ("service principal id", Portal::ServicePrincipalId),
    ("service principal name", Portal::ServicePrincipalName),
    ("incoming token type", Portal::IncomingTokenType),
    ("authentication protocol", Portal::AuthenticationProtocol),
    ("unique token identifier", Portal::UniqueTokenIdentifier),
    ("original transfer method", Portal::OriginalTransferMethod),
    ("client credential type", Portal::ClientCredentialType),
    ("resource id", Portal::ResourceId),
    ("multifactor authentication result", Portal::MfaResult),
    ("multifactor authentication auth method", Portal::MfaMethod),
];

const PORTAL_FIELDS: usize = 36;

/// Log Analytics columns the engine keeps (PascalCase names, case-folded).
const LOG_ANALYTICS_COLUMNS: &[&str] = &[
    "timegenerated",
    "createddatetime",
    "id",
    "userprincipalname",
    "userid",
    "userdisplayname",
    "usertype",
    "appid",
    "appdisplayname",
    "resourcedisplayname",
    "serviceprincipalid",
    "serviceprincipalname",
    "ipaddress",
    "location",
    "locationdetails",
    "devicedetail",
    "status",
    "resulttype",
    "resultdescription",
    "clientappused",
    "isinteractive",
    "autonomoussystemnumber",
    "useragent",
    "authenticationrequirement",
    "conditionalaccessstatus",
    "correlationid",
    "sessionid",
    "tokenissuertype",
    "uniquetokenidentifier",
    "incomingtokentype",
    "authenticationprotocol",
    "originaltransfermethod",
    "resourceidentity",
    "clientcredentialtype",
    "authenticationdetails",
    "category",
    "type",
];

/// Which CSV dialect a header is, and where each kept column sits.
enum Dialect {
    Portal {
        columns: Box<[Option<usize>; PORTAL_FIELDS]>,
        service_principal: bool,
    },
    /// For each of [`LOG_ANALYTICS_COLUMNS`], the cells that may hold it (`X`, `X [UTC]`,
    /// `X_dynamic`, `X_string`), first non-empty wins.
    LogAnalytics { columns: Vec<Vec<usize>> },
}

fn dialect(header: &ByteRecord) -> Option<Dialect> {
    let names: Vec<String> = header.iter().map(normalise_header).collect();
    if names.iter().any(|n| n == "date (utc)") {
        let mut columns = [None; PORTAL_FIELDS];
        for (name, field) in PORTAL_COLUMNS {
            columns[*field as usize] = names.iter().position(|n| n == name);
        }
        columns[Portal::IncomingTokenTypeAgain as usize] =
            names.iter().rposition(|n| n == "incoming token type");
        let service_principal = columns[Portal::ServicePrincipalId as usize].is_some()
            && columns[Portal::Username as usize].is_none();
        return Some(Dialect::Portal {
            columns: Box::new(columns),
            service_principal,
        });
    }
    let base: Vec<String> = names
        .iter()
        .map(|n| {
            let n = n.strip_suffix(" [utc]").unwrap_or(n);
            let n = n.strip_suffix("_dynamic").unwrap_or(n);
            n.strip_suffix("_string").unwrap_or(n).replace(' ', "")
        })
        .collect();
    let columns: Vec<Vec<usize>> = LOG_ANALYTICS_COLUMNS
        .iter()
        .map(|want| (0..base.len()).filter(|&i| base[i] == *want).collect())
        .collect();
    let has = |name: &str| {
        LOG_ANALYTICS_COLUMNS
            .iter()
            .position(|c| *c == name)
            .is_some_and(|i| !columns[i].is_empty())
    };
    (has("timegenerated") || has("createddatetime")).then_some(Dialect::LogAnalytics { columns })
}

/// The event type a portal download's file name gives (`InteractiveSignIns_…`, …).
fn event_type_from_file_name(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    if name.starts_with("noninteractivesignins") {
        Some(event_type::NON_INTERACTIVE_USER)
    } else if name.starts_with("interactivesignins") {
        Some(event_type::INTERACTIVE_USER)
    } else if name.starts_with("applicationsignins") {
        Some(event_type::SERVICE_PRINCIPAL)
    } else if name.starts_with("msisignins") {
        Some(event_type::MANAGED_IDENTITY)
    } else {
        None
    }
}

fn is_auth_details_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().to_lowercase().contains("_authdetails_"))
}

struct Context<'c> {
    name: &'c str,
    /// Cells in the header: a row with more or fewer is cut or merged, and its cells cannot
    /// be trusted to sit under their names.
    cells: usize,
    codes: &'c OutcomeCodes,
    file_event_type: Option<&'static str>,
}

pub(super) fn read(
    opened: Opened,
    path: &Path,
    name: &str,
    options: &IngestOptions,
) -> Result<FileLoad, IngestError> {
    let codes = &options.codes;
    let Opened {
        reader,
        head,
        gzip,
        stopped,
        ..
    } = opened;
    // After a failed head read the stream is not read again: the head is all there is.
    let rest: Box<dyn Read + Send> = if stopped.is_some() {
        Box::new(io::empty())
    } else {
        reader
    };
    let record_end = Arc::new(AtomicU64::new(0));
    let input = CappedReader {
        inner: io::Cursor::new(head).chain(rest),
        read: 0,
        record_end: record_end.clone(),
        cap: options.max_record_bytes as u64,
    };
    let mut csv = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut header = ByteRecord::new();
    let mut load = FileLoad::new(Shape::Unrecognised, gzip);
    if let Some(error) = &stopped {
        load.warnings.push(stopped_warning(error));
    }
    let header_read = csv.read_byte_record(&mut header);
    let dialect = match header_read {
        Ok(true) => dialect(&header),
        _ => None,
    };
    let Some(dialect) = dialect else {
        load.read = 1;
        load.quarantine.push(Quarantined::new(
            name,
            Some(1),
            "unrecognised CSV header: expected a portal download (\"Date (UTC)\") or a Log \
             Analytics export (TimeGenerated / CreatedDateTime)",
            &join_cells(&header),
        ));
        return Ok(load);
    };
    let skip_all = is_auth_details_file(path);
    load.shape = match &dialect {
        Dialect::Portal {
            service_principal: true,
            ..
        } => Shape::ServicePrincipalCsv,
        Dialect::Portal { .. } => Shape::PortalCsv,
        Dialect::LogAnalytics { .. } => Shape::LogAnalyticsCsv,
    };
    if skip_all {
        load.warnings.push(
            "authentication-details download: its rows describe sign-in steps, not sign-ins".into(),
        );
    }
    let ctx = Context {
        name,
        cells: header.len(),
        codes,
        file_event_type: match &dialect {
            Dialect::Portal {
                service_principal: true,
                ..
            } => event_type_from_file_name(path).or(Some(event_type::SERVICE_PRINCIPAL)),
            _ => event_type_from_file_name(path),
        },
    };
    let mut batch: Vec<(u64, ByteRecord)> = Vec::with_capacity(BATCH_ROWS);
    loop {
        let mut record = ByteRecord::new();
        record_end.store(csv.position().byte(), Ordering::Relaxed);
        let more = match csv.read_byte_record(&mut record) {
            Ok(more) => more,
            Err(e) if is_oversized(&e) => {
                // A quoted cell that never closes swallows the rest of the file: CSV has no
                // way back to a row boundary, so what is left is one quarantined record.
                load.read += 1;
                load.quarantine.push(Quarantined::new(
                    name,
                    Some(csv.position().line()),
                    format!(
                        "record larger than the {} cap (a quoted cell that never closes?); \
                         the rest of the file is passed over",
                        super::byte_size(options.max_record_bytes)
                    ),
                    &join_cells(&record),
                ));
                false
            }
            Err(e) => {
                load.warnings.push(stopped_warning(&e.to_string()));
                false
            }
        };
        if more {
            let line = record.position().map_or(0, |p| p.line());
            if record.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
                continue;
            }
            if skip_all {
                load.read += 1;
                load.skipped += 1;
                continue;
            }
            batch.push((line, record));
        }
        if batch.len() == BATCH_ROWS || (!more && !batch.is_empty()) {
            convert_batch(&batch, &dialect, &ctx, &mut load);
            batch.clear();
        }
        if !more {
            break;
        }
    }
    Ok(load)
}

/// Fails the read once the CSV reader has taken more than the cap past the end of the last
/// whole record: one record is growing without bound.
struct CappedReader<R> {
    inner: R,
    read: u64,
    /// Where the last whole record ended, set by the reading loop.
    record_end: Arc<AtomicU64>,
    cap: u64,
}

/// The error a [`CappedReader`] stops with.
#[derive(Debug)]
struct Oversized;

impl std::fmt::Display for Oversized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("record over the size cap")
    }
}

impl std::error::Error for Oversized {}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read > self.record_end.load(Ordering::Relaxed) + self.cap {
            return Err(io::Error::other(Oversized));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

fn is_oversized(error: &::csv::Error) -> bool {
    match error.kind() {
        ::csv::ErrorKind::Io(e) => e.get_ref().is_some_and(|inner| inner.is::<Oversized>()),
        _ => false,
    }
}

fn convert_batch(
    batch: &[(u64, ByteRecord)],
    dialect: &Dialect,
    ctx: &Context<'_>,
    load: &mut FileLoad,
) {
    let per_task = batch
        .len()
        .div_ceil(rayon::current_num_threads() * 4)
        .max(512);
    let parts: Vec<Part> = batch
        .par_chunks(per_task)
        .map(|slice| {
            let mut part = Part::with_capacity(slice.len());
            for (line, record) in slice {
                part.read += 1;
                let source = SourceRef {
                    file: ctx.name,
                    line: *line,
                };
                let result = match dialect {
                    _ if record.len() != ctx.cells => Err(format!(
                        "ragged row: {} of {} cells",
                        record.len(),
                        ctx.cells
                    )),
                    Dialect::Portal { columns, .. } => {
                        portal_row(record, columns, ctx, &source, &mut part.builder)
                    }
                    Dialect::LogAnalytics { columns } => {
                        log_analytics_row(record, columns, ctx, &source, &mut part.builder)
                    }
                };
                match result {
                    Ok(Verdict::Kept) => {}
                    Ok(Verdict::Skipped) => part.skipped += 1,
                    Err(reason) => part.quarantine.push(Quarantined::new(
                        ctx.name,
                        Some(*line),
                        reason,
                        &join_cells(record),
                    )),
                }
            }
            part
        })
        .collect();
    for part in parts {
        load.absorb(part);
    }
}

/// A cell's text, trimmed; empty cells are no value.
fn cell(record: &ByteRecord, index: Option<usize>) -> Result<Option<&str>, String> {
    let Some(bytes) = index.and_then(|i| record.get(i)) else {
        return Ok(None);
    };
    let text = std::str::from_utf8(bytes).map_err(|_| "cell is not valid UTF-8".to_string())?;
    let text = text.trim();
    Ok((!text.is_empty()).then_some(text))
}

fn portal_row(
    record: &ByteRecord,
    columns: &[Option<usize>; PORTAL_FIELDS],
    ctx: &Context<'_>,
    source: &SourceRef<'_>,
    builder: &mut FrameBuilder,
) -> Result<Verdict, String> {
    let get = |field: Portal| cell(record, columns[field as usize]);
    let text = |field: Portal| get(field).map(|v| v.map(Cow::Borrowed));
    let mut row = Row::default();
    set_time(&mut row, &[get(Portal::Time)?])?;
    row.request_id = text(Portal::RequestId)?;
    row.correlation_id = text(Portal::CorrelationId)?;
    row.user_id = text(Portal::UserId)?;
    row.user_principal_name = text(Portal::Username)?.map(lowercase);
    row.user_display_name = text(Portal::UserDisplayName)?;
    row.user_type = text(Portal::UserType)?;
    row.app_id = text(Portal::ApplicationId)?;
    row.app_display_name = text(Portal::Application)?;
    row.resource_display_name = text(Portal::Resource)?;
    row.service_principal_id = text(Portal::ServicePrincipalId)?;
    row.service_principal_name = text(Portal::ServicePrincipalName)?;
    set_ip(&mut row, text(Portal::IpAddress)?)?;
    if let Some(location) = get(Portal::Location)? {
        let (city, state, country) = split_location(location);
        row.city = city.map(Cow::Borrowed);
        row.state = state.map(Cow::Borrowed);
        row.country = country.map(Cow::Borrowed);
    }
    row.error_code = match get(Portal::ErrorCode)? {
        Some(code) => {
            Some(error_code(Int(parse_int(code).map_err(|e| {
                format!("Sign-in error code {e}: {code:?}")
            })?))?)
        }
        // A success row may leave the code cell empty; success is code 0.
        None => get(Portal::Status)?
            .filter(|s| s.eq_ignore_ascii_case("success"))
            .map(|_| 0),
    };
    row.failure_reason = text(Portal::FailureReason)?;
    row.client_app = text(Portal::ClientApp)?.map(enums::client_app);
    row.device_id = text(Portal::DeviceId)?;
    row.browser = text(Portal::Browser)?;
    row.operating_system = text(Portal::OperatingSystem)?;
    row.user_agent = text(Portal::UserAgent)?;
    row.authentication_requirement = get(Portal::AuthenticationRequirement)?
        .map(|v| Cow::Borrowed(authentication_requirement(v)));
    row.session_id = text(Portal::SessionId)?;
    row.token_issuer_type = text(Portal::TokenIssuerType)?;
    TokenFields {
        unique_token_identifier: text(Portal::UniqueTokenIdentifier)?,
        incoming_token_type: text(Portal::IncomingTokenType)?
            .or(text(Portal::IncomingTokenTypeAgain)?),
        authentication_protocol: text(Portal::AuthenticationProtocol)?,
        original_transfer_method: text(Portal::OriginalTransferMethod)?,
        resource_id: text(Portal::ResourceId)?,
        client_credential_type: text(Portal::ClientCredentialType)?,
    }
    .set(&mut row);
    // The portal writes the last MFA step's method and result.
    let (method, result) = (text(Portal::MfaMethod)?, text(Portal::MfaResult)?);
    if method.is_some() || result.is_some() {
        let last = Step {
            method,
            result_detail: result,
            ..Step::default()
        };
        set_steps(&mut row, summarise_steps(vec![last]));
    }
    row.conditional_access_status =
        get(Portal::ConditionalAccess)?.map(|v| Cow::Borrowed(conditional_access_status(v)));
    row.asn = match get(Portal::Asn)? {
        Some(v) => Some(asn(Int(
            parse_int(v).map_err(|e| format!("ASN {e}: {v:?}"))?
        ))?),
        None => None,
    };
    row.event_type = ctx.file_event_type.map(Cow::Borrowed);
    if row.request_id.is_none() {
        return Err("missing Request ID".into());
    }
    row.derive(ctx.codes);
    row.source_file = Some(Cow::Borrowed(source.file));
    row.source_line = Some(source.line);
    builder.push(&row);
    Ok(Verdict::Kept)
}

/// Splits the portal's `Location` cell "City, State, CC" on its last two commas (city names
/// can hold commas); empty parts are no value.
pub fn split_location(cell: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    let mut parts = cell.rsplitn(3, ',').map(str::trim);
    let country = parts.next().filter(|s| !s.is_empty());
    let state = parts.next().filter(|s| !s.is_empty());
    let city = parts.next().filter(|s| !s.is_empty());
    (city, state, country)
}

/// The portal writes `Multifactor authentication` / `Single-factor authentication`; Graph
/// writes `multiFactorAuthentication` / `singleFactorAuthentication`.
fn authentication_requirement(value: &str) -> &str {
    match fold_words(value).as_str() {
        "multifactorauthentication" => "multiFactorAuthentication",
        "singlefactorauthentication" => "singleFactorAuthentication",
        _ => value,
    }
}

/// The portal writes `Success`, `Failure`, `Not Applied`; Graph writes `success`,
/// `failure`, `notApplied`.
fn conditional_access_status(value: &str) -> &'static str {
    match fold_words(value).as_str() {
        "success" => "success",
        "failure" => "failure",
        "notapplied" => "notApplied",
        _ => "unknownFutureValue",
    }
}

fn log_analytics_row(
    record: &ByteRecord,
    columns: &[Vec<usize>],
    ctx: &Context<'_>,
    source: &SourceRef<'_>,
    builder: &mut FrameBuilder,
) -> Result<Verdict, String> {
    let mut cells: Vec<Option<&str>> = Vec::with_capacity(columns.len());
    for candidates in columns {
        let mut value = None;
        for &i in candidates {
            if let Some(v) = cell(record, Some(i))? {
                value = Some(v);
                break;
            }
        }
        cells.push(value);
    }
    let at = |name: &str| {
        LOG_ANALYTICS_COLUMNS
            .iter()
            .position(|c| *c == name)
            .and_then(|i| cells[i])
    };
    let text = |name: &str| at(name).map(Cow::Borrowed);
    let int = |name: &str| -> Result<Option<Int>, String> {
        at(name)
            .map(|v| {
                parse_int(v)
                    .map(Int)
                    .map_err(|e| format!("{name} {e}: {v:?}"))
            })
            .transpose()
    };
    let row = LogAnalyticsRow {
        time_generated: text("timegenerated"),
        created_date_time: text("createddatetime"),
        id: text("id"),
        user_principal_name: text("userprincipalname"),
        user_id: text("userid"),
        user_display_name: text("userdisplayname"),
        user_type: text("usertype"),
        app_id: text("appid"),
        app_display_name: text("appdisplayname"),
        resource_display_name: text("resourcedisplayname"),
        service_principal_id: text("serviceprincipalid"),
        service_principal_name: text("serviceprincipalname"),
        ip_address: text("ipaddress"),
        location: text("location"),
        location_details: as_dynamic(at("locationdetails")),
        device_detail: as_dynamic(at("devicedetail")),
        status: as_dynamic(at("status")),
        result_type: int("resulttype")?,
        result_description: text("resultdescription"),
        client_app_used: text("clientappused"),
        is_interactive: at("isinteractive")
            .map(|v| {
                parse_bool(v)
                    .map(super::lenient::Bool)
                    .map_err(|e| format!("IsInteractive {e}: {v:?}"))
            })
            .transpose()?,
        autonomous_system_number: int("autonomoussystemnumber")?,
        user_agent: text("useragent"),
        authentication_requirement: text("authenticationrequirement"),
        conditional_access_status: text("conditionalaccessstatus"),
        correlation_id: text("correlationid"),
        session_id: text("sessionid"),
        token_issuer_type: text("tokenissuertype"),
        unique_token_identifier: text("uniquetokenidentifier"),
        incoming_token_type: text("incomingtokentype"),
        authentication_protocol: text("authenticationprotocol"),
        original_transfer_method: text("originaltransfermethod"),
        resource_identity: text("resourceidentity"),
        client_credential_type: text("clientcredentialtype"),
        authentication_details: as_dynamic(at("authenticationdetails")),
        category: text("category"),
        table: text("type"),
    };
    push_log_analytics(row, ctx.codes, source, builder)
}

/// A dynamic column from CSV is always JSON text.
fn as_dynamic<T>(cell: Option<&str>) -> Option<Dynamic<'_, T>> {
    cell.map(|v| Dynamic::Text(Cow::Borrowed(v)))
}

/// A record's cells as one CSV line, for the quarantine.
fn join_cells(record: &ByteRecord) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, cell) in record.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if cell
            .iter()
            .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
        {
            out.push(b'"');
            for &b in cell {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(cell);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_by_trimmed_space_collapsed_name() {
        assert_eq!(normalise_header(b"Application ID "), "application id");
        assert_eq!(
            normalise_header(b"Autonomous system  number"),
            "autonomous system number"
        );
        assert_eq!(normalise_header(b"\xEF\xBB\xBFDate (UTC)"), "date (utc)");
    }

    #[test]
    fn location_splits_on_the_last_two_commas() {
        assert_eq!(
            split_location("Washington, D.C., District of Columbia, US"),
            (
                Some("Washington, D.C."),
                Some("District of Columbia"),
                Some("US")
            )
        );
        assert_eq!(
            split_location("Oslo, Oslo, NO"),
            (Some("Oslo"), Some("Oslo"), Some("NO"))
        );
        assert_eq!(split_location(", , NO"), (None, None, Some("NO")));
        assert_eq!(split_location("NO"), (None, None, Some("NO")));
    }

    #[test]
    fn file_names_tell_interactive_from_non_interactive() {
        let kind = |n: &str| event_type_from_file_name(Path::new(n));
        assert_eq!(
            kind("InteractiveSignIns_2025-03-01_2025-03-02.csv"),
            Some(event_type::INTERACTIVE_USER)
        );
        assert_eq!(
            kind("NonInteractiveSignIns_2025-03-01_2025-03-02.csv"),
            Some(event_type::NON_INTERACTIVE_USER)
        );
        assert_eq!(
            kind("ApplicationSignIns_x.csv"),
            Some(event_type::SERVICE_PRINCIPAL)
        );
        assert_eq!(kind("MSISignIns_x.csv"), Some(event_type::MANAGED_IDENTITY));
        assert_eq!(kind("export.csv"), None);
    }

    #[test]
    fn portal_words_are_normalised_to_graph_values() {
        assert_eq!(
            authentication_requirement("Multifactor authentication"),
            "multiFactorAuthentication"
        );
        assert_eq!(
            authentication_requirement("Single-factor authentication"),
            "singleFactorAuthentication"
        );
        assert_eq!(conditional_access_status("Not Applied"), "notApplied");
        assert_eq!(conditional_access_status("Success"), "success");
    }
}
