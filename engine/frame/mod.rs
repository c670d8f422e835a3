//! The canonical sign-in frame: the one schema every reader produces and every detector reads.
//!
//! One row is one sign-in. The column list below is the single source of truth: the row
//! staging struct ([`Row`]), the column builders ([`FrameBuilder`]), the column name
//! constants ([`col`]) and the documentation table ([`COLUMNS`]) are all generated from it,
//! so they cannot drift apart. Columns hold nulls where the export had no value; readers
//! never invent values.

pub mod address;
pub mod intern;
pub mod ip;
mod rows;
pub mod shard;
mod text;
pub mod time;
mod users;

use std::borrow::Cow;

use polars::prelude::*;

pub use intern::{first_seen, first_seen_sized, rank_together};
pub use rows::{floats_at, texts_at};
pub use text::TextBuilder;
pub use users::UserKeys;

/// Who the sign-in frame is sorted by when it is written (`idrisk convert`): time, then
/// request id, which is unique after deduplication, so the order is total.
pub const SORT_KEY: [&str; 2] = ["time", "request_id"];

/// One documented column of the canonical frame.
#[derive(Debug, Clone, Copy)]
pub struct ColumnDoc {
    pub name: &'static str,
    pub dtype: &'static str,
    pub doc: &'static str,
}

/// Column kinds: `Time` (µs, UTC, required), `Str` (text whose values recur: stored once per
/// buffer), `Id` (text unique per row), and the numeric and boolean kinds.
macro_rules! canonical_frame {
    ($( $(#[doc = $doc:literal])+ $name:ident : $kind:ident ),+ $(,)?) => {
        /// Column names of the canonical frame, as constants named like the columns.
        #[allow(non_upper_case_globals)]
        pub mod col {
            $( pub const $name: &str = stringify!($name); )+
        }

        /// Every column of the canonical frame, in order, with its type and meaning.
        pub const COLUMNS: &[ColumnDoc] = &[
            $( ColumnDoc {
                name: stringify!($name),
                dtype: canonical_frame!(@dtype_name $kind),
                doc: concat!($($doc),+),
            } ),+
        ];

        /// One sign-in being staged by a reader before it is appended to a [`FrameBuilder`].
        /// Strings borrow from the reader's buffer where they can.
        #[derive(Debug, Default, Clone)]
        pub struct Row<'a> {
            $( $(#[doc = $doc])+ pub $name: canonical_frame!(@row_type $kind), )+
        }

        /// Column builders for the canonical frame; readers append [`Row`]s, then `finish`.
        pub struct FrameBuilder {
            $( $name: canonical_frame!(@builder_type $kind), )+
            len: usize,
        }

        impl FrameBuilder {
            pub fn with_capacity(capacity: usize) -> Self {
                FrameBuilder {
                    $( $name: canonical_frame!(@builder_new $kind, stringify!($name), capacity), )+
                    len: 0,
                }
            }

            /// A builder for a frame that is encoded and dropped at once (a Parquet row
            /// group): recurring text is not looked up to be stored once, which saves a hash
            /// per cell where memory does not matter.
            pub fn transient(capacity: usize) -> Self {
                FrameBuilder {
                    $( $name: canonical_frame!(@builder_transient $kind, stringify!($name), capacity), )+
                    len: 0,
                }
            }

            pub fn push(&mut self, row: &Row<'_>) {
                $( canonical_frame!(@push $kind, self.$name, row.$name); )+
                self.len += 1;
            }

            /// Pushes rows a column at a time: one column's memory is written in one run,
            /// where pushing row by row writes to every column in turn, which the caches
            /// and prefetchers follow poorly with three dozen columns. Same frame as
            /// pushing each row.
            pub fn push_block(&mut self, rows: &[Row<'_>]) {
                $( for row in rows { canonical_frame!(@push $kind, self.$name, row.$name); } )+
                self.len += rows.len();
            }

            pub fn len(&self) -> usize {
                self.len
            }

            pub fn is_empty(&self) -> bool {
                self.len == 0
            }

            pub fn finish(self) -> DataFrame {
                let columns = vec![
                    $( canonical_frame!(@finish $kind, self.$name, stringify!($name)), )+
                ];
                DataFrame::new(self.len, columns).expect("builders of one frame have one length")
            }
        }

        /// The canonical schema as a Polars schema (for validating Parquet inputs).
        pub fn schema() -> Schema {
            Schema::from_iter([
                $( Field::new(stringify!($name).into(), canonical_frame!(@dtype $kind)), )+
            ])
        }
    };

    (@dtype_name Time) => { "datetime[µs, UTC]" };
    (@dtype_name Str) => { "string" };
    (@dtype_name Id) => { "string" };
    (@dtype_name I32) => { "i32" };
    (@dtype_name U32) => { "u32" };
    (@dtype_name U64) => { "u64" };
    (@dtype_name F64) => { "f64" };
    (@dtype_name Bool) => { "bool" };

    (@dtype Time) => { DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)) };
    (@dtype Str) => { DataType::String };
    (@dtype Id) => { DataType::String };
    (@dtype I32) => { DataType::Int32 };
    (@dtype U32) => { DataType::UInt32 };
    (@dtype U64) => { DataType::UInt64 };
    (@dtype F64) => { DataType::Float64 };
    (@dtype Bool) => { DataType::Boolean };

    (@row_type Time) => { i64 };
    (@row_type Str) => { Option<Cow<'a, str>> };
    (@row_type Id) => { Option<Cow<'a, str>> };
    (@row_type I32) => { Option<i32> };
    (@row_type U32) => { Option<u32> };
    (@row_type U64) => { Option<u64> };
    (@row_type F64) => { Option<f64> };
    (@row_type Bool) => { Option<bool> };

    (@builder_type Time) => { Vec<i64> };
    (@builder_type Str) => { TextBuilder };
    (@builder_type Id) => { TextBuilder };
    (@builder_type I32) => { PrimitiveChunkedBuilder<Int32Type> };
    (@builder_type U32) => { PrimitiveChunkedBuilder<UInt32Type> };
    (@builder_type U64) => { PrimitiveChunkedBuilder<UInt64Type> };
    (@builder_type F64) => { PrimitiveChunkedBuilder<Float64Type> };
    (@builder_type Bool) => { BooleanChunkedBuilder };

    (@builder_new Time, $n:expr, $cap:expr) => { Vec::with_capacity($cap) };
    (@builder_new Bool, $n:expr, $cap:expr) => { BooleanChunkedBuilder::new($n.into(), $cap) };
    (@builder_new Str, $n:expr, $cap:expr) => { TextBuilder::new($n, $cap, true) };
    (@builder_new Id, $n:expr, $cap:expr) => { TextBuilder::new($n, $cap, false) };
    (@builder_new $other:ident, $n:expr, $cap:expr) => { PrimitiveChunkedBuilder::new($n.into(), $cap) };
    (@builder_transient Str, $n:expr, $cap:expr) => { TextBuilder::new($n, $cap, false) };
    (@builder_transient $other:ident, $n:expr, $cap:expr) => { canonical_frame!(@builder_new $other, $n, $cap) };

    (@push Time, $b:expr, $v:expr) => { $b.push($v) };
    (@push Str, $b:expr, $v:expr) => { $b.push($v.as_deref()) };
    (@push Id, $b:expr, $v:expr) => { $b.push($v.as_deref()) };
    (@push $other:ident, $b:expr, $v:expr) => { $b.append_option($v) };

    (@finish Time, $b:expr, $n:expr) => {
        Int64Chunked::from_vec($n.into(), $b)
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
            .into_column()
    };
    (@finish $other:ident, $b:expr, $n:expr) => { $b.finish().into_column() };
}

canonical_frame! {
    /// When the sign-in happened, UTC, microseconds (`createdDateTime`; the diagnostic
    /// envelope's `time` only when the record has none).
    time: Time,
    /// The sign-in's `id` (request id); unique after deduplication.
    request_id: Id,
    /// `correlationId`: groups the requests of one sign-in flow.
    correlation_id: Id,
    /// The user's object id (`userId`).
    user_id: Str,
    /// `userPrincipalName`, lowercased.
    user_principal_name: Str,
    /// `userDisplayName`.
    user_display_name: Str,
    /// `userType` as logged (`Member`, `Guest`).
    user_type: Str,
    /// The application's client id (`appId`).
    app_id: Str,
    /// `appDisplayName`.
    app_display_name: Str,
    /// `resourceDisplayName`: the resource the token was for.
    resource_display_name: Str,
    /// `servicePrincipalId` for service-principal and managed-identity sign-ins.
    service_principal_id: Str,
    /// `servicePrincipalName` for service-principal and managed-identity sign-ins.
    service_principal_name: Str,
    /// `ipAddress` in canonical text form (IPv4-mapped IPv6 written as IPv4, IPv6 compressed).
    ip_address: Str,
    /// The IP's network as a number: IPv4 /24 as `2^32 + (addr >> 8)`, IPv6 /48 as its top 48
    /// bits shifted left by 16; equal values mean the same /24 or /48.
    ip_network: U64,
    /// `status.errorCode`: 0 is success, anything else an AADSTS code.
    error_code: I32,
    /// `success`, `credential_valid`, `credential_failure` or `other_failure`, from the error
    /// code and the rules file's code lists.
    outcome: Str,
    /// `status.failureReason`.
    failure_reason: Str,
    /// `isInteractive`; derived from the event type when the export has no flag.
    is_interactive: Bool,
    /// `interactiveUser`, `nonInteractiveUser`, `servicePrincipal` or `managedIdentity`.
    event_type: Str,
    /// `location.countryOrRegion`, two letters.
    country: Str,
    /// `location.state`.
    state: Str,
    /// `location.city`.
    city: Str,
    /// `location.geoCoordinates.latitude`.
    latitude: F64,
    /// `location.geoCoordinates.longitude`.
    longitude: F64,
    /// `autonomousSystemNumber`.
    asn: U32,
    /// `deviceDetail.operatingSystem` as logged (not normalised).
    operating_system: Str,
    /// `deviceDetail.browser` as logged.
    browser: Str,
    /// `userAgent`.
    user_agent: Str,
    /// `deviceDetail.deviceId`.
    device_id: Id,
    /// `clientAppUsed`, in Microsoft's spelling whatever the export wrote (`MAPI Over HTTP`,
    /// `Authenticated SMTP`, `IMAP4`, …).
    client_app: Str,
    /// `authenticationRequirement`.
    authentication_requirement: Str,
    /// `conditionalAccessStatus`: `success`, `failure` or `notApplied`.
    conditional_access_status: Str,
    /// `tokenIssuerType`.
    token_issuer_type: Str,
    /// `sessionId`: minted at interactive authentication, shared by every token issued from it.
    session_id: Id,
    /// `uniqueTokenIdentifier`: the token this sign-in issued or presented.
    unique_token_identifier: Id,
    /// `incomingTokenType`: what the client presented (`none`, `primaryRefreshToken`,
    /// `refreshToken`, `saml11`, `saml20`, `remoteDesktopToken`).
    incoming_token_type: Str,
    /// `authenticationProtocol`: `none`, `oAuth2`, `ropc`, `wsFederation`, `saml20`,
    /// `deviceCode`, `authenticationTransfer`, `nativeAuth`.
    authentication_protocol: Str,
    /// `originalTransferMethod`: `none`, `deviceCodeFlow`, `authenticationTransfer`.
    original_transfer_method: Str,
    /// `resourceId`: the application id of the resource the token was for.
    resource_id: Str,
    /// `clientCredentialType` (service principals): `clientSecret`, `certificate`,
    /// `clientAssertion`, `federatedIdentityCredential`, `managedIdentity`, `none`.
    client_credential_type: Str,
    /// `authenticationDetails` steps, each counted once however often it is logged, that the
    /// user declined or left unanswered (push notifications).
    mfa_denials: U32,
    /// A step of `authenticationDetails` says the user reported fraud.
    mfa_fraud_reported: Bool,
    /// The last `authenticationDetails` step's `authenticationMethod` (the portal CSV's
    /// "Multifactor authentication auth method").
    auth_method: Str,
    /// The last step's `succeeded`.
    auth_succeeded: Bool,
    /// The last step's `authenticationStepResultDetail` (the portal CSV's "Multifactor
    /// authentication result").
    auth_result_detail: Str,
    /// The file the row was read from, as given or found under a given directory.
    source_file: Str,
    /// The 1-based line of the file (decompressed) where the record starts.
    source_line: U64,
}

/// Columns added since the first canonical schema: a canonical Parquet file written before
/// them lacks them and reads them as null.
pub const LATER_COLUMNS: &[&str] = &[
    col::unique_token_identifier,
    col::incoming_token_type,
    col::authentication_protocol,
    col::original_transfer_method,
    col::resource_id,
    col::client_credential_type,
    col::mfa_denials,
    col::mfa_fraud_reported,
    col::auth_method,
    col::auth_succeeded,
    col::auth_result_detail,
];

/// Outcome classes of a sign-in, from its error code.
pub mod outcome {
    pub const SUCCESS: &str = "success";
    pub const CREDENTIAL_VALID: &str = "credential_valid";
    pub const CREDENTIAL_FAILURE: &str = "credential_failure";
    pub const OTHER_FAILURE: &str = "other_failure";
}

/// Event types, as Graph's `signInEventTypes` spells them.
pub mod event_type {
    pub const INTERACTIVE_USER: &str = "interactiveUser";
    pub const NON_INTERACTIVE_USER: &str = "nonInteractiveUser";
    pub const SERVICE_PRINCIPAL: &str = "servicePrincipal";
    pub const MANAGED_IDENTITY: &str = "managedIdentity";

    /// The canonical spelling of an event type written in any case, or `None`.
    pub fn canonical(value: &str) -> Option<&'static str> {
        [
            INTERACTIVE_USER,
            NON_INTERACTIVE_USER,
            SERVICE_PRINCIPAL,
            MANAGED_IDENTITY,
        ]
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(value))
    }
}

/// The error-code lists that sort a sign-in into an outcome class (`[outcomes]` in the rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeCodes {
    /// Bad or unknown credential: these count as password failures.
    pub credential_failure: Vec<i32>,
    /// The password was right and the flow was interrupted or blocked later.
    pub credential_valid: Vec<i32>,
}

impl OutcomeCodes {
    /// The classes of codes that reject the credential and of codes that accept it.
    pub fn of(rejected: &[i32], accepted: &[i32]) -> Self {
        OutcomeCodes {
            credential_failure: rejected.to_vec(),
            credential_valid: accepted.to_vec(),
        }
    }

    /// The outcome class of an error code.
    pub fn classify(&self, code: i32) -> &'static str {
        if code == 0 {
            outcome::SUCCESS
        } else if self.credential_valid.contains(&code) {
            outcome::CREDENTIAL_VALID
        } else if self.credential_failure.contains(&code) {
            outcome::CREDENTIAL_FAILURE
        } else {
            outcome::OTHER_FAILURE
        }
    }
}

impl<'a> Row<'a> {
    /// Fills the fields derived from others: outcome from the error code, the interactive flag
    /// from the event type when the export had none, and the reverse.
    pub fn derive(&mut self, codes: &OutcomeCodes) {
        if let Some(code) = self.error_code {
            self.outcome = Some(Cow::Borrowed(codes.classify(code)));
        }
        match (&self.is_interactive, &self.event_type) {
            (None, Some(kind)) => self.is_interactive = Some(kind == event_type::INTERACTIVE_USER),
            (Some(interactive), None) => {
                self.event_type = Some(Cow::Borrowed(if *interactive {
                    event_type::INTERACTIVE_USER
                } else {
                    event_type::NON_INTERACTIVE_USER
                }))
            }
            _ => {}
        }
    }
}

/// The earliest time a sign-in may have: 0001-01-01T00:00:00Z, in microseconds. Readers
/// reject times outside [`MIN_TIME`, `MAX_TIME`] (text times cannot leave it; canonical
/// Parquet written by another tool can), so the detectors' time arithmetic — a time plus a
/// window of at most ten years — never overflows.
pub const MIN_TIME: i64 = -62_135_596_800_000_000;

/// The latest time a sign-in may have: 9999-12-31T23:59:59.999999Z, in microseconds.
pub const MAX_TIME: i64 = 253_402_300_799_999_999;

/// The `time` column as microseconds (it is never null in a canonical frame).
pub fn time_values(frame: &DataFrame) -> PolarsResult<Vec<i64>> {
    use rayon::prelude::*;
    let chunks: Vec<_> = frame
        .column(col::time)?
        .datetime()?
        .physical()
        .downcast_iter()
        .collect();
    // Each chunk copied on its own thread into its stretch of the result.
    let mut times = vec![0i64; chunks.iter().map(|c| c.len()).sum()];
    chunks
        .par_iter()
        .zip(stretches(&mut times, chunks.iter().map(|c| c.len())))
        .for_each(|(chunk, stretch)| {
            for (out, t) in stretch.iter_mut().zip(chunk.iter()) {
                *out = t.copied().unwrap_or(i64::MIN);
            }
        });
    Ok(times)
}

/// `slice` cut into consecutive stretches of `lengths` (the last ones shorter, or empty, where
/// the slice runs out), so that parallel tasks can each fill their own.
pub fn stretches<T>(slice: &mut [T], lengths: impl Iterator<Item = usize>) -> Vec<&mut [T]> {
    let mut out = Vec::new();
    let mut rest = slice;
    for length in lengths {
        let (stretch, after) = rest.split_at_mut(length.min(rest.len()));
        out.push(stretch);
        rest = after;
    }
    out
}

/// A text column as codes: its distinct values, sorted (addresses in their own order, see
/// [`address`]), and each frame row's index into them. What a load hands over for columns
/// of few distinct values that it left out of the frame (read from Parquet dictionary pages,
/// no per-row text built).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextCodes {
    pub distinct: Vec<String>,
    /// One per frame row; [`TextCodes::NULL`] where the column is null.
    pub index: Vec<u32>,
}

impl TextCodes {
    pub const NULL: u32 = u32::MAX;

    /// The value at a frame row.
    pub fn get(&self, row: usize) -> Option<&str> {
        match self.index.get(row) {
            Some(&k) if k != Self::NULL => self.distinct.get(k as usize).map(String::as_str),
            _ => None,
        }
    }
}

/// Text of chosen rows of a column, wherever the load keeps it (the frame, or the file of a
/// projected load): how a detector reads a column it needs for a few rows only.
pub trait FetchRows: Send + Sync {
    /// `column`'s values at frame `rows` (ascending, distinct), in that order.
    fn fetch(
        &self,
        frame: &DataFrame,
        column: &str,
        rows: &[usize],
    ) -> Result<Vec<Option<String>>, String>;
}

/// An empty canonical frame (no rows, every column).
pub fn empty() -> DataFrame {
    FrameBuilder::with_capacity(0).finish()
}

/// A canonical frame of `height` rows from some of its columns (by name); the others are
/// nulls, which take no memory until read, where a [`FrameBuilder`] stores every cell of
/// every column.
pub fn with_nulls(height: usize, columns: Vec<Column>) -> PolarsResult<DataFrame> {
    let mut given: std::collections::HashMap<PlSmallStr, Column> =
        columns.into_iter().map(|c| (c.name().clone(), c)).collect();
    let all: Vec<Column> = schema()
        .iter()
        .map(|(name, dtype)| {
            given
                .remove(name)
                .unwrap_or_else(|| Column::full_null(name.clone(), height, dtype))
        })
        .collect();
    if let Some(name) = given.keys().next() {
        polars_bail!(ColumnNotFound: "'{name}' is no canonical column");
    }
    DataFrame::new(height, all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_follow_the_lengths_until_the_slice_runs_out() {
        let mut values = [0, 1, 2, 3, 4, 5];
        let cut: Vec<Vec<i32>> = stretches(&mut values, [2, 0, 3, 4, 1].into_iter())
            .into_iter()
            .map(|s| s.to_vec())
            .collect();
        assert_eq!(cut, [vec![0, 1], vec![], vec![2, 3, 4], vec![5], vec![]]);
    }

    #[test]
    fn builder_produces_the_documented_schema() {
        let mut builder = FrameBuilder::with_capacity(1);
        builder.push(&Row {
            time: 1_700_000_000_000_000,
            request_id: Some("r1".into()),
            error_code: Some(50126),
            ..Row::default()
        });
        let frame = builder.finish();
        assert_eq!(frame.height(), 1);
        assert_eq!(frame.schema().as_ref(), &schema());
        let names: Vec<&str> = frame
            .get_column_names()
            .iter()
            .map(|n| n.as_str())
            .collect();
        let documented: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(names, documented);
    }

    #[test]
    fn outcome_classes_follow_the_code_lists() {
        let codes = OutcomeCodes {
            credential_failure: vec![50126],
            credential_valid: vec![50074],
        };
        assert_eq!(codes.classify(0), outcome::SUCCESS);
        assert_eq!(codes.classify(50126), outcome::CREDENTIAL_FAILURE);
        assert_eq!(codes.classify(50074), outcome::CREDENTIAL_VALID);
        assert_eq!(codes.classify(70000), outcome::OTHER_FAILURE);
    }

    #[test]
    fn derive_fills_interactive_flag_and_event_type_from_each_other() {
        let codes = OutcomeCodes {
            credential_failure: vec![],
            credential_valid: vec![],
        };
        let mut row = Row {
            event_type: Some(event_type::NON_INTERACTIVE_USER.into()),
            ..Row::default()
        };
        row.derive(&codes);
        assert_eq!(row.is_interactive, Some(false));
        let mut row = Row {
            is_interactive: Some(true),
            error_code: Some(0),
            ..Row::default()
        };
        row.derive(&codes);
        assert_eq!(
            row.event_type.as_deref(),
            Some(event_type::INTERACTIVE_USER)
        );
        assert_eq!(row.outcome.as_deref(), Some(outcome::SUCCESS));
    }
}
