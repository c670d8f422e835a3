//! Sign-in times: UTC microseconds since the epoch, parsed from every spelling exports use
//! and formatted back as RFC 3339. A leaf: it depends on nothing else in the crate.

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
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
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
