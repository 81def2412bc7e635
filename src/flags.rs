//! Argument parsing with spf13/pflag semantics, which etcdctl users and
//! scripts rely on: interspersed flags, `--flag value` taking the next word
//! even if it starts with `-`, `--bool=false`, grouped shorthands, `--`,
//! repeated flags overriding (string slices appending), and pflag's exact
//! error texts. clap's parser differs in all of these details, so clap is
//! used only to describe the tree for completions and man pages.

use std::collections::HashMap;

use crate::gofmt;
use crate::spec::{FlagSpec, Kind};

/// Arguments are bytes in etcdctl (keys and values may be any bytes). To
/// parse them as text without losing anything, bytes that are not valid
/// UTF-8 are carried as private-use characters U+10FF80..=U+10FFFF and
/// turned back into bytes by [`unescape_arg`].
const RAW_BASE: u32 = 0x10_FF00;

/// Lossless text form of an argument's bytes.
pub fn escape_arg(mut b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    while !b.is_empty() {
        match std::str::from_utf8(b) {
            Ok(v) => {
                s.push_str(v);
                break;
            }
            Err(e) => {
                let (good, rest) = b.split_at(e.valid_up_to());
                s.push_str(std::str::from_utf8(good).unwrap_or_default());
                let bad = e.error_len().unwrap_or(rest.len()).max(1);
                for &byte in &rest[..bad] {
                    s.push(char::from_u32(RAW_BASE + u32::from(byte)).unwrap_or('\u{fffd}'));
                }
                b = &rest[bad..];
            }
        }
    }
    s
}

/// The original bytes of an argument escaped by [`escape_arg`].
pub fn unescape_arg(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        let u = c as u32;
        if (RAW_BASE + 0x80..=RAW_BASE + 0xff).contains(&u) {
            out.push((u - RAW_BASE) as u8);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

/// A parsed flag value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    Str(String),
    StrSlice(Vec<String>),
    Duration(i64),
    Int64(i64),
}

/// The flags known to one command (local + inherited) and their values.
#[derive(Clone, Debug, Default)]
pub struct FlagSet {
    specs: Vec<&'static FlagSpec>,
    values: HashMap<&'static str, Value>,
    /// Flags set on the command line (pflag `Changed`).
    changed: HashMap<&'static str, bool>,
    /// How many positional arguments came before a `--` (cobra's
    /// `ArgsLenAtDash`); `None` without a `--`.
    dash_at: Option<usize>,
}

/// `help` is a flag on every cobra command.
pub static HELP_FLAG: FlagSpec = FlagSpec {
    name: "help",
    short: Some('h'),
    kind: Kind::Bool,
    default: "false",
    usage: "",
};

impl FlagSet {
    pub fn new(specs: Vec<&'static FlagSpec>) -> FlagSet {
        let mut fs = FlagSet {
            specs,
            values: HashMap::new(),
            changed: HashMap::new(),
            dash_at: None,
        };
        fs.specs.push(&HELP_FLAG);
        for s in fs.specs.clone() {
            // Defaults in the spec are always valid.
            if let Ok(v) = parse_value(s, s.default, None) {
                fs.values.insert(s.name, v);
            }
        }
        fs
    }

    pub fn lookup(&self, name: &str) -> Option<&'static FlagSpec> {
        self.specs.iter().copied().find(|s| s.name == name)
    }

    fn lookup_short(&self, c: char) -> Option<&'static FlagSpec> {
        self.specs.iter().copied().find(|s| s.short == Some(c))
    }

    /// Whether `--name` takes no separate value (bool flags).
    pub fn is_bool(&self, name: &str) -> bool {
        self.lookup(name).is_some_and(|s| s.kind == Kind::Bool)
    }

    pub fn is_bool_short(&self, c: char) -> bool {
        self.lookup_short(c).is_some_and(|s| s.kind == Kind::Bool)
    }

    pub fn specs(&self) -> &[&'static FlagSpec] {
        &self.specs
    }

    /// The number of positional arguments before `--`, if one was given.
    pub fn args_len_at_dash(&self) -> Option<usize> {
        self.dash_at
    }

    pub fn changed(&self, name: &str) -> bool {
        self.changed.get(name).copied().unwrap_or(false)
    }

    /// pflag `Set`: parse and store; used for the command line and env.
    pub fn set(&mut self, name: &str, raw: &str) -> Result<(), String> {
        let spec = self
            .lookup(name)
            .ok_or_else(|| format!("no such flag -{name}"))?;
        let prev = if self.changed(name) {
            self.values.get(spec.name).cloned()
        } else {
            None
        };
        let v = parse_value(spec, raw, prev).map_err(|e| {
            let flag_name = match spec.short {
                Some(c) => format!("-{c}, --{}", spec.name),
                None => format!("--{}", spec.name),
            };
            format!(
                "invalid argument {} for {} flag: {e}",
                gofmt::quote(raw.as_bytes()),
                gofmt::quote(flag_name.as_bytes())
            )
        })?;
        self.values.insert(spec.name, v);
        self.changed.insert(spec.name, true);
        Ok(())
    }

    pub fn bool(&self, name: &str) -> bool {
        matches!(self.values.get(name), Some(Value::Bool(true)))
    }

    pub fn string(&self, name: &str) -> String {
        match self.values.get(name) {
            Some(Value::Str(s)) => s.clone(),
            _ => String::new(),
        }
    }

    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.values.get(name) {
            Some(Value::StrSlice(v)) => v.clone(),
            _ => Vec::new(),
        }
    }

    pub fn duration(&self, name: &str) -> i64 {
        match self.values.get(name) {
            Some(Value::Duration(d)) => *d,
            _ => 0,
        }
    }

    pub fn int64(&self, name: &str) -> i64 {
        match self.values.get(name) {
            Some(Value::Int64(v)) => *v,
            _ => 0,
        }
    }

    /// pflag's `Value.String()`, as `--debug` prints it.
    pub fn display(&self, name: &str) -> String {
        match self.values.get(name) {
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::Str(s)) => s.clone(),
            Some(Value::StrSlice(v)) => format!("[{}]", v.join(",")),
            Some(Value::Duration(d)) => gofmt::format_duration(*d),
            Some(Value::Int64(v)) => v.to_string(),
            None => String::new(),
        }
    }

    /// Parses `args` like pflag's `Parse` with interspersed flags. Returns
    /// the positional arguments.
    pub fn parse(&mut self, args: &[String]) -> Result<Vec<String>, String> {
        let mut positional = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let s = &args[i];
            i += 1;
            if s.len() < 2 || !s.starts_with('-') {
                positional.push(s.clone());
                continue;
            }
            if s == "--" {
                self.dash_at = Some(positional.len());
                positional.extend(args[i..].iter().cloned());
                break;
            }
            if let Some(body) = s.strip_prefix("--") {
                if body.starts_with('-') || body.starts_with('=') {
                    return Err(format!("bad flag syntax: {s}"));
                }
                let (name, inline) = match body.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (body, None),
                };
                let spec = self
                    .lookup(name)
                    .ok_or_else(|| format!("unknown flag: --{name}"))?;
                let value = match inline {
                    Some(v) => v.to_string(),
                    None if spec.kind == Kind::Bool => "true".to_string(),
                    None if i < args.len() => {
                        i += 1;
                        args[i - 1].clone()
                    }
                    None => return Err(format!("flag needs an argument: {s}")),
                };
                self.set(spec.name, &value)?;
            } else {
                let mut shorts: &str = &s[1..];
                while let Some(c) = shorts.chars().next() {
                    let group = shorts;
                    shorts = &shorts[c.len_utf8()..];
                    let spec = self
                        .lookup_short(c)
                        .ok_or_else(|| format!("unknown shorthand flag: '{c}' in -{group}"))?;
                    let value = if let Some(v) = shorts.strip_prefix('=').filter(|v| !v.is_empty())
                    {
                        shorts = "";
                        v.to_string()
                    } else if spec.kind == Kind::Bool {
                        "true".to_string()
                    } else if !shorts.is_empty() {
                        let v = shorts.to_string();
                        shorts = "";
                        v
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        return Err(format!("flag needs an argument: '{c}' in -{group}"));
                    };
                    self.set(spec.name, &value)?;
                }
            }
        }
        Ok(positional)
    }
}

fn parse_value(spec: &FlagSpec, raw: &str, prev: Option<Value>) -> Result<Value, String> {
    Ok(match spec.kind {
        Kind::Bool => Value::Bool(gofmt::parse_bool(raw)?),
        Kind::Str => Value::Str(raw.to_string()),
        Kind::Duration => Value::Duration(gofmt::parse_duration(raw)?),
        Kind::Int64 => Value::Int64(parse_int_base0(raw)?),
        Kind::StrSlice => {
            // The default is shown as `[a]`; a set value is CSV.
            let items = if prev.is_none()
                && raw.starts_with('[')
                && raw.ends_with(']')
                && raw == spec.default
            {
                read_csv(&raw[1..raw.len() - 1])
            } else {
                read_csv(raw)
            };
            match prev {
                Some(Value::StrSlice(mut v)) => {
                    v.extend(items);
                    Value::StrSlice(v)
                }
                _ => Value::StrSlice(items),
            }
        }
    })
}

/// `strconv.ParseInt(s, 0, 64)` as pflag's int64 flags use it.
fn parse_int_base0(s: &str) -> Result<i64, String> {
    let (sign, body) = match s.as_bytes().first() {
        Some(b'-') => ("-", &s[1..]),
        Some(b'+') => ("", &s[1..]),
        _ => ("", s),
    };
    let lower = body.to_ascii_lowercase();
    let (base, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    let digits = if base != 10 || digits.contains('_') {
        if digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
            String::from("!")
        } else {
            digits.replace('_', "")
        }
    } else {
        digits
    };
    gofmt::parse_int(&format!("{sign}{digits}"), base).map_err(|e| {
        // Report the original text, as Go does.
        match e.rsplit_once(": ") {
            Some((_, what)) => format!(
                "strconv.ParseInt: parsing {}: {what}",
                gofmt::quote(s.as_bytes())
            ),
            None => e,
        }
    })
}

/// One line of Go's `encoding/csv` as pflag's string slices read it.
fn read_csv(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut at_start = true;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' if at_start => quoted = true,
            ',' => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
                continue;
            }
            _ => cur.push(c),
        }
        at_start = false;
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::GLOBAL_FLAGS;

    fn fs() -> FlagSet {
        FlagSet::new(GLOBAL_FLAGS.iter().collect())
    }

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn endpoints_repeat_appends() {
        let mut f = fs();
        assert_eq!(f.strings("endpoints"), vec!["127.0.0.1:2379"]);
        f.parse(&args(&["--endpoints=a", "--endpoints", "a,b"]))
            .unwrap();
        assert_eq!(f.strings("endpoints"), vec!["a", "a", "b"]);
    }

    #[test]
    fn pflag_errors() {
        let mut f = fs();
        assert_eq!(
            f.parse(&args(&["--bogus=1"])).unwrap_err(),
            "unknown flag: --bogus"
        );
        assert_eq!(
            f.parse(&args(&["-x"])).unwrap_err(),
            "unknown shorthand flag: 'x' in -x"
        );
        assert_eq!(
            f.parse(&args(&["-w"])).unwrap_err(),
            "flag needs an argument: 'w' in -w"
        );
        assert_eq!(
            f.parse(&args(&["--dial-timeout"])).unwrap_err(),
            "flag needs an argument: --dial-timeout"
        );
        assert_eq!(
            f.parse(&args(&["--dial-timeout=abc"])).unwrap_err(),
            "invalid argument \"abc\" for \"--dial-timeout\" flag: time: invalid duration \"abc\""
        );
        assert_eq!(
            f.parse(&args(&["--hex=maybe"])).unwrap_err(),
            "invalid argument \"maybe\" for \"--hex\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
    }

    #[test]
    fn interspersed_and_terminator() {
        let mut f = fs();
        let pos = f
            .parse(&args(&["a", "-wjson", "--hex", "b", "--", "-c", "--d"]))
            .unwrap();
        assert_eq!(pos, vec!["a", "b", "-c", "--d"]);
        assert_eq!(f.string("write-out"), "json");
        assert!(f.bool("hex"));
        assert!(f.changed("hex"));
        assert!(!f.changed("debug"));
        let mut f = fs();
        f.parse(&args(&["-w=table", "--user", "-x"])).unwrap();
        assert_eq!(f.string("write-out"), "table");
        assert_eq!(f.string("user"), "-x");
    }

    #[test]
    fn raw_bytes_round_trip() {
        let raw = b"k\xffb\xfe\xe2\x82";
        let s = escape_arg(raw);
        assert_eq!(unescape_arg(&s), raw.to_vec());
        assert_eq!(escape_arg("é".as_bytes()), "é");
    }

    #[test]
    fn int_base0() {
        assert_eq!(parse_int_base0("0x10"), Ok(16));
        assert_eq!(parse_int_base0("-3"), Ok(-3));
        assert_eq!(
            parse_int_base0("abc").unwrap_err(),
            "strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
    }
}
