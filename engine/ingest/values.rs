//! Field-level parsing shared by every reader: time stamps, IP addresses, lenient numbers.
//!
//! Exports disagree on how a value is written (an error code as a number or a string, a time
//! with 0 to 7 fractional digits, a US-style date from a spreadsheet), so each parser here
//! accepts every spelling seen in real exports and rejects the rest with a short reason.

use std::borrow::Cow;
use std::net::IpAddr;

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

/// Parses a sign-in time stamp into UTC microseconds.
///
/// Accepted: ISO 8601 / RFC 3339 (`2025-03-12T07:22:01.1234567Z`, 0–9 fractional digits,
/// `Z`, `±HH:MM`, `±HHMM` or no zone, which is read as UTC; `T` or a space between date and
/// time) and the US forms written by the portal's and Log Analytics' CSV exports and by
/// spreadsheets (`3/12/2025 7:22:01 AM`, `4/28/2021, 2:08:45.221 PM`, 24-hour without
/// AM/PM). In the US form the month comes first unless the first number exceeds 12. Also
/// the Microsoft JSON date Windows PowerShell 5.1's `ConvertTo-Json` writes,
/// `/Date(1740832938000)/` (milliseconds since the epoch, UTC; an offset after the number,
/// `/Date(1740832938000+0100)/`, only says where the writer was and is ignored).
pub fn parse_time(text: &str) -> Result<Micros, &'static str> {
    let text = text.trim();
    let bytes = text.as_bytes();
    let json_date = text
        .strip_prefix("/Date(")
        .and_then(|t| t.strip_suffix(")/"));
    let time = if let Some(inner) = json_date {
        parse_json_date(inner)
    } else if bytes.len() >= 10 && bytes[4] == b'-' {
        parse_iso(bytes)
    } else if bytes.contains(&b'/') {
        parse_us(bytes)
    } else {
        Err("unrecognised time format")
    }?;
    // Year 0, or an offset past the end of year 9999: outside what the detectors accept.
    if (crate::frame::MIN_TIME..=crate::frame::MAX_TIME).contains(&time) {
        Ok(time)
    } else {
        Err("time out of range (years 1 to 9999)")
    }
}

/// The inside of `/Date(…)/`: signed milliseconds, then an optional `±HHMM` offset.
fn parse_json_date(inner: &str) -> Result<Micros, &'static str> {
    const BAD: &str = "invalid /Date(…)/ time";
    let sign_at = inner
        .char_indices()
        .skip(1)
        .find(|&(_, c)| c == '+' || c == '-')
        .map(|(i, _)| i);
    let (millis, offset) = match sign_at {
        Some(i) => inner.split_at(i),
        None => (inner, ""),
    };
    let offset_ok =
        offset.is_empty() || (offset.len() == 5 && offset[1..].bytes().all(|b| b.is_ascii_digit()));
    if !offset_ok {
        return Err(BAD);
    }
    let millis: i64 = millis.parse().map_err(|_| BAD)?;
    millis.checked_mul(1000).ok_or(BAD)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn number(&mut self, min_digits: usize, max_digits: usize) -> Option<u32> {
        let start = self.pos;
        let mut value: u32 = 0;
        while self.pos < self.bytes.len() && self.pos - start < max_digits {
            let b = self.bytes[self.pos];
            if !b.is_ascii_digit() {
                break;
            }
            value = value * 10 + u32::from(b - b'0');
            self.pos += 1;
        }
        (self.pos - start >= min_digits).then_some(value)
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn done(&self) -> bool {
        self.pos == self.bytes.len()
    }

    /// Fractional seconds after a `.`, as microseconds (digits past the sixth are dropped).
    fn fraction_micros(&mut self) -> u32 {
        if !self.eat(b'.') {
            return 0;
        }
        let mut micros = 0;
        let mut digits = 0;
        while let Some(b) = self.peek().filter(u8::is_ascii_digit) {
            if digits < 6 {
                micros = micros * 10 + u32::from(b - b'0');
            }
            digits += 1;
            self.pos += 1;
        }
        while digits < 6 {
            micros *= 10;
            digits += 1;
        }
        micros
    }
}

fn parse_iso(bytes: &[u8]) -> Result<Micros, &'static str> {
    let mut c = Cursor { bytes, pos: 0 };
    let bad = "unrecognised time format";
    let year = c.number(4, 4).ok_or(bad)?;
    let month = c.eat(b'-').then(|| c.number(2, 2)).flatten().ok_or(bad)?;
    let day = c.eat(b'-').then(|| c.number(2, 2)).flatten().ok_or(bad)?;
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return Err("time stamp has no time of day");
    }
    let hour = c.number(2, 2).ok_or(bad)?;
    let minute = c.eat(b':').then(|| c.number(2, 2)).flatten().ok_or(bad)?;
    let second = if c.eat(b':') {
        c.number(2, 2).ok_or(bad)?
    } else {
        0
    };
    let micros = c.fraction_micros();
    c.skip_spaces();
    let offset_minutes = parse_zone(&mut c)?;
    if !c.done() {
        return Err("unexpected text after the time stamp");
    }
    let local = civil_micros(year, month, day, hour, minute, second, micros)?;
    Ok(local - i64::from(offset_minutes) * 60_000_000)
}

/// `Z`, `±HH:MM`, `±HHMM`, `±HH` or nothing (UTC); returns the offset in minutes.
fn parse_zone(c: &mut Cursor<'_>) -> Result<i32, &'static str> {
    let bad = "unrecognised time zone";
    if c.done() || c.eat(b'Z') || c.eat(b'z') {
        return Ok(0);
    }
    let sign = if c.eat(b'+') {
        1
    } else if c.eat(b'-') {
        -1
    } else {
        return Err(bad);
    };
    let hours = c.number(2, 2).ok_or(bad)? as i32;
    c.eat(b':');
    let minutes = if c.done() {
        0
    } else {
        c.number(2, 2).ok_or(bad)? as i32
    };
    if hours > 23 || minutes > 59 {
        return Err(bad);
    }
    Ok(sign * (hours * 60 + minutes))
}

fn parse_us(bytes: &[u8]) -> Result<Micros, &'static str> {
    let mut c = Cursor { bytes, pos: 0 };
    let bad = "unrecognised time format";
    let first = c.number(1, 2).ok_or(bad)?;
    let second = c.eat(b'/').then(|| c.number(1, 2)).flatten().ok_or(bad)?;
    let year = c.eat(b'/').then(|| c.number(4, 4)).flatten().ok_or(bad)?;
    let (month, day) = if first > 12 {
        (second, first)
    } else {
        (first, second)
    };
    c.eat(b',');
    c.skip_spaces();
    let mut hour = c.number(1, 2).ok_or("time stamp has no time of day")?;
    let minute = c.eat(b':').then(|| c.number(2, 2)).flatten().ok_or(bad)?;
    let sec = if c.eat(b':') {
        c.number(2, 2).ok_or(bad)?
    } else {
        0
    };
    let micros = c.fraction_micros();
    c.skip_spaces();
    let rest = &bytes[c.pos..];
    if rest.eq_ignore_ascii_case(b"AM") || rest.eq_ignore_ascii_case(b"PM") {
        if hour == 0 || hour > 12 {
            return Err("hour out of range for AM/PM");
        }
        hour %= 12;
        if rest.eq_ignore_ascii_case(b"PM") {
            hour += 12;
        }
    } else if !rest.is_empty() {
        return Err("unexpected text after the time stamp");
    }
    civil_micros(year, month, day, hour, minute, sec, micros)
}

fn civil_micros(
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micros: u32,
) -> Result<Micros, &'static str> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err("date out of range");
    }
    // A leap second (:60) is folded into the last second of its minute.
    if hour > 23 || minute > 59 || second > 60 {
        return Err("time of day out of range");
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second.min(59));
    Ok(secs * 1_000_000 + i64::from(micros))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats UTC microseconds as RFC 3339 with microseconds and `Z`.
pub fn format_time(micros: Micros) -> String {
    const DAY: i64 = 86_400_000_000;
    let (date, year) = civil_date(micros.div_euclid(DAY));
    if !(0..=9999).contains(&year) {
        // Years of other widths, as chrono writes them.
        return match chrono::DateTime::from_timestamp_micros(micros) {
            Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            None => micros.to_string(),
        };
    }
    // Written by hand: every detection carries three times, and a format string is
    // interpreted anew on each call.
    let of_day = micros.rem_euclid(DAY);
    let seconds = of_day / 1_000_000;
    let mut text = [0u8; 27];
    let mut put = |at: usize, value: i64, width: usize| {
        let mut value = value;
        for k in (at..at + width).rev() {
            text[k] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, year, 4);
    put(5, date.0, 2);
    put(8, date.1, 2);
    put(11, seconds / 3600, 2);
    put(14, seconds / 60 % 60, 2);
    put(17, seconds % 60, 2);
    put(20, of_day % 1_000_000, 6);
    for (at, sign) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        text[at] = sign;
    }
    text[26] = b'Z';
    text.iter().map(|&b| b as char).collect()
}

/// The proleptic Gregorian ((month, day), year) of a day counted from 1970-01-01.
fn civil_date(days: i64) -> ((i64, i64), i64) {
    // Counted in 400-year eras from 0000-03-01, so the leap day ends each year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let of_era = z.rem_euclid(146_097);
    let year_of_era = (of_era - of_era / 1460 + of_era / 36_524 - of_era / 146_096) / 365;
    let of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * of_year + 2) / 153;
    let day = of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    ((month, day), year)
}

/// A parsed IP address: its canonical text when that differs from the input, and its /24
/// (IPv4) or /48 (IPv6) network key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedIp {
    pub addr: IpAddr,
    /// `None` when the trimmed input already is the canonical text (the common case, which
    /// then costs no allocation).
    pub text: Option<String>,
    pub network: u64,
}

impl ParsedIp {
    /// The canonical text.
    pub fn canonical(&self) -> String {
        self.addr.to_string()
    }
}

/// Parses an IPv4 or IPv6 address; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes IPv4.
pub fn parse_ip(text: &str) -> Result<ParsedIp, &'static str> {
    let trimmed = text.trim();
    let parsed: IpAddr = trimmed.parse().map_err(|_| "invalid IP address")?;
    let addr = canonical_ip(parsed);
    // A dotted IPv4 address parsed by std has no leading zeros or other spellings, so its
    // text is canonical as given; IPv6 has many spellings and is rewritten when they differ.
    let text = match (parsed, addr) {
        (IpAddr::V4(_), _) => None,
        _ => Some(addr.to_string()).filter(|canonical| canonical != trimmed),
    };
    Ok(ParsedIp {
        addr,
        text,
        network: network_key(addr),
    })
}

/// IPv4-mapped IPv6 turned into IPv4; anything else unchanged.
pub fn canonical_ip(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// IPv4: `2^32 + (addr >> 8)`; IPv6: top 48 bits `<< 16`. The two ranges cannot collide
/// because an IPv6 key below `2^33` would need a /48 inside `::/31`, which is not routable.
pub fn network_key(addr: IpAddr) -> u64 {
    match addr {
        IpAddr::V4(v4) => (1u64 << 32) + u64::from(u32::from(v4) >> 8),
        IpAddr::V6(v6) => ((u128::from(v6) >> 80) as u64) << 16,
    }
}

/// Trims a text value; empty text is no value.
pub fn non_empty(value: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    match value {
        Some(Cow::Borrowed(s)) => {
            let t = s.trim();
            (!t.is_empty()).then_some(Cow::Borrowed(t))
        }
        Some(Cow::Owned(s)) => {
            let t = s.trim();
            if t.is_empty() {
                None
            } else if t.len() == s.len() {
                Some(Cow::Owned(s))
            } else {
                Some(Cow::Owned(t.to_string()))
            }
        }
        None => None,
    }
}

/// Lowercases without allocating when the text is already lowercase.
pub fn lowercase(value: Cow<'_, str>) -> Cow<'_, str> {
    if value.bytes().any(|b| b.is_ascii_uppercase()) || !value.is_ascii() {
        Cow::Owned(value.to_lowercase())
    } else {
        value
    }
}

/// Parses an integer written as a number or as text (`50126`, `"50126"`, `" 0 "`).
pub fn parse_int(text: &str) -> Result<i64, &'static str> {
    let t = text.trim();
    t.parse::<i64>()
        .or_else(|_| match t.parse::<f64>() {
            Ok(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
            _ => Err(()),
        })
        .map_err(|_| "not an integer")
}

/// Parses a boolean written as `true`/`false` in any case, or `1`/`0`.
pub fn parse_bool(text: &str) -> Result<bool, &'static str> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("true") || t == "1" {
        Ok(true)
    } else if t.eq_ignore_ascii_case("false") || t == "0" {
        Ok(false)
    } else {
        Err("not a boolean")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_as_chrono_formats_them() {
        let chrono_text = |micros: i64| {
            chrono::DateTime::from_timestamp_micros(micros)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
                .unwrap_or_else(|| micros.to_string())
        };
        let day = 86_400_000_000i64;
        let mut samples = vec![0, -1, 1, i64::MIN, i64::MAX, 951_782_400_000_000];
        // Every day of four centuries around 2000 (leap days, century years), at varied
        // times of day, and far years either side of the four-digit range.
        for k in -80_000i64..80_000 {
            samples.push(k * day + (k * 7_919_993).rem_euclid(day));
        }
        for year_micros in [-62_167_219_200_000_000i64, 253_402_300_800_000_000] {
            for delta in [-day, -1, 0, 1, day] {
                samples.push(year_micros + delta);
            }
        }
        for micros in samples {
            assert_eq!(format_time(micros), chrono_text(micros), "{micros}");
        }
    }

    fn iso(t: &str) -> String {
        format_time(parse_time(t).unwrap())
    }

    #[test]
    fn iso_times_with_zero_to_seven_fraction_digits() {
        assert_eq!(iso("2025-03-12T07:22:01Z"), "2025-03-12T07:22:01.000000Z");
        assert_eq!(iso("2025-03-12T07:22:01.5Z"), "2025-03-12T07:22:01.500000Z");
        assert_eq!(
            iso("2019-03-12T16:02:15.5522137Z"),
            "2019-03-12T16:02:15.552213Z"
        );
        assert_eq!(iso("2025-03-12 07:22:01"), "2025-03-12T07:22:01.000000Z");
    }

    #[test]
    fn windows_powershell_json_dates_are_milliseconds_since_the_epoch() {
        assert_eq!(iso("/Date(1740832938000)/"), "2025-03-01T12:42:18.000000Z");
        assert_eq!(
            iso("/Date(1740832938123+0100)/"),
            "2025-03-01T12:42:18.123000Z"
        );
        assert_eq!(iso("/Date(-1000)/"), "1969-12-31T23:59:59.000000Z");
        assert!(parse_time("0000-01-01T00:00:00Z").is_err());
        assert!(parse_time("9999-12-31T23:59:59-05:00").is_err());
        for bad in [
            "/Date()/",
            "/Date(12x)/",
            "/Date(1+01)/",
            "/Date(99999999999999999)/",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        assert_eq!(
            iso("2025-03-12T07:22:01+00:00"),
            "2025-03-12T07:22:01.000000Z"
        );
        assert_eq!(
            iso("2025-03-12T02:22:01-05:00"),
            "2025-03-12T07:22:01.000000Z"
        );
        assert_eq!(
            iso("2025-03-12T09:22:01+0200"),
            "2025-03-12T07:22:01.000000Z"
        );
        assert_eq!(
            iso("2025-01-01T00:30:00+01:00"),
            "2024-12-31T23:30:00.000000Z"
        );
    }

    #[test]
    fn us_style_times_from_portal_and_log_analytics_csv() {
        assert_eq!(iso("3/12/2025 7:22:01 AM"), "2025-03-12T07:22:01.000000Z");
        assert_eq!(
            iso("4/28/2021, 2:08:45.221 PM"),
            "2021-04-28T14:08:45.221000Z"
        );
        assert_eq!(iso("12/1/2024 12:05:00 AM"), "2024-12-01T00:05:00.000000Z");
        assert_eq!(iso("12/1/2024 12:05:00 PM"), "2024-12-01T12:05:00.000000Z");
        assert_eq!(iso("25/3/2025 17:00"), "2025-03-25T17:00:00.000000Z");
    }

    #[test]
    fn bad_times_are_rejected_with_a_reason() {
        for bad in [
            "",
            "yesterday",
            "2025-13-01T00:00:00Z",
            "2025-02-30T00:00:00Z",
            "2025-03-12",
            "2025-03-12T25:00:00Z",
            "2025-03-12T07:22:01Zjunk",
            "13/13/2025 1:00 PM",
        ] {
            assert!(parse_time(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn ips_are_canonicalised() {
        assert_eq!(
            parse_ip(" 203.0.113.7 ").unwrap().canonical(),
            "203.0.113.7"
        );
        assert_eq!(parse_ip("203.0.113.7").unwrap().text, None);
        assert_eq!(
            parse_ip("::ffff:203.0.113.7").unwrap().text.as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            parse_ip("2001:DB8:0:0:0:0:0:1").unwrap().text.as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(parse_ip("2001:db8::1").unwrap().text, None);
        assert!(parse_ip("203.0.113.300").is_err());
        assert!(parse_ip("not-an-ip").is_err());
    }

    #[test]
    fn network_keys_group_by_slash_24_and_slash_48() {
        let a = parse_ip("203.0.113.7").unwrap().network;
        let b = parse_ip("203.0.113.200").unwrap().network;
        let c = parse_ip("203.0.114.7").unwrap().network;
        assert_eq!(a, b);
        assert_ne!(a, c);
        let d = parse_ip("2001:db8:1:aaaa::1").unwrap().network;
        let e = parse_ip("2001:db8:1:bbbb::2").unwrap().network;
        let f = parse_ip("2001:db8:2::1").unwrap().network;
        assert_eq!(d, e);
        assert_ne!(d, f);
    }

    #[test]
    fn lenient_numbers_and_booleans() {
        assert_eq!(parse_int("50126"), Ok(50126));
        assert_eq!(parse_int(" 0 "), Ok(0));
        assert_eq!(parse_int("13.0"), Ok(13));
        assert!(parse_int("abc").is_err());
        assert_eq!(parse_bool("True"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert!(parse_bool("maybe").is_err());
    }
}
