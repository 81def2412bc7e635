//! Small re-implementations of the Go standard-library formatting that
//! etcdctl's output depends on: `time.ParseDuration`/`Duration.String()`,
//! `strconv.Quote` (`%q`), `strconv.ParseBool`/`ParseInt` error texts and
//! go-humanize's `Bytes`. Byte-for-byte output compatibility needs the Go
//! rules, not Rust's or humantime's: humantime reads `1m30s` but not Go's
//! fractions (`1.5s`), signs (`-3h`) or `µs`, and its errors and its
//! formatting (`1m 30s` for Go's `1m30s`) differ.

use std::fmt::Write as _;

/// A Go `time.Duration`: signed nanoseconds.
pub type GoDuration = i64;

const NS: i64 = 1;
const US: i64 = 1_000;
const MS: i64 = 1_000_000;
const SEC: i64 = 1_000_000_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;

fn unit_value(u: &str) -> Option<i64> {
    Some(match u {
        "ns" => NS,
        "us" | "\u{b5}s" | "\u{3bc}s" => US,
        "ms" => MS,
        "s" => SEC,
        "m" => MIN,
        "h" => HOUR,
        _ => return None,
    })
}

/// Parses a duration the way Go's `time.ParseDuration` does (Go 1.16 error
/// texts). Accepts forms such as `2s`, `1m30s`, `500ms`, `1.5s`, `-3h`, `0`.
pub fn parse_duration(orig: &str) -> Result<GoDuration, String> {
    let invalid = || format!("time: invalid duration {}", quote(orig.as_bytes()));
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some((&c, rest)) = s.split_first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            s = rest;
        }
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    // Accumulate in u128 so that overflow can be detected like Go does
    // (Go rejects anything above 1<<63-1 ns).
    let limit: u128 = i64::MAX as u128;
    let mut total: u128 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = s.iter().take_while(|c| c.is_ascii_digit()).count();
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part: &[u8] = &[];
        let mut had_dot = false;
        if s.first() == Some(&b'.') {
            had_dot = true;
            s = &s[1..];
            let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
            frac_part = &s[..n];
            s = &s[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            // "." alone or ".s": no digits at all.
            let _ = had_dot;
            return Err(invalid());
        }
        let unit_len = s
            .iter()
            .take_while(|&&c| c != b'.' && !c.is_ascii_digit())
            .count();
        if unit_len == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                quote(orig.as_bytes())
            ));
        }
        let unit_bytes = &s[..unit_len];
        s = &s[unit_len..];
        let unit_str = String::from_utf8_lossy(unit_bytes);
        let unit = match unit_value(&unit_str) {
            Some(u) => u as u128,
            None => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(unit_bytes),
                    quote(orig.as_bytes())
                ))
            }
        };
        let mut v: u128 = 0;
        for &d in int_part {
            v = v * 10 + u128::from(d - b'0');
            if v > limit {
                return Err(invalid());
            }
        }
        v *= unit;
        if v > limit {
            return Err(invalid());
        }
        if !frac_part.is_empty() {
            // Go scales the fraction digit by digit, truncating.
            let mut f: u128 = 0;
            let mut scale: u128 = 1;
            for &d in frac_part {
                if f > limit / 10 {
                    break; // remaining digits cannot matter
                }
                f = f * 10 + u128::from(d - b'0');
                scale *= 10;
            }
            v += f * unit / scale;
            if v > limit {
                return Err(invalid());
            }
        }
        total += v;
        if total > limit {
            return Err(invalid());
        }
    }
    let t = total as i64;
    Ok(if neg { -t } else { t })
}

/// Formats like Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `850µs`, `0s`.
pub fn format_duration(d: GoDuration) -> String {
    if d == 0 {
        return "0s".to_string();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < SEC as u64 {
        let (unit, div) = if u < US as u64 {
            ("ns", 1u64)
        } else if u < MS as u64 {
            ("\u{b5}s", US as u64)
        } else {
            ("ms", MS as u64)
        };
        out.push_str(&frac_str(u, div));
        out.push_str(unit);
    } else {
        let secs_total = u / SEC as u64;
        let nanos = u % SEC as u64;
        let hours = secs_total / 3600;
        let mins = (secs_total / 60) % 60;
        let secs = secs_total % 60;
        if hours > 0 {
            let _ = write!(out, "{hours}h");
        }
        if hours > 0 || mins > 0 {
            let _ = write!(out, "{mins}m");
        }
        out.push_str(&frac_str(secs * SEC as u64 + nanos, SEC as u64));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// `v / div` with the fractional part printed without trailing zeros.
fn frac_str(v: u64, div: u64) -> String {
    let int = v / div;
    let frac = v % div;
    if frac == 0 {
        return int.to_string();
    }
    let width = div.trailing_zeros_base10();
    let mut f = format!("{frac:0width$}");
    while f.ends_with('0') {
        f.pop();
    }
    format!("{int}.{f}")
}

trait Base10 {
    fn trailing_zeros_base10(self) -> usize;
}
impl Base10 for u64 {
    fn trailing_zeros_base10(mut self) -> usize {
        let mut n = 0;
        while self >= 10 && self % 10 == 0 {
            self /= 10;
            n += 1;
        }
        n
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {}: invalid syntax",
            quote(s.as_bytes())
        )),
    }
}

/// Go's `strconv.ParseInt(s, base, 64)` for bases 10 and 16, with its errors.
pub fn parse_int(s: &str, base: u32) -> Result<i64, String> {
    let err = |what: &str| format!("strconv.ParseInt: parsing {}: {what}", quote(s.as_bytes()));
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(base)) {
        return Err(err("invalid syntax"));
    }
    let mag = match u128::from_str_radix(digits, base) {
        Ok(v) => v,
        Err(_) => return Err(err("value out of range")),
    };
    let max = if neg { 1u128 << 63 } else { (1u128 << 63) - 1 };
    if mag > max {
        return Err(err("value out of range"));
    }
    Ok(if neg {
        (mag as i128).wrapping_neg() as i64
    } else {
        mag as i64
    })
}

/// Go's `strconv.ParseUint(s, base, 64)`.
pub fn parse_uint(s: &str, base: u32) -> Result<u64, String> {
    let err = |what: &str| format!("strconv.ParseUint: parsing {}: {what}", quote(s.as_bytes()));
    if s.is_empty() || !s.chars().all(|c| c.is_digit(base)) {
        return Err(err("invalid syntax"));
    }
    u64::from_str_radix(s, base).map_err(|_| err("value out of range"))
}

/// Go 1.16's `strconv.IsPrint` (see [`crate::gofmt_print`]).
fn is_go_print(c: char) -> bool {
    let u = c as u32;
    let table = crate::gofmt_print::NOT_PRINT;
    let i = table.partition_point(|&(_, hi)| hi < u);
    !table.get(i).is_some_and(|&(lo, _)| lo <= u)
}

/// Go's `strconv.Quote` (what `%q` prints for a string), applied to raw bytes.
pub fn quote(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 2);
    out.push('"');
    let mut rest = b;
    while !rest.is_empty() {
        let (c, width) = decode_rune(rest);
        match c {
            None => {
                let _ = write!(out, "\\x{:02x}", rest[0]);
            }
            Some(c) => push_quoted_char(&mut out, c),
        }
        rest = &rest[width..];
    }
    out.push('"');
    out
}

fn push_quoted_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        c if is_go_print(c) => out.push(c),
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        // Go 1.16 gives DEL the \u form, not \x
        c if (c as u32) < 0x20 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// Decodes one UTF-8 sequence; `None` with width 1 for an invalid byte, as
/// Go's `utf8.DecodeRune` reports `RuneError`.
pub fn decode_rune(b: &[u8]) -> (Option<char>, usize) {
    let len = match b[0] {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return (None, 1),
    };
    if b.len() < len {
        return (None, 1);
    }
    match std::str::from_utf8(&b[..len]) {
        Ok(s) => (s.chars().next(), len),
        Err(_) => (None, 1),
    }
}

/// go-humanize v1.0.0 `Bytes`: SI units, `%.0f`/`%.1f` with Go rounding.
pub fn humanize_bytes(s: u64) -> String {
    const SIZES: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if s < 10 {
        return format!("{s} B");
    }
    let base = 1000f64;
    let e = ((s as f64).ln() / base.ln()).floor();
    let suffix = SIZES.get(e as usize).copied().unwrap_or("EB");
    let val = ((s as f64) / base.powf(e) * 10.0 + 0.5).floor() / 10.0;
    // Rust's fixed-precision formatting rounds exact ties to even, like Go's.
    if val < 10.0 {
        format!("{val:.1} {suffix}")
    } else {
        format!("{val:.0} {suffix}")
    }
}

/// Go's `%v` of a `[]string`: `[a b c]`.
pub fn string_slice(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renderings read off etcdctl 3.5.1's `-w fields`.
    #[test]
    fn quotes_as_go_1_16() {
        let q = |s: &str| quote(s.as_bytes());
        assert_eq!(quote(b"\x7f"), "\"\\u007f\"");
        assert_eq!(quote(b"\x00\x1f"), "\"\\x00\\x1f\"");
        assert_eq!(
            quote(b"\xc2\xa0\xc2\xad\xc2\xa1"),
            "\"\\u00a0\\u00ad\u{a1}\""
        );
        assert_eq!(q("\u{378}"), "\"\\u0378\"");
        assert_eq!(q("\u{de0}"), "\"\\u0de0\"");
        assert_eq!(q("\u{d7ff}"), "\"\\ud7ff\"");
        assert_eq!(q("\u{1fffe}"), "\"\\U0001fffe\"");
        assert_eq!(q("\u{31350}"), "\"\\U00031350\"");
        // added in Unicode 14, after Go 1.16
        assert_eq!(q("\u{870}"), "\"\\u0870\"");
        assert_eq!(q("\u{1fad7}"), "\"\\U0001fad7\"");
        assert_eq!(q("é€😀\u{fffd}"), "\"é€😀\u{fffd}\"");
        assert_eq!(q("\u{2028}\u{feff}\u{e000}"), "\"\\u2028\\ufeff\\ue000\"");
        assert_eq!(quote(b"\xed\xa0\x80\xff"), "\"\\xed\\xa0\\x80\\xff\"");
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("2s"), Ok(2 * SEC));
        assert_eq!(parse_duration("1m30s"), Ok(90 * SEC));
        assert_eq!(parse_duration("500ms"), Ok(500 * MS));
        assert_eq!(parse_duration("1.5s"), Ok(1500 * MS));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("-3h"), Ok(-3 * HOUR));
        assert_eq!(parse_duration(".5s"), Ok(500 * MS));
        assert_eq!(parse_duration("1µs"), Ok(US));
        assert_eq!(
            parse_duration("1h1m1s1ms1us1ns"),
            Ok(HOUR + MIN + SEC + MS + US + 1)
        );
        assert_eq!(
            parse_duration("abc").unwrap_err(),
            "time: invalid duration \"abc\""
        );
        assert_eq!(
            parse_duration("").unwrap_err(),
            "time: invalid duration \"\""
        );
        assert_eq!(
            parse_duration("1").unwrap_err(),
            "time: missing unit in duration \"1\""
        );
        assert_eq!(
            parse_duration("1x").unwrap_err(),
            "time: unknown unit \"x\" in duration \"1x\""
        );
        assert_eq!(
            parse_duration("3000000h").unwrap_err(),
            "time: invalid duration \"3000000h\""
        );
        assert!(parse_duration("1.s").is_ok());
        assert!(parse_duration(".s").is_err());
    }

    #[test]
    fn durations_format_like_go() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(1), "1ns");
        assert_eq!(format_duration(850 * US), "850µs");
        assert_eq!(format_duration(3_748_913), "3.748913ms");
        assert_eq!(format_duration(5_000_457_702), "5.000457702s");
        assert_eq!(format_duration(62 * SEC + 500 * MS), "1m2.5s");
        assert_eq!(format_duration(HOUR), "1h0m0s");
        assert_eq!(format_duration(-1500 * MS), "-1.5s");
        assert_eq!(format_duration(2 * SEC), "2s");
    }

    #[test]
    fn humanize_matches_go_humanize() {
        assert_eq!(humanize_bytes(0), "0 B");
        assert_eq!(humanize_bytes(9), "9 B");
        assert_eq!(humanize_bytes(20480), "20 kB");
        assert_eq!(humanize_bytes(24576), "25 kB");
        assert_eq!(humanize_bytes(176128), "176 kB");
        assert_eq!(humanize_bytes(1536), "1.5 kB");
        assert_eq!(humanize_bytes(1000), "1.0 kB");
        assert_eq!(humanize_bytes(1_000_000), "1.0 MB");
        assert_eq!(humanize_bytes(999), "999 B");
    }

    #[test]
    fn quote_matches_go() {
        assert_eq!(quote(b"foo"), "\"foo\"");
        assert_eq!(quote(b"val\"q"), "\"val\\\"q\"");
        assert_eq!(quote(b"k\xffb"), "\"k\\xffb\"");
        assert_eq!(quote(b"a\nb\x00"), "\"a\\nb\\x00\"");
        assert_eq!(quote("é\u{a0}".as_bytes()), "\"é\\u00a0\"");
    }

    #[test]
    fn parse_numbers_like_strconv() {
        assert_eq!(parse_int("ff", 16), Ok(255));
        assert_eq!(
            parse_int("zz", 16).unwrap_err(),
            "strconv.ParseInt: parsing \"zz\": invalid syntax"
        );
        assert_eq!(
            parse_int("abc", 10).unwrap_err(),
            "strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
        assert_eq!(parse_int("-9223372036854775808", 10), Ok(i64::MIN));
        assert!(parse_int("9223372036854775808", 10)
            .unwrap_err()
            .ends_with("value out of range"));
        assert_eq!(parse_bool("T"), Ok(true));
        assert_eq!(
            parse_bool("maybe").unwrap_err(),
            "strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
    }
}
