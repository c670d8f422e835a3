//! The JSON record shapes (Graph signIn, diagnostic envelope, Log Analytics row) and their
//! mapping onto the canonical [`Row`].
//!
//! Each struct names only the fields the engine keeps; serde skips the rest without
//! allocating, and strings borrow from the input buffer unless they hold escapes.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::enums::{self, summarise_steps, Step, Steps};
use super::lenient::{text, Bool, Borrowed, Dynamic, Float, Int};
use super::scan;
use super::values::{lowercase, non_empty, parse_int, parse_ip, parse_time};
use crate::frame::{event_type, FrameBuilder, OutcomeCodes, Row};

type Text<'a> = Option<Cow<'a, str>>;

/// `location` of a signIn, `LocationDetails` of a Log Analytics row.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location<'a> {
    #[serde(borrow, alias = "City", default, deserialize_with = "text")]
    pub city: Text<'a>,
    #[serde(borrow, alias = "State", default, deserialize_with = "text")]
    pub state: Text<'a>,
    #[serde(borrow, alias = "CountryOrRegion", default, deserialize_with = "text")]
    pub country_or_region: Text<'a>,
    #[serde(alias = "GeoCoordinates")]
    pub geo_coordinates: Option<GeoCoordinates>,
}

#[derive(Debug, Default, Deserialize)]
pub struct GeoCoordinates {
    #[serde(alias = "Latitude")]
    pub latitude: Option<Float>,
    #[serde(alias = "Longitude")]
    pub longitude: Option<Float>,
}

/// `status` of a signIn, `Status` of a Log Analytics row.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status<'a> {
    #[serde(alias = "ErrorCode")]
    pub error_code: Option<Int>,
    #[serde(borrow, alias = "FailureReason", default, deserialize_with = "text")]
    pub failure_reason: Text<'a>,
}

/// `deviceDetail` of a signIn, `DeviceDetail` of a Log Analytics row.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceDetail<'a> {
    #[serde(borrow, alias = "DeviceId", default, deserialize_with = "text")]
    pub device_id: Text<'a>,
    #[serde(borrow, alias = "OperatingSystem", default, deserialize_with = "text")]
    pub operating_system: Text<'a>,
    #[serde(borrow, alias = "Browser", default, deserialize_with = "text")]
    pub browser: Text<'a>,
}

/// One step of `authenticationDetails` (beta; Log Analytics' `AuthenticationDetails`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationStep<'a> {
    #[serde(
        borrow,
        alias = "AuthenticationStepDateTime",
        default,
        deserialize_with = "text"
    )]
    pub authentication_step_date_time: Text<'a>,
    #[serde(
        borrow,
        alias = "AuthenticationMethod",
        default,
        deserialize_with = "text"
    )]
    pub authentication_method: Text<'a>,
    #[serde(alias = "Succeeded")]
    pub succeeded: Option<Bool>,
    #[serde(
        borrow,
        alias = "AuthenticationStepResultDetail",
        default,
        deserialize_with = "text"
    )]
    pub authentication_step_result_detail: Text<'a>,
}

impl<'a> AuthenticationStep<'a> {
    fn into_step(self) -> Step<'a> {
        Step {
            at: non_empty(self.authentication_step_date_time),
            method: non_empty(self.authentication_method),
            succeeded: self.succeeded.map(|b| b.0),
            result_detail: non_empty(self.authentication_step_result_detail),
        }
    }

    fn step(&self) -> Step<'_> {
        Step {
            at: non_empty(borrowed(&self.authentication_step_date_time)),
            method: non_empty(borrowed(&self.authentication_method)),
            succeeded: self.succeeded.map(|b| b.0),
            result_detail: non_empty(borrowed(&self.authentication_step_result_detail)),
        }
    }
}

/// The token, protocol and credential fields of a sign-in as a record wrote them; set in
/// Graph's spelling.
#[derive(Debug, Default)]
pub struct TokenFields<'a> {
    pub unique_token_identifier: Text<'a>,
    pub incoming_token_type: Text<'a>,
    pub authentication_protocol: Text<'a>,
    pub original_transfer_method: Text<'a>,
    pub resource_id: Text<'a>,
    pub client_credential_type: Text<'a>,
}

impl<'a> TokenFields<'a> {
    pub fn set(self, row: &mut Row<'a>) {
        row.unique_token_identifier = non_empty(self.unique_token_identifier);
        row.incoming_token_type =
            non_empty(self.incoming_token_type).map(enums::incoming_token_type);
        row.authentication_protocol =
            non_empty(self.authentication_protocol).map(enums::authentication_protocol);
        row.original_transfer_method =
            non_empty(self.original_transfer_method).map(enums::original_transfer_method);
        row.resource_id = non_empty(self.resource_id);
        row.client_credential_type =
            non_empty(self.client_credential_type).map(enums::client_credential_type);
    }
}

/// Sets the MFA summary of a sign-in's authentication steps.
pub fn set_steps<'a>(row: &mut Row<'a>, steps: Steps<'a>) {
    row.mfa_denials = Some(steps.denials);
    row.mfa_fraud_reported = Some(steps.fraud_reported);
    if let Some(last) = steps.last {
        row.auth_method = last.method;
        row.auth_succeeded = last.succeeded;
        row.auth_result_detail = last.result_detail;
    }
}

/// A Graph `signIn` object (v1.0 or beta): Graph pages, portal JSON, diagnostic `properties`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignIn<'a> {
    #[serde(borrow, alias = "Id", default, deserialize_with = "text")]
    pub id: Text<'a>,
    #[serde(borrow, alias = "CreatedDateTime", default, deserialize_with = "text")]
    pub created_date_time: Text<'a>,
    #[serde(borrow, alias = "UserDisplayName", default, deserialize_with = "text")]
    pub user_display_name: Text<'a>,
    #[serde(
        borrow,
        alias = "UserPrincipalName",
        default,
        deserialize_with = "text"
    )]
    pub user_principal_name: Text<'a>,
    #[serde(borrow, alias = "UserId", default, deserialize_with = "text")]
    pub user_id: Text<'a>,
    #[serde(borrow, alias = "UserType", default, deserialize_with = "text")]
    pub user_type: Text<'a>,
    #[serde(borrow, alias = "AppId", default, deserialize_with = "text")]
    pub app_id: Text<'a>,
    #[serde(borrow, alias = "AppDisplayName", default, deserialize_with = "text")]
    pub app_display_name: Text<'a>,
    #[serde(
        borrow,
        alias = "ResourceDisplayName",
        default,
        deserialize_with = "text"
    )]
    pub resource_display_name: Text<'a>,
    #[serde(
        borrow,
        alias = "ServicePrincipalId",
        default,
        deserialize_with = "text"
    )]
    pub service_principal_id: Text<'a>,
    #[serde(
        borrow,
        alias = "ServicePrincipalName",
        default,
        deserialize_with = "text"
    )]
    pub service_principal_name: Text<'a>,
    #[serde(
        borrow,
        alias = "IPAddress",
        alias = "IpAddress",
        default,
        deserialize_with = "text"
    )]
    pub ip_address: Text<'a>,
    #[serde(borrow, alias = "ClientAppUsed", default, deserialize_with = "text")]
    pub client_app_used: Text<'a>,
    #[serde(borrow, alias = "CorrelationId", default, deserialize_with = "text")]
    pub correlation_id: Text<'a>,
    #[serde(
        borrow,
        alias = "ConditionalAccessStatus",
        default,
        deserialize_with = "text"
    )]
    pub conditional_access_status: Text<'a>,
    #[serde(alias = "IsInteractive")]
    pub is_interactive: Option<Bool>,
    #[serde(borrow, alias = "UserAgent", default, deserialize_with = "text")]
    pub user_agent: Text<'a>,
    #[serde(
        borrow,
        alias = "AuthenticationRequirement",
        default,
        deserialize_with = "text"
    )]
    pub authentication_requirement: Text<'a>,
    #[serde(borrow, alias = "SessionId", default, deserialize_with = "text")]
    pub session_id: Text<'a>,
    #[serde(borrow, alias = "TokenIssuerType", default, deserialize_with = "text")]
    pub token_issuer_type: Text<'a>,
    #[serde(
        borrow,
        alias = "UniqueTokenIdentifier",
        default,
        deserialize_with = "text"
    )]
    pub unique_token_identifier: Text<'a>,
    #[serde(
        borrow,
        alias = "IncomingTokenType",
        default,
        deserialize_with = "text"
    )]
    pub incoming_token_type: Text<'a>,
    #[serde(
        borrow,
        alias = "AuthenticationProtocol",
        default,
        deserialize_with = "text"
    )]
    pub authentication_protocol: Text<'a>,
    #[serde(
        borrow,
        alias = "OriginalTransferMethod",
        default,
        deserialize_with = "text"
    )]
    pub original_transfer_method: Text<'a>,
    #[serde(borrow, alias = "ResourceId", default, deserialize_with = "text")]
    pub resource_id: Text<'a>,
    #[serde(
        borrow,
        alias = "ClientCredentialType",
        default,
        deserialize_with = "text"
    )]
    pub client_credential_type: Text<'a>,
    #[serde(borrow, alias = "AuthenticationDetails")]
    pub authentication_details: Option<Vec<AuthenticationStep<'a>>>,
    #[serde(alias = "AutonomousSystemNumber")]
    pub autonomous_system_number: Option<Int>,
    #[serde(borrow, alias = "SignInEventTypes")]
    pub sign_in_event_types: Option<Vec<Borrowed<'a>>>,
    #[serde(borrow, alias = "Status")]
    pub status: Option<Status<'a>>,
    #[serde(borrow, alias = "Location")]
    pub location: Option<Location<'a>>,
    #[serde(borrow, alias = "DeviceDetail")]
    pub device_detail: Option<DeviceDetail<'a>>,
    /// The Microsoft Graph PowerShell SDK puts the fields its model lacks here, under their
    /// Graph (camelCase) names; they fill what the object itself leaves empty.
    #[serde(borrow, alias = "AdditionalProperties")]
    pub additional_properties: Option<Box<SignIn<'a>>>,
}

impl<'a> SignIn<'a> {
    /// Fills the fields this object lacks from `other`.
    fn fill_from(&mut self, other: SignIn<'a>) {
        macro_rules! fill {
            ($($field:ident),*) => { $( if self.$field.is_none() { self.$field = other.$field; } )* };
        }
        fill!(
            id,
            created_date_time,
            user_display_name,
            user_principal_name,
            user_id,
            user_type,
            app_id,
            app_display_name,
            resource_display_name,
            service_principal_id,
            service_principal_name,
            ip_address,
            client_app_used,
            correlation_id,
            conditional_access_status,
            is_interactive,
            user_agent,
            authentication_requirement,
            session_id,
            token_issuer_type,
            unique_token_identifier,
            incoming_token_type,
            authentication_protocol,
            original_transfer_method,
            resource_id,
            client_credential_type,
            authentication_details,
            autonomous_system_number,
            sign_in_event_types,
            status,
            location,
            device_detail
        );
    }
}

/// A diagnostic-settings record: the envelope around a signIn in `properties`.
///
/// Deserialised by hand so that a record whose `category` is not a sign-in (audit logs, risk
/// events) skips its `properties` unparsed: their fields have other types, and parsing them
/// as a signIn would quarantine records that are merely out of scope.
#[derive(Debug, Default)]
pub struct DiagnosticRecord<'a> {
    pub time: Text<'a>,
    pub category: Text<'a>,
    /// `resultType`: the error code as text (`"0"` is success); other categories write words.
    pub result_type: Text<'a>,
    pub result_description: Text<'a>,
    pub caller_ip_address: Text<'a>,
    pub correlation_id: Text<'a>,
    /// Two-letter country of the envelope (the signIn's own `location` is an object).
    pub location: Text<'a>,
    pub properties: Option<SignIn<'a>>,
    /// True when `properties` was skipped because the category is not a sign-in.
    pub out_of_scope: bool,
}

impl<'a> DiagnosticRecord<'a> {
    /// Sets the category; one that is not a sign-in drops the `properties` read so far, and
    /// later ones are skipped unread.
    pub fn set_category(&mut self, category: Text<'a>) {
        self.category = category;
        self.out_of_scope = self
            .category
            .as_deref()
            .is_some_and(|c| category_event_type(c).is_none());
        if self.out_of_scope {
            self.properties = None;
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for DiagnosticRecord<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EnvelopeVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for EnvelopeVisitor<'a> {
            type Value = DiagnosticRecord<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a diagnostic record object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut r = DiagnosticRecord::default();
                // Keys and texts borrowed from the record (see `lenient::Borrowed`).
                let text = |map: &mut M| -> Result<Text<'a>, M::Error> {
                    Ok(map.next_value::<Option<Borrowed<'a>>>()?.map(|t| t.0))
                };
                while let Some(Borrowed(key)) = map.next_key::<Borrowed<'de>>()? {
                    match key.as_ref() {
                        "time" => r.time = text(&mut map)?,
                        "category" => r.set_category(text(&mut map)?),
                        "resultType" => {
                            r.result_type = map.next_value::<Option<TextOrNumber>>()?.map(|t| t.0)
                        }
                        "resultDescription" => {
                            r.result_description =
                                map.next_value::<Option<TextOrNumber>>()?.map(|t| t.0)
                        }
                        "callerIpAddress" => r.caller_ip_address = text(&mut map)?,
                        "correlationId" => r.correlation_id = text(&mut map)?,
                        "location" => r.location = text(&mut map)?,
                        "properties" if !r.out_of_scope => r.properties = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(r)
            }
        }
        deserializer.deserialize_map(EnvelopeVisitor(std::marker::PhantomData))
    }
}

/// A scalar kept as text whether it was written as a string or a number.
struct TextOrNumber<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for TextOrNumber<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = TextOrNumber<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("text or a number")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(TextOrNumber(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TextOrNumber(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(TextOrNumber(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(TextOrNumber(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A Log Analytics `SigninLogs` / `AADNonInteractiveUserSignInLogs` row (PascalCase).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogAnalyticsRow<'a> {
    #[serde(borrow, default, deserialize_with = "text")]
    pub time_generated: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub created_date_time: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub user_principal_name: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub user_id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub user_display_name: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub user_type: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub app_id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub app_display_name: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub resource_display_name: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub service_principal_id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub service_principal_name: Text<'a>,
    #[serde(borrow, rename = "IPAddress", default, deserialize_with = "text")]
    pub ip_address: Text<'a>,
    /// Two-letter country.
    #[serde(borrow, default, deserialize_with = "text")]
    pub location: Text<'a>,
    #[serde(borrow)]
    pub location_details: Option<Dynamic<'a, Location<'a>>>,
    #[serde(borrow)]
    pub device_detail: Option<Dynamic<'a, DeviceDetail<'a>>>,
    #[serde(borrow)]
    pub status: Option<Dynamic<'a, Status<'a>>>,
    pub result_type: Option<Int>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub result_description: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub client_app_used: Text<'a>,
    pub is_interactive: Option<Bool>,
    pub autonomous_system_number: Option<Int>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub user_agent: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub authentication_requirement: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub conditional_access_status: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub correlation_id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub session_id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub token_issuer_type: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub unique_token_identifier: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub incoming_token_type: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub authentication_protocol: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub original_transfer_method: Text<'a>,
    /// The resource's application id (Log Analytics' `ResourceId` is the tenant's Azure
    /// resource path, not the resource the token was for).
    #[serde(borrow, default, deserialize_with = "text")]
    pub resource_identity: Text<'a>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub client_credential_type: Text<'a>,
    #[serde(borrow)]
    pub authentication_details: Option<Dynamic<'a, Vec<AuthenticationStep<'a>>>>,
    #[serde(borrow, default, deserialize_with = "text")]
    pub category: Text<'a>,
    /// The table name (`SigninLogs`, `AADNonInteractiveUserSignInLogs`, …).
    #[serde(borrow, rename = "Type", default, deserialize_with = "text")]
    pub table: Text<'a>,
}

/// Just enough of a record to tell which shape it is.
#[derive(Debug, Deserialize)]
pub struct Probe {
    properties: Option<IgnoredAny>,
    category: Option<IgnoredAny>,
    #[serde(rename = "operationName")]
    operation_name: Option<IgnoredAny>,
    #[serde(rename = "createdDateTime")]
    created_date_time: Option<IgnoredAny>,
    #[serde(rename = "userPrincipalName")]
    user_principal_name: Option<IgnoredAny>,
    #[serde(rename = "TimeGenerated")]
    time_generated: Option<IgnoredAny>,
    #[serde(rename = "CreatedDateTime")]
    created_date_time_pascal: Option<IgnoredAny>,
    #[serde(rename = "UserPrincipalName")]
    user_principal_name_pascal: Option<IgnoredAny>,
    #[serde(rename = "LocationDetails")]
    location_details: Option<IgnoredAny>,
    #[serde(rename = "ResultType")]
    result_type: Option<IgnoredAny>,
    #[serde(rename = "Location")]
    location_pascal: Option<JsonKind>,
}

/// Whether a JSON value is text, an object or anything else (consumed, not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonKind {
    Text,
    Object,
    Other,
}

impl<'de> Deserialize<'de> for JsonKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = JsonKind;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<JsonKind, E> {
                Ok(JsonKind::Text)
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<JsonKind, M::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JsonKind::Object)
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> Result<JsonKind, S::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(JsonKind::Other)
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<JsonKind, E> {
                Ok(JsonKind::Other)
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<JsonKind, E> {
                Ok(JsonKind::Other)
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<JsonKind, E> {
                Ok(JsonKind::Other)
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<JsonKind, E> {
                Ok(JsonKind::Other)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<JsonKind, E> {
                Ok(JsonKind::Other)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Which JSON record shape a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    SignIn,
    Diagnostic,
    LogAnalytics,
}

impl Probe {
    pub fn kind(&self) -> Option<RecordKind> {
        // Log Analytics rows and the Graph PowerShell SDK's objects are both PascalCase; a
        // row has Log Analytics' own columns (TimeGenerated, LocationDetails, ResultType, a
        // two-letter Location), an SDK object a Location object or none.
        let log_analytics = self.time_generated.is_some()
            || self.location_details.is_some()
            || self.result_type.is_some()
            || self.location_pascal == Some(JsonKind::Text);
        if self.properties.is_some() || (self.category.is_some() && self.operation_name.is_some()) {
            Some(RecordKind::Diagnostic)
        } else if self.created_date_time.is_some() || self.user_principal_name.is_some() {
            Some(RecordKind::SignIn)
        } else if log_analytics {
            Some(RecordKind::LogAnalytics)
        } else if self.created_date_time_pascal.is_some()
            || self.user_principal_name_pascal.is_some()
        {
            Some(RecordKind::SignIn)
        } else {
            None
        }
    }
}

/// What became of one record.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Kept,
    /// A record of a category that is not a sign-in (diagnostic `AuditLogs`, `RiskyUsers`, …).
    Skipped,
}

/// The sign-in event type of a diagnostic category or Log Analytics table; `None` for a
/// category that is not a sign-in.
pub fn category_event_type(category: &str) -> Option<&'static str> {
    // Compared without a lowercase copy: this runs for every diagnostic record.
    const CATEGORIES: &[(&str, &str)] = &[
        ("SignInLogs", event_type::INTERACTIVE_USER),
        (
            "NonInteractiveUserSignInLogs",
            event_type::NON_INTERACTIVE_USER,
        ),
        (
            "AADNonInteractiveUserSignInLogs",
            event_type::NON_INTERACTIVE_USER,
        ),
        ("ServicePrincipalSignInLogs", event_type::SERVICE_PRINCIPAL),
        (
            "AADServicePrincipalSignInLogs",
            event_type::SERVICE_PRINCIPAL,
        ),
        ("ManagedIdentitySignInLogs", event_type::MANAGED_IDENTITY),
        ("AADManagedIdentitySignInLogs", event_type::MANAGED_IDENTITY),
    ];
    CATEGORIES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(category))
        .map(|(_, kind)| *kind)
}

/// Parses and appends one record of `kind`.
pub fn push_record(
    kind: RecordKind,
    bytes: &[u8],
    codes: &OutcomeCodes,
    source: &SourceRef<'_>,
    builder: &mut FrameBuilder,
) -> Result<Verdict, String> {
    match kind {
        RecordKind::SignIn => {
            let record = match scan::sign_in(bytes) {
                Some(record) => record,
                None => parse::<SignIn>(utf8(bytes)?)?,
            };
            let mut row = Row::default();
            signin_into_row(record, &mut row)?;
            finish_row(row, codes, source, builder)
        }
        RecordKind::Diagnostic => {
            let record = match scan::diagnostic(bytes) {
                Some(record) => record,
                None => parse::<DiagnosticRecord>(utf8(bytes)?)?,
            };
            diagnostic_into_rows(record, codes, source, builder)
        }
        RecordKind::LogAnalytics => {
            let record: LogAnalyticsRow = parse(utf8(bytes)?)?;
            push_log_analytics(record, codes, source, builder)
        }
    }
}

/// Where a record came from, stamped on its row.
pub struct SourceRef<'s> {
    pub file: &'s str,
    pub line: u64,
}

/// One UTF-8 check of the whole record is cheaper than serde_json's check of every string.
fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| format!("record is not valid UTF-8 ({e})"))
}

fn parse<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| {
        if e.is_eof() {
            format!("truncated record: {e}")
        } else {
            format!("invalid record: {e}")
        }
    })
}

fn finish_row<'r>(
    mut row: Row<'r>,
    codes: &OutcomeCodes,
    source: &SourceRef<'r>,
    builder: &mut FrameBuilder,
) -> Result<Verdict, String> {
    if row.request_id.is_none() {
        return Err("missing sign-in id".into());
    }
    row.derive(codes);
    row.source_file = Some(Cow::Borrowed(source.file));
    row.source_line = Some(source.line);
    builder.push(&row);
    Ok(Verdict::Kept)
}

/// Sets the time from the first present text; a missing or bad time rejects the record.
pub fn set_time(row: &mut Row<'_>, candidates: &[Option<&str>]) -> Result<(), String> {
    let text = candidates
        .iter()
        .flatten()
        .map(|t| t.trim())
        .find(|t| !t.is_empty())
        .ok_or("missing time")?;
    row.time = parse_time(text).map_err(|e| format!("{e}: {text:?}"))?;
    Ok(())
}

/// Sets `ip_address` and `ip_network`; a present but unparseable address rejects the record.
pub fn set_ip<'a>(row: &mut Row<'a>, text: Text<'a>) -> Result<(), String> {
    if let Some(text) = non_empty(text) {
        let ip = parse_ip(&text).map_err(|e| format!("{e}: {text:?}"))?;
        row.ip_network = Some(ip.network);
        row.ip_address = Some(match ip.text {
            None => text,
            Some(canonical) => Cow::Owned(canonical),
        });
    }
    Ok(())
}

pub fn set_location<'a>(row: &mut Row<'a>, location: Location<'a>) {
    row.city = non_empty(location.city);
    row.state = non_empty(location.state);
    row.country = non_empty(location.country_or_region).or(row.country.take());
    if let Some(geo) = location.geo_coordinates {
        row.latitude = geo
            .latitude
            .map(|f| f.0)
            .filter(|v| (-90.0..=90.0).contains(v));
        row.longitude = geo
            .longitude
            .map(|f| f.0)
            .filter(|v| (-180.0..=180.0).contains(v));
    }
}

pub fn set_status<'a>(row: &mut Row<'a>, status: Status<'a>) -> Result<(), String> {
    if let Some(code) = status.error_code {
        row.error_code = Some(error_code(code)?);
    }
    row.failure_reason = non_empty(status.failure_reason);
    Ok(())
}

pub fn set_device<'a>(row: &mut Row<'a>, device: DeviceDetail<'a>) {
    row.device_id = non_empty(device.device_id);
    row.operating_system = non_empty(device.operating_system);
    row.browser = non_empty(device.browser);
}

pub fn error_code(code: Int) -> Result<i32, String> {
    i32::try_from(code.0).map_err(|_| format!("error code out of range: {}", code.0))
}

pub fn asn(value: Int) -> Result<u32, String> {
    u32::try_from(value.0)
        .map_err(|_| format!("autonomous system number out of range: {}", value.0))
}

fn signin_into_row<'a>(mut s: SignIn<'a>, row: &mut Row<'a>) -> Result<(), String> {
    if let Some(extra) = s.additional_properties.take() {
        s.fill_from(*extra);
    }
    set_time(row, &[s.created_date_time.as_deref()])?;
    row.request_id = non_empty(s.id);
    row.correlation_id = non_empty(s.correlation_id);
    row.user_id = non_empty(s.user_id);
    row.user_principal_name = non_empty(s.user_principal_name).map(lowercase);
    row.user_display_name = non_empty(s.user_display_name);
    row.user_type = non_empty(s.user_type);
    row.app_id = non_empty(s.app_id);
    row.app_display_name = non_empty(s.app_display_name);
    row.resource_display_name = non_empty(s.resource_display_name);
    row.service_principal_id = non_empty(s.service_principal_id);
    row.service_principal_name = non_empty(s.service_principal_name);
    set_ip(row, s.ip_address)?;
    row.client_app = non_empty(s.client_app_used).map(enums::client_app);
    row.conditional_access_status = non_empty(s.conditional_access_status);
    row.is_interactive = s.is_interactive.map(|b| b.0);
    row.user_agent = non_empty(s.user_agent);
    row.authentication_requirement = non_empty(s.authentication_requirement);
    row.session_id = non_empty(s.session_id);
    row.token_issuer_type = non_empty(s.token_issuer_type);
    TokenFields {
        unique_token_identifier: s.unique_token_identifier,
        incoming_token_type: s.incoming_token_type,
        authentication_protocol: s.authentication_protocol,
        original_transfer_method: s.original_transfer_method,
        resource_id: s.resource_id,
        client_credential_type: s.client_credential_type,
    }
    .set(row);
    if let Some(steps) = s.authentication_details {
        let steps = steps
            .into_iter()
            .map(AuthenticationStep::into_step)
            .collect();
        set_steps(row, summarise_steps(steps));
    }
    row.asn = s.autonomous_system_number.map(asn).transpose()?;
    if let Some(kind) = s
        .sign_in_event_types
        .iter()
        .flatten()
        .find_map(|k| event_type::canonical(&k.0))
    {
        row.event_type = Some(Cow::Borrowed(kind));
    }
    if let Some(status) = s.status {
        set_status(row, status)?;
    }
    if let Some(location) = s.location {
        set_location(row, location);
    }
    if let Some(device) = s.device_detail {
        set_device(row, device);
    }
    Ok(())
}

fn diagnostic_into_rows(
    record: DiagnosticRecord<'_>,
    codes: &OutcomeCodes,
    source: &SourceRef<'_>,
    builder: &mut FrameBuilder,
) -> Result<Verdict, String> {
    if record.out_of_scope {
        return Ok(Verdict::Skipped);
    }
    let category_kind = record.category.as_deref().and_then(category_event_type);
    let properties = record
        .properties
        .ok_or("diagnostic record has no properties")?;
    let mut row = Row {
        country: non_empty(record.location),
        ..Row::default()
    };
    // The envelope's fields stand in for what the signIn lacks.
    let created = properties.created_date_time.clone();
    let ip = properties.ip_address.clone();
    signin_into_row(
        SignIn {
            created_date_time: created.or(record.time),
            ip_address: non_empty(ip).or(record.caller_ip_address),
            correlation_id: properties.correlation_id.clone().or(record.correlation_id),
            ..properties
        },
        &mut row,
    )?;
    if row.error_code.is_none() {
        if let Some(code) = non_empty(record.result_type) {
            let code = parse_int(&code).map_err(|e| format!("resultType {e}: {code:?}"))?;
            row.error_code = Some(error_code(Int(code))?);
        }
    }
    if row.failure_reason.is_none() {
        row.failure_reason = non_empty(record.result_description);
    }
    if let Some(kind) = category_kind {
        row.event_type = Some(Cow::Borrowed(kind));
    }
    finish_row(row, codes, source, builder)
}

/// Appends a Log Analytics row (from JSON or from CSV cells).
pub fn push_log_analytics(
    r: LogAnalyticsRow<'_>,
    codes: &OutcomeCodes,
    source: &SourceRef<'_>,
    builder: &mut FrameBuilder,
) -> Result<Verdict, String> {
    let event_kind = match r.category.as_deref().or(r.table.as_deref()) {
        Some(category) => match category_event_type(category) {
            Some(kind) => Some(kind),
            None => return Ok(Verdict::Skipped),
        },
        None => None,
    };
    // Dynamic columns given as JSON text are parsed here so the row can borrow from them.
    let location = resolve_dynamic(&r.location_details, "LocationDetails")?;
    let device = resolve_dynamic(&r.device_detail, "DeviceDetail")?;
    let status = resolve_dynamic(&r.status, "Status")?;
    let steps = resolve_dynamic(&r.authentication_details, "AuthenticationDetails")?;
    let mut row = Row::default();
    set_time(
        &mut row,
        &[r.created_date_time.as_deref(), r.time_generated.as_deref()],
    )?;
    row.request_id = non_empty(r.id);
    row.correlation_id = non_empty(r.correlation_id);
    row.user_id = non_empty(r.user_id);
    row.user_principal_name = non_empty(r.user_principal_name).map(lowercase);
    row.user_display_name = non_empty(r.user_display_name);
    row.user_type = non_empty(r.user_type);
    row.app_id = non_empty(r.app_id);
    row.app_display_name = non_empty(r.app_display_name);
    row.resource_display_name = non_empty(r.resource_display_name);
    row.service_principal_id = non_empty(r.service_principal_id);
    row.service_principal_name = non_empty(r.service_principal_name);
    set_ip(&mut row, r.ip_address)?;
    row.country = non_empty(r.location);
    row.client_app = non_empty(r.client_app_used).map(enums::client_app);
    row.is_interactive = r.is_interactive.map(|b| b.0);
    row.asn = r.autonomous_system_number.map(asn).transpose()?;
    TokenFields {
        unique_token_identifier: r.unique_token_identifier,
        incoming_token_type: r.incoming_token_type,
        authentication_protocol: r.authentication_protocol,
        original_transfer_method: r.original_transfer_method,
        resource_id: r.resource_identity,
        client_credential_type: r.client_credential_type,
    }
    .set(&mut row);
    if let Some(steps) = steps.as_ref() {
        let steps = steps
            .as_ref()
            .iter()
            .map(AuthenticationStep::step)
            .collect();
        set_steps(&mut row, summarise_steps(steps));
    }
    row.user_agent = non_empty(r.user_agent);
    row.authentication_requirement = non_empty(r.authentication_requirement);
    row.conditional_access_status = non_empty(r.conditional_access_status);
    row.session_id = non_empty(r.session_id);
    row.token_issuer_type = non_empty(r.token_issuer_type);
    row.event_type = event_kind.map(Cow::Borrowed);
    if let Some(location) = location.as_ref() {
        set_location(&mut row, borrow_location(location));
    }
    if let Some(device) = device.as_ref() {
        set_device(&mut row, borrow_device(device));
    }
    if let Some(status) = status.as_ref() {
        set_status(
            &mut row,
            Status {
                error_code: status.as_ref().error_code,
                failure_reason: borrowed(&status.as_ref().failure_reason),
            },
        )?;
    }
    if row.error_code.is_none() {
        row.error_code = r.result_type.map(error_code).transpose()?;
    }
    if row.failure_reason.is_none() {
        row.failure_reason = non_empty(r.result_description);
    }
    finish_row(row, codes, source, builder)
}

/// A dynamic column as its object; JSON text is parsed into an owned copy.
fn resolve_dynamic<'a, T>(
    value: &'a Option<Dynamic<'a, T>>,
    column: &str,
) -> Result<Option<Owned<'a, T>>, String>
where
    T: Deserialize<'a>,
{
    let Some(value) = value else { return Ok(None) };
    match value {
        Dynamic::Value(v) => Ok(Some(Owned::Borrowed(v))),
        // Empty text, or JSON's own null, is no value.
        Dynamic::Text(text) if text.trim().is_empty() || text.trim() == "null" => Ok(None),
        Dynamic::Text(text) => {
            let parsed: T = serde_json::from_str(text)
                .map_err(|e| format!("{column} is not valid JSON: {e}"))?;
            Ok(Some(Owned::Parsed(parsed)))
        }
    }
}

/// A dynamic column's object, either borrowed from the record or parsed from its text.
enum Owned<'a, T> {
    Borrowed(&'a T),
    Parsed(T),
}

impl<T> AsRef<T> for Owned<'_, T> {
    fn as_ref(&self) -> &T {
        match self {
            Owned::Borrowed(v) => v,
            Owned::Parsed(v) => v,
        }
    }
}

fn borrowed<'b>(text: &'b Text<'_>) -> Text<'b> {
    text.as_deref().map(Cow::Borrowed)
}

fn borrow_location<'b>(l: &'b Owned<'_, Location<'_>>) -> Location<'b> {
    let l = l.as_ref();
    Location {
        city: borrowed(&l.city),
        state: borrowed(&l.state),
        country_or_region: borrowed(&l.country_or_region),
        geo_coordinates: l.geo_coordinates.as_ref().map(|g| GeoCoordinates {
            latitude: g.latitude,
            longitude: g.longitude,
        }),
    }
}

fn borrow_device<'b>(d: &'b Owned<'_, DeviceDetail<'_>>) -> DeviceDetail<'b> {
    let d = d.as_ref();
    DeviceDetail {
        device_id: borrowed(&d.device_id),
        operating_system: borrowed(&d.operating_system),
        browser: borrowed(&d.browser),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every optional text field reads through `lenient::text`: a plain derive would copy
    /// each one into a String of its own.
    #[test]
    fn text_fields_borrow_from_the_record() {
        let json = r#"{"time":"2025-03-01T04:47:06Z","category":"SignInLogs","properties":{
            "id":"a1","createdDateTime":"2025-03-01T04:47:06Z","userAgent":"Edge",
            "signInEventTypes":["interactiveUser"],"location":{"city":"Oslo"},
            "status":{"failureReason":"Other."},"deviceDetail":{"browser":"Edge 122"},
            "authenticationDetails":[{"authenticationMethod":"Password"}]}}"#;
        let r: DiagnosticRecord = parse(json).unwrap();
        assert!(matches!(r.time, Some(Cow::Borrowed(_))));
        assert!(matches!(r.category, Some(Cow::Borrowed(_))));
        let s = r.properties.unwrap();
        let steps = s.authentication_details.unwrap();
        let texts = [
            &s.id,
            &s.user_agent,
            &s.location.unwrap().city,
            &s.status.unwrap().failure_reason,
            &s.device_detail.unwrap().browser,
            &steps[0].authentication_method,
        ];
        assert!(texts.iter().all(|t| matches!(t, Some(Cow::Borrowed(_)))));
        let kinds = s.sign_in_event_types.unwrap();
        assert!(matches!(kinds[0].0, Cow::Borrowed("interactiveUser")));
    }
}
