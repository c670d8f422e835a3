//! A hand-written reader for the common case of a signIn or diagnostic record: an object
//! whose kept fields have the JSON types exports write.
//!
//! Serde's derived visitors were the largest single cost of reading a raw archive (42 % of
//! the CPU of a one-file `convert` by a profile on 2026-12-07). This reader fills the same
//! structs ([`SignIn`], [`DiagnosticRecord`]) in one pass over the bytes, checking the syntax
//! of what it skips as strictly as serde_json does, and gives up (`None`) on anything else: a
//! wrong type, a duplicate field, an escape it does not decode, a number serde would read
//! another way, nesting deeper than [`MAX_DEPTH`], bad syntax. Serde then reads that record, so every
//! verdict and message stays serde's. Two promises, both tested against serde on every
//! committed sample and on thousands of mutated records: it accepts nothing serde rejects,
//! and what it reads equals what serde reads.

use std::borrow::Cow;

use super::lenient::{Bool, Borrowed, Float, Int};
use super::records::{
    AuthenticationStep, DeviceDetail, DiagnosticRecord, GeoCoordinates, Location, SignIn, Status,
};

type Text<'a> = Option<Cow<'a, str>>;

/// Nesting deeper than this is left to serde (whose own limit is 128).
const MAX_DEPTH: u32 = 64;

/// Reads a diagnostic-settings record, or `None` when serde must (bytes that are not UTF-8
/// among them).
pub fn diagnostic(bytes: &[u8]) -> Option<DiagnosticRecord<'_>> {
    let mut scan = Scanner::new(bytes);
    let record = scan.envelope()?;
    scan.end()?;
    Some(record)
}

/// Reads a Graph signIn object, or `None` when serde must.
pub fn sign_in(bytes: &[u8]) -> Option<SignIn<'_>> {
    let mut scan = Scanner::new(bytes);
    if scan.peek()? != b'{' {
        return None;
    }
    let record = scan.sign_in()?;
    scan.end()?;
    Some(record)
}

/// Reads bytes, not text: a byte outside ASCII may only stand inside a string, and only such
/// strings are checked for UTF-8 (one check of the whole record cost 4 % of a convert).
struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: u32,
}

/// Marks a field as read; a second sighting is serde's "duplicate field" error.
fn once(seen: &mut u64, field: u32) -> Option<()> {
    let bit = 1u64 << field;
    if *seen & bit != 0 {
        return None;
    }
    *seen |= bit;
    Some(())
}

/// The field names of one object, found by a hash of a key's length and a few of its bytes:
/// a probe or two and one comparison, where a `match` on strings compares a key with the
/// names one after another (a signIn has 66 of them, and most keys of a record are passed
/// over, so compared with every one: 7 % of a convert's time went there).
struct Fields {
    slots: [(&'static str, u32); FIELD_SLOTS],
}

/// A power of two, at least twice the names of the largest object.
const FIELD_SLOTS: usize = 256;

impl Fields {
    /// Built at compile time; too many names fail the build.
    const fn new(names: &[(&'static str, u32)]) -> Self {
        let mut slots = [("", u32::MAX); FIELD_SLOTS];
        assert!(names.len() * 2 <= FIELD_SLOTS);
        let mut i = 0;
        while i < names.len() {
            let mut slot = field_hash(names[i].0.as_bytes());
            while slots[slot].1 != u32::MAX {
                slot = (slot + 1) % FIELD_SLOTS;
            }
            slots[slot] = names[i];
            i += 1;
        }
        Fields { slots }
    }

    /// The field number of `key`, if it is one of the names.
    fn find(&self, key: &str) -> Option<u32> {
        let mut slot = field_hash(key.as_bytes());
        loop {
            let (name, field) = self.slots[slot];
            if field == u32::MAX {
                return None;
            }
            if name == key {
                return Some(field);
            }
            slot = (slot + 1) % FIELD_SLOTS;
        }
    }
}

const fn field_hash(key: &[u8]) -> usize {
    let n = key.len();
    if n == 0 {
        return 0;
    }
    let mixed = (n as u32)
        ^ ((key[0] as u32) << 8)
        ^ ((key[n - 1] as u32) << 16)
        ^ ((key[n / 2] as u32) << 24);
    (mixed.wrapping_mul(0x9E37_79B1) >> 24) as usize % FIELD_SLOTS
}

/// Reads one member of a struct serde derives: each field under its names, numbered for
/// [`once`]; any other key is passed over with `$skip`.
macro_rules! members {
    ($key:expr, $seen:expr, $skip:expr, {
        $( $index:literal: $($name:literal)|+ => $read:expr ),+ $(,)?
    }) => {{
        static FIELDS: Fields = Fields::new(&[ $( $( ($name, $index) ),+ ),+ ]);
        match FIELDS.find($key) {
            $( Some($index) => {
                once(&mut $seen, $index)?;
                $read;
            } )+
            _ => $skip,
        }
    }};
}

impl<'a> Scanner<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Scanner {
            bytes,
            at: 0,
            depth: 0,
        }
    }

    /// The next byte that is not JSON whitespace (the cursor moves past the whitespace).
    fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes.get(self.at) {
            if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    fn end(&mut self) -> Option<()> {
        match self.peek() {
            None => Some(()),
            Some(_) => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.bytes.get(self.at..self.at + word.len())? != word {
            return None;
        }
        self.at += word.len();
        Some(())
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// Walks an object's members (the cursor on its `{`), `member` reading each value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.enter()?;
        self.at += 1;
        if self.peek()? == b'}' {
            self.at += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.plain_string()?;
            if self.peek()? != b':' {
                return None;
            }
            self.at += 1;
            member(self, key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Walks an array's elements (the cursor on its `[`), `element` reading each.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.enter()?;
        self.at += 1;
        if self.peek()? == b']' {
            self.at += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            element(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Reads an object into a new `T` (the cursor on its `{`), `member` reading each member
    /// and marking it seen.
    fn fill<T: Default>(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a str, &mut T, &mut u64) -> Option<()>,
    ) -> Option<T> {
        let mut value = T::default();
        let mut seen = 0;
        self.object(|scan, key| member(scan, key, &mut value, &mut seen))?;
        Some(value)
    }

    /// Passes over any value, checking its syntax as serde_json does when it ignores one.
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => self.object(|scan, _| scan.skip()),
            b'[' => self.array(Self::skip),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            _ => None,
        }
    }

    /// Where a run of plain string bytes from `from` ends (at the first `"`, `\` or control
    /// character), and whether it held bytes outside ASCII.
    fn run(&self, from: usize) -> Option<(usize, bool)> {
        let end = special::<true>(self.bytes, from)?;
        if *self.bytes.get(end)? < 0x80 {
            return Some((end, false));
        }
        Some((special::<false>(self.bytes, end)?, true))
    }

    /// The text of a run of plain string bytes.
    fn slice(&self, start: usize, end: usize, ascii: bool) -> Option<&'a str> {
        let bytes = self.bytes.get(start..end)?;
        if ascii {
            // SAFETY: `run` found every byte of the run below 0x80, and ASCII is UTF-8.
            Some(unsafe { std::str::from_utf8_unchecked(bytes) })
        } else {
            std::str::from_utf8(bytes).ok()
        }
    }

    /// A string without escapes (the cursor on its opening quote), borrowed.
    fn plain_string(&mut self) -> Option<&'a str> {
        let start = self.at + 1;
        let (end, high) = self.run(start)?;
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.at = end + 1;
        self.slice(start, end, !high)
    }

    fn skip_string(&mut self) -> Option<()> {
        let start = self.at + 1;
        let mut at = start;
        let mut ascii = true;
        loop {
            let (end, high) = self.run(at)?;
            ascii &= !high;
            at = end;
            match self.bytes.get(at)? {
                b'"' => {
                    self.at = at + 1;
                    // Escapes are ASCII: the string is UTF-8 if its bytes are.
                    return self.slice(start, at, ascii).map(drop);
                }
                b'\\' => {
                    at += match self.bytes.get(at + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                        b'u' => {
                            hex4(self.bytes.get(at + 2..at + 6)?)?;
                            6
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
    }

    /// A string value (the cursor on its opening quote): borrowed, or decoded where it holds
    /// escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.at + 1;
        let (end, high) = self.run(start)?;
        if self.bytes.get(end) == Some(&b'"') {
            self.at = end + 1;
            return self.slice(start, end, !high).map(Cow::Borrowed);
        }
        let head = self.slice(start, end, !high)?;
        self.escaped(head, end).map(Cow::Owned)
    }

    /// Decodes the rest of a string that starts with `head` and goes on with the special
    /// byte at `at`.
    fn escaped(&mut self, head: &str, mut at: usize) -> Option<String> {
        let mut out = String::with_capacity(head.len() + 16);
        out.push_str(head);
        loop {
            match self.bytes.get(at)? {
                b'"' => {
                    self.at = at + 1;
                    return Some(out);
                }
                b'\\' => {
                    let (c, len) = match self.bytes.get(at + 1)? {
                        b'"' => ('"', 2),
                        b'\\' => ('\\', 2),
                        b'/' => ('/', 2),
                        b'b' => ('\u{8}', 2),
                        b'f' => ('\u{c}', 2),
                        b'n' => ('\n', 2),
                        b'r' => ('\r', 2),
                        b't' => ('\t', 2),
                        b'u' => self.unicode(at + 2)?,
                        _ => return None,
                    };
                    out.push(c);
                    at += len;
                }
                _ => return None,
            }
            let (next, high) = self.run(at)?;
            out.push_str(self.slice(at, next, !high)?);
            at = next;
        }
    }

    /// The character of a `\u` escape whose hex digits start at `at`, and the length of the
    /// escape (a surrogate pair is two). Lone surrogates are left to serde.
    fn unicode(&self, at: usize) -> Option<(char, usize)> {
        let first = hex4(self.bytes.get(at..at + 4)?)?;
        match first {
            0xD800..=0xDBFF => {
                if self.bytes.get(at + 4..at + 6)? != b"\\u" {
                    return None;
                }
                let second = hex4(self.bytes.get(at + 6..at + 10)?)?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return None;
                }
                let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                Some((char::from_u32(code)?, 12))
            }
            0xDC00..=0xDFFF => None,
            _ => Some((char::from_u32(first)?, 6)),
        }
    }

    fn number(&mut self) -> Option<Number> {
        let bytes = self.bytes;
        let mut at = self.at;
        let negative = bytes.get(at) == Some(&b'-');
        at += usize::from(negative);
        let mut number = Number {
            negative,
            significand: 0,
            overflow: false,
            fraction: 0,
            exponent: false,
        };
        let digit = |number: &mut Number, c: u8| match number
            .significand
            .checked_mul(10)
            .and_then(|s| s.checked_add(u64::from(c - b'0')))
        {
            Some(s) => number.significand = s,
            None => number.overflow = true,
        };
        match bytes.get(at)? {
            b'0' => at += 1,
            b'1'..=b'9' => {
                while let Some(&c @ b'0'..=b'9') = bytes.get(at) {
                    digit(&mut number, c);
                    at += 1;
                }
            }
            _ => return None,
        }
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            while let Some(&c @ b'0'..=b'9') = bytes.get(at) {
                digit(&mut number, c);
                number.fraction += 1;
                at += 1;
            }
            if number.fraction == 0 {
                return None;
            }
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            let digits = at;
            while let Some(b'0'..=b'9') = bytes.get(at) {
                at += 1;
            }
            if at == digits {
                return None;
            }
            number.exponent = true;
        }
        self.at = at;
        Some(number)
    }

    /// `null`, for any optional field.
    fn null<T>(&mut self) -> Option<Option<T>> {
        self.literal(b"null").map(|()| None)
    }

    /// An optional text field: a string or `null`.
    fn text(&mut self) -> Option<Text<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Some),
            b'n' => self.null(),
            _ => None,
        }
    }

    /// `resultType` and `resultDescription`: text, or an integer kept as its digits.
    fn text_or_integer(&mut self) -> Option<Text<'a>> {
        match self.peek()? {
            b'-' | b'0'..=b'9' => {
                let value = self.number()?.integer()?;
                Some(Some(Cow::Owned(value.to_string())))
            }
            _ => self.text(),
        }
    }

    fn int(&mut self) -> Option<Option<Int>> {
        match self.peek()? {
            b'-' | b'0'..=b'9' => Some(Some(Int(self.number()?.integer()?.as_i64()?))),
            b'n' => self.null(),
            _ => None,
        }
    }

    fn float(&mut self) -> Option<Option<Float>> {
        match self.peek()? {
            b'-' | b'0'..=b'9' => Some(Some(Float(self.number()?.float()?))),
            b'n' => self.null(),
            _ => None,
        }
    }

    fn bool(&mut self) -> Option<Option<Bool>> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| Some(Bool(true))),
            b'f' => self.literal(b"false").map(|()| Some(Bool(false))),
            b'n' => self.null(),
            _ => None,
        }
    }

    /// An optional object read by `read` (the cursor before the value).
    fn nested<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        match self.peek()? {
            b'{' => read(self).map(Some),
            b'n' => self.null(),
            _ => None,
        }
    }

    /// An optional list of `element`s.
    fn list<T>(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Option<Vec<T>>> {
        match self.peek()? {
            b'[' => {
                let mut items = Vec::new();
                self.array(|scan| {
                    items.push(element(scan)?);
                    Some(())
                })?;
                Some(Some(items))
            }
            b'n' => self.null(),
            _ => None,
        }
    }

    fn list_text(&mut self) -> Option<Borrowed<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Borrowed),
            _ => None,
        }
    }

    /// The diagnostic envelope, field for field as `DiagnosticRecord`'s own visitor reads it
    /// (later duplicates overwrite; `properties` of a category that is not a sign-in is
    /// skipped unread).
    fn envelope(&mut self) -> Option<DiagnosticRecord<'a>> {
        if self.peek()? != b'{' {
            return None;
        }
        let mut r = DiagnosticRecord::default();
        self.object(|scan, key| {
            match key {
                "time" => r.time = scan.text()?,
                "category" => r.set_category(scan.text()?),
                "resultType" => r.result_type = scan.text_or_integer()?,
                "resultDescription" => r.result_description = scan.text_or_integer()?,
                "callerIpAddress" => r.caller_ip_address = scan.text()?,
                "correlationId" => r.correlation_id = scan.text()?,
                "location" => r.location = scan.text()?,
                "properties" if !r.out_of_scope => r.properties = scan.nested(Self::sign_in)?,
                _ => scan.skip()?,
            }
            Some(())
        })?;
        Some(r)
    }

    /// A signIn object (the cursor on its `{`), under its Graph and PowerShell names.
    fn sign_in(&mut self) -> Option<SignIn<'a>> {
        self.fill(|scan, key, s: &mut SignIn<'a>, seen| {
            // The PowerShell SDK's overflow object is rare; serde reads it.
            if matches!(key, "additionalProperties" | "AdditionalProperties") {
                return None;
            }
            members!(key, *seen, scan.skip()?, {
                0: "id" | "Id" => s.id = scan.text()?,
                1: "createdDateTime" | "CreatedDateTime" => s.created_date_time = scan.text()?,
                2: "userDisplayName" | "UserDisplayName" => s.user_display_name = scan.text()?,
                3: "userPrincipalName" | "UserPrincipalName" => {
                    s.user_principal_name = scan.text()?
                },
                4: "userId" | "UserId" => s.user_id = scan.text()?,
                5: "userType" | "UserType" => s.user_type = scan.text()?,
                6: "appId" | "AppId" => s.app_id = scan.text()?,
                7: "appDisplayName" | "AppDisplayName" => s.app_display_name = scan.text()?,
                8: "resourceDisplayName" | "ResourceDisplayName" => {
                    s.resource_display_name = scan.text()?
                },
                9: "servicePrincipalId" | "ServicePrincipalId" => {
                    s.service_principal_id = scan.text()?
                },
                10: "servicePrincipalName" | "ServicePrincipalName" => {
                    s.service_principal_name = scan.text()?
                },
                11: "ipAddress" | "IPAddress" | "IpAddress" => s.ip_address = scan.text()?,
                12: "clientAppUsed" | "ClientAppUsed" => s.client_app_used = scan.text()?,
                13: "correlationId" | "CorrelationId" => s.correlation_id = scan.text()?,
                14: "conditionalAccessStatus" | "ConditionalAccessStatus" => {
                    s.conditional_access_status = scan.text()?
                },
                15: "isInteractive" | "IsInteractive" => s.is_interactive = scan.bool()?,
                16: "userAgent" | "UserAgent" => s.user_agent = scan.text()?,
                17: "authenticationRequirement" | "AuthenticationRequirement" => {
                    s.authentication_requirement = scan.text()?
                },
                18: "sessionId" | "SessionId" => s.session_id = scan.text()?,
                19: "tokenIssuerType" | "TokenIssuerType" => s.token_issuer_type = scan.text()?,
                20: "uniqueTokenIdentifier" | "UniqueTokenIdentifier" => {
                    s.unique_token_identifier = scan.text()?
                },
                21: "incomingTokenType" | "IncomingTokenType" => {
                    s.incoming_token_type = scan.text()?
                },
                22: "authenticationProtocol" | "AuthenticationProtocol" => {
                    s.authentication_protocol = scan.text()?
                },
                23: "originalTransferMethod" | "OriginalTransferMethod" => {
                    s.original_transfer_method = scan.text()?
                },
                24: "resourceId" | "ResourceId" => s.resource_id = scan.text()?,
                25: "clientCredentialType" | "ClientCredentialType" => {
                    s.client_credential_type = scan.text()?
                },
                26: "authenticationDetails" | "AuthenticationDetails" => {
                    s.authentication_details = scan.list(|scan| scan.nested(Self::step)?)?
                },
                27: "autonomousSystemNumber" | "AutonomousSystemNumber" => {
                    s.autonomous_system_number = scan.int()?
                },
                28: "signInEventTypes" | "SignInEventTypes" => {
                    s.sign_in_event_types = scan.list(Self::list_text)?
                },
                29: "status" | "Status" => s.status = scan.nested(Self::status)?,
                30: "location" | "Location" => s.location = scan.nested(Self::location)?,
                31: "deviceDetail" | "DeviceDetail" => s.device_detail = scan.nested(Self::device)?,
            });
            Some(())
        })
    }

    fn step(&mut self) -> Option<AuthenticationStep<'a>> {
        self.fill(|scan, key, step: &mut AuthenticationStep<'a>, seen| {
            members!(key, *seen, scan.skip()?, {
                0: "authenticationStepDateTime" | "AuthenticationStepDateTime" => {
                    step.authentication_step_date_time = scan.text()?
                },
                1: "authenticationMethod" | "AuthenticationMethod" => {
                    step.authentication_method = scan.text()?
                },
                2: "succeeded" | "Succeeded" => step.succeeded = scan.bool()?,
                3: "authenticationStepResultDetail" | "AuthenticationStepResultDetail" => {
                    step.authentication_step_result_detail = scan.text()?
                },
            });
            Some(())
        })
    }

    fn status(&mut self) -> Option<Status<'a>> {
        self.fill(|scan, key, status: &mut Status<'a>, seen| {
            members!(key, *seen, scan.skip()?, {
                0: "errorCode" | "ErrorCode" => status.error_code = scan.int()?,
                1: "failureReason" | "FailureReason" => status.failure_reason = scan.text()?,
            });
            Some(())
        })
    }

    fn location(&mut self) -> Option<Location<'a>> {
        self.fill(|scan, key, location: &mut Location<'a>, seen| {
            members!(key, *seen, scan.skip()?, {
                0: "city" | "City" => location.city = scan.text()?,
                1: "state" | "State" => location.state = scan.text()?,
                2: "countryOrRegion" | "CountryOrRegion" => {
                    location.country_or_region = scan.text()?
                },
                3: "geoCoordinates" | "GeoCoordinates" => {
                    location.geo_coordinates = scan.nested(Self::geo)?
                },
            });
            Some(())
        })
    }

    fn geo(&mut self) -> Option<GeoCoordinates> {
        self.fill(|scan, key, geo: &mut GeoCoordinates, seen| {
            members!(key, *seen, scan.skip()?, {
                0: "latitude" | "Latitude" => geo.latitude = scan.float()?,
                1: "longitude" | "Longitude" => geo.longitude = scan.float()?,
            });
            Some(())
        })
    }

    fn device(&mut self) -> Option<DeviceDetail<'a>> {
        self.fill(|scan, key, device: &mut DeviceDetail<'a>, seen| {
            members!(key, *seen, scan.skip()?, {
                0: "deviceId" | "DeviceId" => device.device_id = scan.text()?,
                1: "operatingSystem" | "OperatingSystem" => {
                    device.operating_system = scan.text()?
                },
                2: "browser" | "Browser" => device.browser = scan.text()?,
            });
            Some(())
        })
    }
}

/// A JSON number as serde_json reads it: its digits as one integer, and how many of them
/// follow the point.
struct Number {
    negative: bool,
    significand: u64,
    overflow: bool,
    fraction: u32,
    exponent: bool,
}

/// An integer as serde_json hands it to a visitor.
enum Integer {
    Unsigned(u64),
    Signed(i64),
}

impl Integer {
    fn as_i64(&self) -> Option<i64> {
        match *self {
            Integer::Unsigned(v) => i64::try_from(v).ok(),
            Integer::Signed(v) => Some(v),
        }
    }
}

impl std::fmt::Display for Integer {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Integer::Unsigned(v) => v.fmt(f),
            Integer::Signed(v) => v.fmt(f),
        }
    }
}

/// Powers of ten that are exact in an `f64`.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

impl Number {
    /// The integer serde_json reads; `None` where it reads a float instead (a fraction, an
    /// exponent, `-0`, or too many digits).
    fn integer(&self) -> Option<Integer> {
        if self.overflow || self.fraction > 0 || self.exponent {
            return None;
        }
        if !self.negative {
            return Some(Integer::Unsigned(self.significand));
        }
        match i64::try_from(self.significand) {
            Ok(v) if v > 0 => Some(Integer::Signed(-v)),
            _ => None,
        }
    }

    /// The float serde_json reads (without `float_roundtrip`): the digits as an integer
    /// divided by a power of ten, which is exact where both are; anything else is left to
    /// serde.
    fn float(&self) -> Option<f64> {
        if self.fraction == 0 {
            return match self.integer()? {
                Integer::Unsigned(v) => Some(v as f64),
                Integer::Signed(v) => Some(v as f64),
            };
        }
        if self.overflow || self.exponent || self.significand > 1 << 53 {
            return None;
        }
        let power = EXACT_POWERS_OF_TEN.get(self.fraction as usize)?;
        let f = self.significand as f64 / power;
        Some(if self.negative { -f } else { f })
    }
}

fn hex4(digits: &[u8]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0u32, |acc, &d| Some(acc * 16 + char::from(d).to_digit(16)?))
}

/// The index of the first `"`, `\` or control character at or after `from` (with `HIGH`,
/// of a byte outside ASCII too): sixteen bytes at a time with SSE2 (part of every x86-64),
/// the rest eight at a time.
#[cfg(target_arch = "x86_64")]
fn special<const HIGH: bool>(bytes: &[u8], from: usize) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let mut at = from;
    while at + 16 <= bytes.len() {
        // SAFETY: the sixteen bytes loaded lie inside `bytes` (`at + 16 <= len`); the load
        // has no alignment requirement, and SSE2 is part of the x86-64 baseline.
        let found = unsafe {
            let chunk = _mm_loadu_si128(bytes.as_ptr().add(at).cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'\\' as i8));
            // A byte at most 0x1F is its own maximum with 0x1F.
            let limit = _mm_set1_epi8(0x1F);
            let control = _mm_cmpeq_epi8(_mm_max_epu8(chunk, limit), limit);
            let found = _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control));
            // A byte's top bit is what sets it outside ASCII.
            if HIGH {
                found | _mm_movemask_epi8(chunk)
            } else {
                found
            }
        };
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize);
        }
        at += 16;
    }
    special_by_words::<HIGH>(bytes, at)
}

#[cfg(not(target_arch = "x86_64"))]
fn special<const HIGH: bool>(bytes: &[u8], from: usize) -> Option<usize> {
    special_by_words::<HIGH>(bytes, from)
}

/// [`special`] eight bytes at a time in a `u64`.
fn special_by_words<const HIGH: bool>(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    const QUOTES: u64 = ONES * b'"' as u64;
    const BACKSLASHES: u64 = ONES * b'\\' as u64;
    const SPACES: u64 = ONES * 0x20;
    let rest = bytes.get(from..)?;
    let mut chunks = rest.chunks_exact(8);
    let mut at = from;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        let quote = word ^ QUOTES;
        let backslash = word ^ BACKSLASHES;
        // A byte equal to zero (or below 0x20) sets its high bit here; a borrow can set
        // higher bytes too, but never a lower one, so the lowest set bit is exact.
        let found = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(SPACES) & !word)
            | if HIGH { word } else { 0 })
            & HIGH_BITS;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20 || (HIGH && b >= 0x80))
        .map(|p| at + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIAGNOSTIC: &str = include_str!(
        "../../datasets/samples/diagnostic/insights-logs-signinlogs/tenantId=72f988bf-86f1-41af-91ab-2d7cd011db47/y=2025/m=03/d=01/h=10/m=00/PT1H.json"
    );
    const GRAPH_LINES: &str = include_str!("../../datasets/samples/graph/signins-beta.jsonl");

    /// Reads `bytes` both ways; when the scanner reads them, they are UTF-8 and serde reads
    /// the same. Returns whether the scanner read them.
    fn agree_diagnostic(bytes: &[u8]) -> bool {
        let Some(fast) = diagnostic(bytes) else {
            return false;
        };
        let text = std::str::from_utf8(bytes).expect("the scanner read bytes that are not UTF-8");
        match serde_json::from_str::<DiagnosticRecord>(text) {
            Ok(slow) => assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{text}"),
            Err(e) => panic!("the scanner read what serde rejects ({e}): {text}"),
        }
        true
    }

    fn agree_sign_in(bytes: &[u8]) -> bool {
        let Some(fast) = sign_in(bytes) else {
            return false;
        };
        let text = std::str::from_utf8(bytes).expect("the scanner read bytes that are not UTF-8");
        match serde_json::from_str::<SignIn>(text) {
            Ok(slow) => assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{text}"),
            Err(e) => panic!("the scanner read what serde rejects ({e}): {text}"),
        }
        true
    }

    #[test]
    fn reads_every_committed_line_as_serde_does() {
        let diagnostic = DIAGNOSTIC.lines().filter(|l| !l.trim().is_empty());
        let graph = GRAPH_LINES.lines().filter(|l| !l.trim().is_empty());
        let (mut d, mut g) = (0, 0);
        for line in diagnostic {
            assert!(agree_diagnostic(line.as_bytes()), "left to serde: {line}");
            d += 1;
        }
        for line in graph {
            assert!(agree_sign_in(line.as_bytes()), "left to serde: {line}");
            g += 1;
        }
        assert!(d >= 5 && g >= 3, "{d} diagnostic and {g} Graph lines");
    }

    /// A record holding every kept field once, in every JSON type the scanner reads.
    const FULL: &str = r#"{"time": "2025-03-01T06:00:00Z", "category": "SignInLogs", "resultType": 50126,
        "resultDescription": "Invalid \"password\"", "callerIpAddress": "10.0.0.1", "correlationId": "c",
        "location": "NO", "ignored": [1, -2.5e-3, {"a": [true, false, null, "\u00e9\\"]}, []],
        "properties": {"Id": "id-1", "createdDateTime": null, "userDisplayName": "Ren\u00e9e \ud83d\ude00",
        "userPrincipalName": "a\/b@x", "IPAddress": "10.0.0.2", "isInteractive": false,
        "autonomousSystemNumber": -12, "signInEventTypes": ["interactiveUser", "nonInteractiveUser"],
        "status": {"ErrorCode": 0, "failureReason": null}, "deviceDetail": null,
        "location": {"City": "Oslo", "geoCoordinates": {"latitude": -0.0, "Longitude": 10}},
        "authenticationDetails": [{"succeeded": true, "authenticationMethod": "Password"}, {}],
        "userAgent": "tab\there\nnewline\u0001", "sessionId": ""}}"#;

    #[test]
    fn reads_escapes_aliases_nulls_and_numbers_as_serde_does() {
        assert!(agree_diagnostic(FULL.as_bytes()));
        let record = diagnostic(FULL.as_bytes()).unwrap_or_default();
        let properties = record.properties.unwrap_or_default();
        assert_eq!(record.result_type.as_deref(), Some("50126"));
        assert_eq!(properties.id.as_deref(), Some("id-1"));
        assert_eq!(properties.user_display_name.as_deref(), Some("Renée 😀"));
        assert_eq!(properties.autonomous_system_number, Some(Int(-12)));
    }

    #[test]
    fn leaves_to_serde_what_it_does_not_read_the_same_way() {
        for text in [
            // Types the lenient adapters accept from text, read by serde.
            r#"{"properties": {"isInteractive": "True"}}"#,
            r#"{"properties": {"status": {"errorCode": "50126"}}}"#,
            r#"{"properties": {"location": {"geoCoordinates": {"latitude": "59.9"}}}}"#,
            // Numbers serde reads through its float path.
            r#"{"properties": {"location": {"geoCoordinates": {"latitude": 5.99e1}}}}"#,
            r#"{"properties": {"autonomousSystemNumber": -0}}"#,
            r#"{"properties": {"autonomousSystemNumber": 99999999999999999999}}"#,
            r#"{"resultType": 1.5}"#,
            // Duplicates, lone surrogates, the SDK's overflow object, deep nesting.
            r#"{"properties": {"id": "a", "Id": "b"}}"#,
            r#"{"properties": {"userId": "\ud800"}}"#,
            r#"{"properties": {"additionalProperties": {}}}"#,
            // Bad syntax of every kind.
            r#"{"properties": {"id": "a",}}"#,
            r#"{"x": [1,]}"#,
            r#"{"x": 01}"#,
            r#"{"x": 1.}"#,
            r#"{"x": tru}"#,
            r#"{"x": "\q"}"#,
            "{\"x\": \"a\u{1}b\"}",
            r#"{"x": 1} 2"#,
            r#"{"x": 1"#,
            "[]",
        ] {
            assert!(diagnostic(text.as_bytes()).is_none(), "read: {text}");
        }
        let deep = format!("{{\"x\": {}1{}}}", "[".repeat(70), "]".repeat(70));
        assert!(diagnostic(deep.as_bytes()).is_none());
        assert!(serde_json::from_str::<DiagnosticRecord>(&deep).is_ok());
    }

    #[test]
    fn properties_of_a_category_out_of_scope_stay_unread_whatever_the_order() {
        for text in [
            r#"{"category": "AuditLogs", "properties": {"id": 5}}"#,
            r#"{"properties": {"id": "a"}, "category": "AuditLogs"}"#,
        ] {
            assert!(agree_diagnostic(text.as_bytes()), "{text}");
            let record = diagnostic(text.as_bytes()).unwrap_or_default();
            assert!(record.out_of_scope && record.properties.is_none());
        }
    }

    #[test]
    fn special_bytes_are_found_at_every_offset_both_ways() {
        let mut dice = Dice(7);
        for _ in 0..2_000 {
            let len = dice.next(80);
            let bytes: Vec<u8> = (0..len)
                .map(|_| match dice.next(50) {
                    0 => b'"',
                    1 => b'\\',
                    2 => dice.next(0x20) as u8,
                    3 => 0x80 + dice.next(0x80) as u8,
                    _ => 0x20 + dice.next(0x60) as u8,
                })
                .collect();
            for from in 0..=len {
                let first = |high: bool| {
                    bytes[from..]
                        .iter()
                        .position(|&b| b == b'"' || b == b'\\' || b < 0x20 || (high && b >= 0x80))
                        .map(|p| from + p)
                };
                let (ascii, any) = (first(false), first(true));
                assert_eq!(
                    special::<false>(&bytes, from),
                    ascii,
                    "{bytes:?} from {from}"
                );
                assert_eq!(special::<true>(&bytes, from), any, "{bytes:?} from {from}");
                assert_eq!(special_by_words::<false>(&bytes, from), ascii);
                assert_eq!(special_by_words::<true>(&bytes, from), any);
            }
        }
    }

    #[test]
    fn text_outside_ascii_is_read_where_it_is_utf8_and_left_to_serde_where_not() {
        let good = "{\"properties\": {\"userDisplayName\": \"Zoë Ødegård 日本\", \"x\": \"ß\\n\"}}";
        assert!(agree_diagnostic(good.as_bytes()));
        let name = diagnostic(good.as_bytes()).and_then(|r| r.properties?.user_display_name);
        assert_eq!(name.as_deref(), Some("Zoë Ødegård 日本"));
        for bad in [
            &b"{\"properties\": {\"userId\": \"a\xff\"}}"[..],
            b"{\"x\": \"\xc3\"}",
            b"{\"x\": \"\xe6\x97\\n\"}",
            b"{\"\xc3\xa9\xc3\": 1}",
            b"{\"x\": 1}\xc3",
        ] {
            assert!(std::str::from_utf8(bad).is_err());
            assert!(diagnostic(bad).is_none(), "{bad:?}");
        }
    }

    /// A small deterministic generator (xorshift) for the mutations.
    struct Dice(u64);

    impl Dice {
        fn next(&mut self, below: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % below as u64) as usize
        }
    }

    /// Cuts, inserts and copies bytes at random in real records: whatever the scanner reads
    /// serde reads too, and the same way.
    #[test]
    fn mutated_records_are_read_as_serde_reads_them_or_left_to_serde() {
        // Bytes outside ASCII among them: a two-byte letter's halves, and a byte no UTF-8
        // text holds.
        const ALPHABET: &[u8] = b"\"\\{}[],:.-+0123456789eEtrufalsn x/\x01\tIdU\xc3\xa9\xff";
        let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
        let bases: Vec<&str> = DIAGNOSTIC
            .lines()
            .filter(|l| !l.trim().is_empty())
            .chain([FULL])
            .collect();
        let (mut read, mut tried) = (0, 0);
        for _ in 0..20_000 {
            let base = bases[dice.next(bases.len())].as_bytes();
            let mut bytes = base.to_vec();
            for _ in 0..1 + dice.next(3) {
                let at = dice.next(bytes.len());
                match dice.next(3) {
                    0 => {
                        let len = 1 + dice.next(4).min(bytes.len() - at - 1);
                        bytes.drain(at..at + len);
                    }
                    1 => bytes.insert(at, ALPHABET[dice.next(ALPHABET.len())]),
                    _ => bytes[at] = ALPHABET[dice.next(ALPHABET.len())],
                }
                if bytes.len() < 2 {
                    bytes = base.to_vec();
                }
            }
            tried += 1;
            read += usize::from(agree_diagnostic(&bytes));
            let key = b"\"properties\": ";
            let inner = bytes.windows(key.len()).position(|w| w == key);
            if let Some(inner) = inner.and_then(|p| bytes[p + key.len()..].strip_suffix(b"}")) {
                agree_sign_in(inner);
            }
        }
        // The mutations must leave many records readable, or the test proves little.
        assert!(tried > 19_000 && read > 5_000, "{read} of {tried} read");
    }
}
