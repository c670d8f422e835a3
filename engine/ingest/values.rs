//! Field-level parsing shared by every reader: time stamps, IP addresses, lenient numbers.
//!
//! Exports disagree on how a value is written (an error code as a number or a string, a time
//! with 0 to 7 fractional digits, a US-style date from a spreadsheet), so each parser here
//! accepts every spelling seen in real exports and rejects the rest with a short reason.

use std::borrow::Cow;

// Times and addresses are the frame's primitives (`frame/time.rs`, `frame/ip.rs`): every
// layer reads them, and detectors and enrichment must not depend on the readers.
pub use crate::frame::ip::{canonical_ip, network_key, parse_ip, ParsedIp};
pub use crate::frame::time::{format_time, parse_time, Micros};

/// `s` without the whitespace at its ends. Nearly every value has none: when both end
/// bytes are printable ASCII (no whitespace character starts with such a byte) the
/// character-by-character check of `str::trim` is passed over.
fn trimmed(s: &str) -> &str {
    let plain = |b: &u8| (b'!'..0x80).contains(b);
    match s.as_bytes() {
        [first, .., last] if plain(first) && plain(last) => s,
        [only] if plain(only) => s,
        _ => s.trim(),
    }
}

/// Trims a text value; empty text is no value.
pub fn non_empty(value: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    match value {
        Some(Cow::Borrowed(s)) => {
            let t = trimmed(s);
            (!t.is_empty()).then_some(Cow::Borrowed(t))
        }
        Some(Cow::Owned(s)) => {
            let t = trimmed(&s);
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
    fn text_is_trimmed_as_str_trim_trims_it() {
        let ends = [
            "", "a", "\u{7f}", " ", "\t", "\u{b}", "\u{85}", "\u{a0}", "\u{2009}", "\u{3000}", "é",
            "~",
        ];
        for left in ends {
            for right in ends {
                for middle in ["", "x", " y ", "Oslo"] {
                    let s = format!("{left}{middle}{right}");
                    assert_eq!(trimmed(&s), s.trim(), "{s:?}");
                }
            }
        }
        assert_eq!(non_empty(Some(Cow::Borrowed(" \u{a0}"))), None);
        assert_eq!(
            non_empty(Some(Cow::Owned("Oslo\u{2028}".into()))).as_deref(),
            Some("Oslo")
        );
    }

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
