//! pflag's value types as clap value parsers, and [`Flags`], the parsed
//! values of one command (made by [`crate::parse`]).
//!
//! Every flag of the clap tree holds one of five newtypes ([`Bool`],
//! [`Dur`], [`Int`], [`Text`], [`List`]); clap picks the parser from the
//! type, and the type tells the help renderer and the `ETCDCTL_*` rules
//! which pflag kind a flag is. The parsers accept what pflag accepts (Go's
//! `ParseBool`, `ParseDuration`, `ParseInt(s, 0, 64)`, CSV slices) and fail
//! with pflag's `invalid argument …` text.

use std::ffi::OsStr;

use clap::builder::{PossibleValue, TypedValueParser, ValueParserFactory};
use clap::error::ErrorKind;
use clap::{Arg, ArgMatches, Command};

use crate::gofmt;

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

/// pflag `bool`: `--x`, `--x=false`, never `--x false`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bool(pub bool);
/// pflag `duration`, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dur(pub i64);
/// pflag `int64`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Int(pub i64);
/// pflag `string`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Text(pub String);
/// pflag `stringSlice`: CSV items; repeating the flag appends.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct List(pub Vec<String>);

macro_rules! deref {
    ($($ty:ident => $inner:ty),*) => {$(
        impl std::ops::Deref for $ty {
            type Target = $inner;
            fn deref(&self) -> &$inner {
                &self.0
            }
        }
    )*};
}
deref!(Bool => bool, Dur => i64, Int => i64, Text => String, List => Vec<String>);

/// The pflag kind of a flag, known from its value type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Dur,
    Int,
    Text,
    List,
}

pub fn kind(arg: &Arg) -> Option<Kind> {
    use std::any::TypeId;
    let t = arg.get_value_parser().type_id();
    [
        (TypeId::of::<Bool>(), Kind::Bool),
        (TypeId::of::<Dur>(), Kind::Dur),
        (TypeId::of::<Int>(), Kind::Int),
        (TypeId::of::<Text>(), Kind::Text),
        (TypeId::of::<List>(), Kind::List),
    ]
    .into_iter()
    .find(|(id, _)| t == *id)
    .map(|(_, k)| k)
}

/// Whether a flag never takes the next word as its value (pflag's
/// `NoOptDefVal`: bools and `--help`).
pub fn no_value(a: &Arg) -> bool {
    a.get_num_args().is_some_and(|n| n.min_values() == 0) || !a.get_action().takes_values()
}

/// pflag's flag name in error texts: `-w, --write-out` or `--hex`.
pub fn pflag_name(arg: &Arg) -> String {
    let long = arg.get_long().unwrap_or_default();
    match arg.get_short() {
        Some(c) => format!("-{c}, --{long}"),
        None => format!("--{long}"),
    }
}

/// The parser of one value type. `choices` only documents the values
/// (for completions): pflag accepts any string.
#[derive(Clone, Copy, Debug)]
pub struct GoValue<T> {
    choices: &'static [&'static str],
    _t: std::marker::PhantomData<T>,
}

impl<T> GoValue<T> {
    pub const fn of(choices: &'static [&'static str]) -> GoValue<T> {
        GoValue {
            choices,
            _t: std::marker::PhantomData,
        }
    }

    fn documented(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        let c = self.choices;
        (!c.is_empty()).then(|| {
            Box::new(c.iter().map(|v| PossibleValue::new(*v)))
                as Box<dyn Iterator<Item = PossibleValue>>
        })
    }
}

fn invalid(arg: Option<&Arg>, raw: &str, why: String) -> clap::Error {
    let name = arg.map(pflag_name).unwrap_or_default();
    // Go quotes the argument's bytes, not their escaped text.
    let why = why.replace(
        &gofmt::quote(raw.as_bytes()),
        &gofmt::quote(&unescape_arg(raw)),
    );
    clap::Error::raw(
        ErrorKind::ValueValidation,
        format!(
            "invalid argument {} for {} flag: {why}",
            gofmt::quote(&unescape_arg(raw)),
            gofmt::quote(name.as_bytes())
        ),
    )
}

macro_rules! go_value {
    ($ty:ident, $choices:expr, |$s:ident| $parse:expr) => {
        impl ValueParserFactory for $ty {
            type Parser = GoValue<$ty>;
            fn value_parser() -> GoValue<$ty> {
                GoValue::of($choices)
            }
        }
        impl TypedValueParser for GoValue<$ty> {
            type Value = $ty;
            fn parse_ref(
                &self,
                _cmd: &Command,
                arg: Option<&Arg>,
                value: &OsStr,
            ) -> Result<$ty, clap::Error> {
                let $s = value.to_string_lossy();
                let $s: &str = &$s;
                let r: Result<$ty, String> = $parse;
                r.map_err(|why| invalid(arg, $s, why))
            }
            fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
                self.documented()
            }
        }
    };
}

go_value!(Bool, &["true", "false"], |s| gofmt::parse_bool(s).map(Bool));
go_value!(Dur, &[], |s| gofmt::parse_duration(s).map(Dur));
go_value!(Int, &[], |s| parse_int_base0(s).map(Int));
go_value!(List, &[], |s| Ok(List(read_csv(s))));
go_value!(Text, &[], |s| Ok(Text(s.to_string())));

/// The flag values and positional arguments of one parsed command line.
#[derive(Clone, Debug)]
pub struct Flags {
    m: ArgMatches,
    /// The command that parsed `argv` ([`crate::parse::parse_cmd`]).
    cmd: Command,
    argv: Vec<String>,
    dash_at: Option<usize>,
}

impl Flags {
    pub(crate) fn new(
        m: ArgMatches,
        cmd: Command,
        argv: Vec<String>,
        dash_at: Option<usize>,
    ) -> Flags {
        Flags {
            m,
            cmd,
            argv,
            dash_at,
        }
    }

    /// The command that parsed the arguments.
    pub(crate) fn command(&self) -> &Command {
        &self.cmd
    }

    /// The arguments as parsed (environment words first, if any).
    pub(crate) fn argv(&self) -> &[String] {
        &self.argv
    }

    fn one<T: Clone + Send + Sync + 'static>(&self, id: &str) -> Option<T> {
        self.m.try_get_one::<T>(id).ok().flatten().cloned()
    }

    pub fn bool(&self, id: &str) -> bool {
        self.one::<Bool>(id).is_some_and(|b| b.0)
    }

    pub fn string(&self, id: &str) -> String {
        self.one::<Text>(id).map(|t| t.0).unwrap_or_default()
    }

    /// A string slice: every occurrence's items, in order.
    pub fn strings(&self, id: &str) -> Vec<String> {
        match self.m.try_get_many::<List>(id) {
            Ok(Some(v)) => v.flat_map(|l| l.0.iter().cloned()).collect(),
            _ => Vec::new(),
        }
    }

    pub fn int64(&self, id: &str) -> i64 {
        self.one::<Int>(id).map_or(0, |i| i.0)
    }

    /// pflag `Changed`: set on the command line (or from the environment).
    pub fn changed(&self, id: &str) -> bool {
        self.m.try_contains_id(id).unwrap_or(false)
            && self.m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
    }

    /// The typed flags of the command: its `#[derive(Args)]` struct.
    pub fn get<T: clap::FromArgMatches>(&self) -> T {
        // The matches come from a parse command made from the same tree.
        T::from_arg_matches(&self.m).expect("flags of this command")
    }

    /// The positional arguments.
    pub fn args(&self) -> Vec<String> {
        self.m
            .try_get_many::<String>("args")
            .ok()
            .flatten()
            .map(|v| v.cloned().collect())
            .unwrap_or_default()
    }

    /// How many positional arguments came before a `--` (cobra's
    /// `ArgsLenAtDash`); `None` without a `--`.
    pub fn args_len_at_dash(&self) -> Option<usize> {
        self.dash_at
    }

    /// pflag's `Value.String()`, as `--debug` prints it.
    pub fn display(&self, id: &str) -> String {
        if let Ok(Some(v)) = self.m.try_get_one::<Bool>(id) {
            return v.0.to_string();
        }
        if let Ok(Some(v)) = self.m.try_get_one::<Text>(id) {
            return v.0.clone();
        }
        if self.m.try_get_many::<List>(id).is_ok() {
            return format!("[{}]", self.strings(id).join(","));
        }
        if let Ok(Some(v)) = self.m.try_get_one::<Dur>(id) {
            return gofmt::format_duration(v.0);
        }
        self.int64(id).to_string()
    }
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

    #[test]
    fn csv_items() {
        assert_eq!(read_csv("a,\"b,c\",d"), vec!["a", "b,c", "d"]);
        assert!(read_csv("").is_empty());
    }
}
