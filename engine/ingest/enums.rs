//! Enum values whose spelling drifts between exports (`deviceCodeFlow` in Graph, "Device code
//! flow" in the portal CSV; "MAPI Over HTTP" and "MAPI over HTTP"), normalised by the readers
//! to Graph's spelling so detectors compare one value. Also the summary of a sign-in's
//! `authenticationDetails` steps the MFA detectors read.

use std::borrow::Cow;

/// Letters and digits only, lowercase: `Not Applied`, `not_applied` and `notApplied` fold
/// alike.
pub fn fold_words(value: &str) -> String {
    value
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The value in the first spelling of `known` it folds to; a value none folds to is kept as
/// written (a new enum member is data, not an error).
fn one_of<'a>(value: Cow<'a, str>, known: &[&'static str]) -> Cow<'a, str> {
    // Folded on the fly, byte by byte (as `fold_words`, without a String each): this runs
    // for several fields of every record, and most values are already in Graph's spelling.
    fn folded(text: &str) -> impl Iterator<Item = u8> + '_ {
        text.bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| b.to_ascii_lowercase())
    }
    let exact = known.iter().find(|k| **k == value.as_ref());
    match exact.or_else(|| known.iter().find(|k| folded(k).eq(folded(&value)))) {
        Some(k) => Cow::Borrowed(k),
        None => value,
    }
}

/// `authenticationProtocol` in Graph's spelling.
pub fn authentication_protocol(value: Cow<'_, str>) -> Cow<'_, str> {
    one_of(
        value,
        &[
            "none",
            "oAuth2",
            "ropc",
            "wsFederation",
            "saml20",
            "deviceCode",
            "authenticationTransfer",
            "nativeAuth",
            "implicitAccessTokenAndGetResponseMode",
            "unknownFutureValue",
        ],
    )
}

/// `originalTransferMethod` in Graph's spelling ("Device code flow" is `deviceCodeFlow`).
pub fn original_transfer_method(value: Cow<'_, str>) -> Cow<'_, str> {
    one_of(
        value,
        &[
            "none",
            "deviceCodeFlow",
            "authenticationTransfer",
            "unknownFutureValue",
        ],
    )
}

/// `incomingTokenType` in Graph's spelling ("Primary Refresh Token" is
/// `primaryRefreshToken`).
pub fn incoming_token_type(value: Cow<'_, str>) -> Cow<'_, str> {
    one_of(
        value,
        &[
            "none",
            "primaryRefreshToken",
            "refreshToken",
            "saml11",
            "saml20",
            "remoteDesktopToken",
            "unknownFutureValue",
        ],
    )
}

/// `clientCredentialType` in Graph's spelling ("Client secret" is `clientSecret`).
pub fn client_credential_type(value: Cow<'_, str>) -> Cow<'_, str> {
    one_of(
        value,
        &[
            "none",
            "clientSecret",
            "clientAssertion",
            "federatedIdentityCredential",
            "managedIdentity",
            "certificate",
            "unknownFutureValue",
        ],
    )
}

/// `clientAppUsed` in Microsoft's current spelling: case and spacing drift ("MAPI over
/// HTTP"), and Graph v1.0 and older exports use short names for the legacy protocols
/// (`IMAP`, `POP`, `SMTP`, `MAPI`, "SMTP Auth").
pub fn client_app(value: Cow<'_, str>) -> Cow<'_, str> {
    // Most values are already in the current spelling: found without folding.
    if let Some(known) = CLIENT_APPS.iter().find(|k| **k == value.as_ref()) {
        return Cow::Borrowed(known);
    }
    let canonical = match fold_words(&value).as_str() {
        "imap" => "IMAP4",
        "pop" => "POP3",
        "smtp" | "smtpauth" => "Authenticated SMTP",
        "mapi" => "MAPI Over HTTP",
        "activesync" | "eas" => "Exchange ActiveSync",
        "ews" => "Exchange Web Services",
        "rpcoverhttp" => "Outlook Anywhere (RPC over HTTP)",
        _ => return one_of(value, CLIENT_APPS),
    };
    Cow::Borrowed(canonical)
}

/// `clientAppUsed` values in Microsoft's current spelling.
const CLIENT_APPS: &[&str] = &[
    "Browser",
    "Mobile Apps and Desktop clients",
    "Authenticated SMTP",
    "AutoDiscover",
    "Exchange ActiveSync",
    "Exchange Online PowerShell",
    "Exchange Web Services",
    "IMAP4",
    "MAPI Over HTTP",
    "Offline Address Book",
    "Outlook Anywhere (RPC over HTTP)",
    "Outlook Service",
    "POP3",
    "Reporting Web Services",
    "Other clients",
];

/// One `authenticationDetails` step as a reader found it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Step<'a> {
    pub at: Option<Cow<'a, str>>,
    pub method: Option<Cow<'a, str>>,
    pub succeeded: Option<bool>,
    pub result_detail: Option<Cow<'a, str>>,
}

/// What the MFA detectors read of a sign-in's steps.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Steps<'a> {
    /// Distinct steps the user declined or left unanswered.
    pub denials: u32,
    /// A step says the user reported fraud.
    pub fraud_reported: bool,
    /// The last step's method, result and result detail.
    pub last: Option<Step<'a>>,
}

/// True for a result detail saying the user declined the prompt or did not answer it:
/// "MFA denied; user declined the authentication", "MFA denied; user did not respond to
/// mobile app notification". A duplicate-attempt or fraud denial is neither.
pub fn is_push_denial(detail: &str) -> bool {
    contains_word(detail, "denied")
        && (contains_word(detail, "declined") || contains_word(detail, "did not respond"))
}

/// True for a result detail saying the user reported fraud ("MFA denied; Phone App Reported
/// Fraud", "MFA denied; fraud code entered").
pub fn is_fraud_report(detail: &str) -> bool {
    contains_word(detail, "fraud")
}

/// True when `text` holds `lowercase` in any ASCII case; without a lowercase copy of `text`,
/// as every step of every record is asked.
fn contains_word(text: &str, lowercase: &str) -> bool {
    text.as_bytes()
        .windows(lowercase.len())
        .any(|w| w.eq_ignore_ascii_case(lowercase.as_bytes()))
}

/// Summarises a sign-in's steps, each distinct step counted once: the same step logged twice
/// in one record (a known logging quirk) is one denial.
pub fn summarise_steps(steps: Vec<Step<'_>>) -> Steps<'_> {
    let mut seen: Vec<&Step<'_>> = Vec::new();
    let mut denials = 0;
    let mut fraud_reported = false;
    for step in &steps {
        if seen.contains(&step) {
            continue;
        }
        seen.push(step);
        let detail = step.result_detail.as_deref().unwrap_or("");
        if is_push_denial(detail) {
            denials += 1;
        }
        fraud_reported |= is_fraud_report(detail);
    }
    Steps {
        denials,
        fraud_reported,
        last: steps.into_iter().last(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drifting_spellings_become_graphs() {
        type Normalise = fn(Cow<'_, str>) -> Cow<'_, str>;
        let cases: [(Normalise, &str, &str); 12] = [
            (
                original_transfer_method,
                "Device code flow",
                "deviceCodeFlow",
            ),
            (original_transfer_method, "deviceCodeFlow", "deviceCodeFlow"),
            (authentication_protocol, "Device Code", "deviceCode"),
            (authentication_protocol, "ROPC", "ropc"),
            (
                incoming_token_type,
                "Primary Refresh Token",
                "primaryRefreshToken",
            ),
            (client_credential_type, "Client secret", "clientSecret"),
            (client_app, "MAPI over HTTP", "MAPI Over HTTP"),
            (client_app, "SMTP Auth", "Authenticated SMTP"),
            (client_app, "IMAP", "IMAP4"),
            (client_app, "other clients", "Other clients"),
            (client_app, "Browser", "Browser"),
            // An unknown member is kept as written.
            (
                authentication_protocol,
                "someNewProtocol",
                "someNewProtocol",
            ),
        ];
        for (normalise, written, graph) in cases {
            assert_eq!(normalise(Cow::Borrowed(written)), graph, "{written}");
        }
    }

    #[test]
    fn steps_count_each_denial_once_and_keep_the_last() {
        let step = |at: &'static str, detail: &'static str, ok: bool| Step {
            at: Some(at.into()),
            method: Some("Mobile app notification".into()),
            succeeded: Some(ok),
            result_detail: Some(detail.into()),
        };
        let declined = step("t1", "MFA denied; user declined the authentication", false);
        let summary = summarise_steps(vec![
            declined.clone(),
            declined,
            step(
                "t2",
                "MFA denied; user did not respond to mobile app notification",
                false,
            ),
            step("t3", "MFA denied; duplicate authentication attempt", false),
            step("t4", "MFA successfully completed", true),
        ]);
        assert_eq!(summary.denials, 2);
        assert!(!summary.fraud_reported);
        let last = summary.last.unwrap();
        assert_eq!(last.succeeded, Some(true));
        assert_eq!(
            last.result_detail.as_deref(),
            Some("MFA successfully completed")
        );
        let fraud = summarise_steps(vec![step(
            "t",
            "MFA denied; Phone App Reported Fraud",
            false,
        )]);
        assert!(fraud.fraud_reported);
        assert_eq!(fraud.denials, 0);
    }
}
