//! Parsing of `txn` input like etcdctl: compare lines read with Go's
//! `fmt.Sscanf("%q) %s %q")` rules, op lines split into words by etcdctl's
//! `argify` regular expression and parsed like `put`/`get`/`del` command
//! lines.

use oxcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use oxcd_proto::etcdserverpb::request_op::Request;
use oxcd_proto::etcdserverpb::{Compare, RequestOp};

use crate::command::kvops::{self, DelArgs, GetArgs, PutArgs};
use crate::error::{CtlError, Result};
use crate::gofmt::{self, quote};
use crate::parse;

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Splits an op line into words: `"…"` (with escapes), `'…'` or a run of
/// non-space characters starting with a non-quote, as etcdctl's
/// `argify` regexp `"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\s]\S*[^'"\s]?` does.
pub fn argify(b: &[u8]) -> Result<Vec<Vec<u8>>> {
    let line = String::from_utf8_lossy(b);
    let mut raw: Vec<&[u8]> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' {
            let mut j = i + 1;
            let mut closed = None;
            while j < b.len() {
                match b[j] {
                    b'\\' if j + 1 < b.len() && b[j + 1] != b'\n' => j += 2,
                    b'\\' => break,
                    b'"' => {
                        closed = Some(j);
                        break;
                    }
                    _ => j += 1,
                }
            }
            if let Some(end) = closed {
                raw.push(&b[i..=end]);
                i = end + 1;
            } else {
                i += 1; // no match here; the regexp retries one byte later
            }
        } else if c == b'\'' {
            match b[i + 1..].iter().position(|&x| x == b'\'') {
                Some(p) => {
                    raw.push(&b[i..i + p + 2]);
                    i += p + 2;
                }
                None => i += 1,
            }
        } else if is_space(c) {
            i += 1;
        } else {
            let end = b[i..]
                .iter()
                .position(|&x| is_space(x))
                .map_or(b.len(), |p| i + p);
            raw.push(&b[i..end]);
            i = end;
        }
    }
    let n = raw.len();
    let mut out = Vec::with_capacity(n);
    for w in raw {
        if w[0] == b'\'' {
            // etcdctl slices with the number of words instead of the word
            // length; keep its result, but fail instead of panicking.
            if n < 2 || n - 1 > w.len() {
                return Err(CtlError::InvalidInput(format!(
                    "invalid txn request: {line}"
                )));
            }
            out.push(w[1..n - 1].to_vec());
        } else if w[0] == b'"' {
            // Go's Sscanf reads runes, turning invalid bytes into U+FFFD.
            let text = String::from_utf8_lossy(w);
            out.push(unquote(text.as_bytes()).map_err(CtlError::InvalidInput)?);
        } else {
            out.push(w.to_vec());
        }
    }
    Ok(out)
}

/// Go's `strconv.Unquote` for a double- or back-quoted string, as bytes.
pub fn unquote(q: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let syntax = || "invalid syntax".to_string();
    if q.len() < 2 {
        return Err(syntax());
    }
    let (open, body) = (q[0], &q[1..q.len() - 1]);
    if open == b'`' {
        if body.contains(&b'`') {
            return Err(syntax());
        }
        return Ok(body.iter().copied().filter(|&c| c != b'\r').collect());
    }
    if open != b'"' || q[q.len() - 1] != b'"' {
        return Err(syntax());
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if c == b'"' || c == b'\n' {
            return Err(syntax());
        }
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *body.get(i + 1).ok_or_else(syntax)?;
        i += 2;
        let simple = match e {
            b'a' => Some(7),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            b'\\' => Some(b'\\'),
            b'"' => Some(b'"'),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        let hex_digits = |n: usize, i: usize| -> std::result::Result<u32, String> {
            let s = body.get(i..i + n).ok_or_else(syntax)?;
            let s = std::str::from_utf8(s).map_err(|_| syntax())?;
            u32::from_str_radix(s, 16).map_err(|_| syntax())
        };
        match e {
            b'x' => {
                out.push(hex_digits(2, i)? as u8);
                i += 2;
            }
            b'u' | b'U' => {
                let n = if e == b'u' { 4 } else { 8 };
                let v = hex_digits(n, i)?;
                let ch = char::from_u32(v).ok_or_else(syntax)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                i += n;
            }
            b'0'..=b'7' => {
                let s = body.get(i - 1..i + 2).ok_or_else(syntax)?;
                if !s.iter().all(|d| (b'0'..=b'7').contains(d)) {
                    return Err(syntax());
                }
                let v = s.iter().fold(0u32, |a, d| a * 8 + u32::from(d - b'0'));
                if v > 255 {
                    return Err(syntax());
                }
                out.push(v as u8);
                i += 2;
            }
            _ => return Err(syntax()),
        }
    }
    Ok(out)
}

/// A cursor emulating the parts of Go's `fmt.Sscanf` that compares use.
struct Scan<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Scan<'_> {
    fn skip_space(&mut self) {
        while self.pos < self.s.len() && is_space(self.s[self.pos]) && self.s[self.pos] != b'\n' {
            self.pos += 1;
        }
    }
    /// `%q`
    fn quoted(&mut self) -> std::result::Result<Vec<u8>, String> {
        self.skip_space();
        let start = self.pos;
        match self.s.get(self.pos) {
            None => Err("unexpected EOF".into()),
            Some(b'`') => {
                let rest = &self.s[start + 1..];
                let p = rest
                    .iter()
                    .position(|&c| c == b'`')
                    .ok_or("unexpected EOF")?;
                self.pos = start + p + 2;
                unquote(&self.s[start..self.pos])
            }
            Some(b'"') => {
                let mut j = start + 1;
                loop {
                    match self.s.get(j) {
                        None => return Err("unexpected EOF".into()),
                        Some(b'\\') => j += 2,
                        Some(b'"') => break,
                        Some(_) => j += 1,
                    }
                }
                self.pos = j + 1;
                unquote(&self.s[start..self.pos])
            }
            Some(_) => Err("expected quoted string".into()),
        }
    }
    /// `%s`
    fn word(&mut self) -> std::result::Result<Vec<u8>, String> {
        self.skip_space();
        if self.pos >= self.s.len() {
            return Err("unexpected EOF".into());
        }
        let start = self.pos;
        while self.pos < self.s.len() && !is_space(self.s[self.pos]) {
            self.pos += 1;
        }
        Ok(self.s[start..self.pos].to_vec())
    }
    /// A literal character of the format.
    fn literal(&mut self, c: u8) -> std::result::Result<(), String> {
        match self.s.get(self.pos) {
            None => Err("unexpected EOF".into()),
            Some(&x) if x == c => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err("input does not match format".into()),
        }
    }
    /// A space of the format: one or more input spaces, or end of input.
    fn space(&mut self) -> std::result::Result<(), String> {
        match self.s.get(self.pos) {
            None => Ok(()),
            Some(&x) if is_space(x) => {
                self.skip_space();
                Ok(())
            }
            Some(_) => Err("expected space in input to match format".into()),
        }
    }
}

/// Parses `<target>("<key>") <op> "<value>"` (`parseCompare`).
pub fn parse_compare(line: &str) -> Result<Compare> {
    let malformed = |m: String| CtlError::InvalidInput(m);
    let Some((target, rest)) = line.split_once('(') else {
        return Err(malformed(format!("malformed comparison: {line}")));
    };
    let mut sc = Scan {
        s: rest.as_bytes(),
        pos: 0,
    };
    let (mut key, mut op, mut val) = (Vec::new(), Vec::new(), Vec::new());
    let mut n = 0;
    let res: std::result::Result<(), String> = (|| {
        key = sc.quoted()?;
        n += 1;
        sc.literal(b')')?;
        sc.space()?;
        op = sc.word()?;
        n += 1;
        sc.space()?;
        val = sc.quoted()?;
        n += 1;
        Ok(())
    })();
    if n != 3 {
        return Err(malformed(format!(
            "malformed comparison: {line}; got {target}({}) {} {}",
            quote(&key),
            String::from_utf8_lossy(&op),
            quote(&val)
        )));
    }
    if let Err(e) = res {
        return Err(malformed(format!("malformed comparison: {line} ({e})")));
    }
    let int = || {
        let v = String::from_utf8_lossy(&val);
        gofmt::parse_int(&v, 10)
            .map_err(|_| CtlError::InvalidInput(format!("invalid txn compare request: {line}")))
    };
    let (t, union) = match target {
        "ver" | "version" => (CompareTarget::Version, TargetUnion::Version(int()?)),
        "c" | "create" => (CompareTarget::Create, TargetUnion::CreateRevision(int()?)),
        "m" | "mod" => (CompareTarget::Mod, TargetUnion::ModRevision(int()?)),
        "val" | "value" => (CompareTarget::Value, TargetUnion::Value(val.clone())),
        // etcdctl passes the value as a string to an int64-only compare,
        // which makes the Go client panic ("bad value").
        "lease" => return Err(CtlError::Panic("bad value".into())),
        _ => {
            return Err(malformed(format!(
                "malformed comparison: {line} (unknown target {target})"
            )))
        }
    };
    let result = match op.as_slice() {
        b"=" => CompareResult::Equal,
        b"!=" => CompareResult::NotEqual,
        b"<" => CompareResult::Less,
        b">" => CompareResult::Greater,
        _ => return Err(CtlError::Panic("Unknown result op".into())),
    };
    Ok(Compare {
        result: result as i32,
        target: t as i32,
        key,
        range_end: Vec::new(),
        target_union: Some(union),
    })
}

/// Parses an op line such as `put k "v"` or `get --prefix a`
/// (`parseRequestUnion`).
pub fn parse_op(raw: &[u8]) -> Result<RequestOp> {
    let line = String::from_utf8_lossy(raw);
    let invalid = || CtlError::InvalidInput(format!("invalid txn request: {line}"));
    let words = argify(raw)?;
    if words.len() < 2 {
        return Err(CtlError::InvalidInput(format!(
            "invalid txn compare request: {line}"
        )));
    }
    // Flags are parsed from text; keys and values keep their bytes.
    let args: Vec<String> = words.iter().map(|w| crate::flags::escape_arg(w)).collect();
    let name = match ["put", "get", "del"]
        .iter()
        .filter(|c| c.starts_with(args[0].as_str()) && !args[0].is_empty())
        .collect::<Vec<_>>()
        .as_slice()
    {
        [one] => **one,
        _ => return Err(invalid()),
    };
    // Only the command's own flags: etcdctl builds fresh commands without
    // the global flags for op lines.
    let cmd = match name {
        "put" => parse::own_flags::<PutArgs>(name),
        "get" => parse::own_flags::<GetArgs>(name),
        _ => parse::own_flags::<DelArgs>(name),
    };
    let fs = parse::parse_with(cmd, args[1..].to_vec()).map_err(|_| invalid())?;
    let pos = fs.args();
    if fs.bool("help") {
        return Err(invalid());
    }
    let req = match name {
        "put" => Request::RequestPut(kvops::put_op(&fs.get(), &pos, None)?),
        "get" => Request::RequestRange(kvops::get_op(&fs.get(), &pos)?),
        _ => Request::RequestDeleteRange(kvops::del_op(&fs.get(), &pos)?),
    };
    Ok(RequestOp { request: Some(req) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argify_quotes() {
        let w = argify(br#"put "key \"with\" space" "value \x23""#).unwrap();
        assert_eq!(
            w,
            vec![
                b"put".to_vec(),
                b"key \"with\" space".to_vec(),
                b"value #".to_vec()
            ]
        );
        let w = argify(b"put k1 'new v'").unwrap();
        // etcdctl's slice bug: cut at (number of words - 1)
        assert_eq!(w[2], b"n".to_vec());
        let w = argify(br#"put "unclosed v"#).unwrap();
        assert_eq!(
            w,
            vec![b"put".to_vec(), b"unclosed".to_vec(), b"v".to_vec()]
        );
    }

    #[test]
    fn compares() {
        let c = parse_compare(r#"mod("k1") > "0""#).unwrap();
        assert_eq!(c.key, b"k1");
        assert_eq!(c.target, CompareTarget::Mod as i32);
        assert_eq!(c.result, CompareResult::Greater as i32);
        assert_eq!(c.target_union, Some(TargetUnion::ModRevision(0)));
        let c = parse_compare(r#"val("k") = "v\x00""#).unwrap();
        assert_eq!(c.target_union, Some(TargetUnion::Value(b"v\0".to_vec())));
        assert_eq!(
            parse_compare("bogus").unwrap_err().to_string(),
            "malformed comparison: bogus"
        );
        assert_eq!(
            parse_compare(r#"mod("k1")>"0""#).unwrap_err().to_string(),
            r#"malformed comparison: mod("k1")>"0"; got mod("k1")  """#
        );
        assert_eq!(
            parse_compare(r#"version("k") = 1"#)
                .unwrap_err()
                .to_string(),
            r#"malformed comparison: version("k") = 1; got version("k") = """#
        );
        assert_eq!(
            parse_compare(r#"foo("k") = "1""#).unwrap_err().to_string(),
            r#"malformed comparison: foo("k") = "1" (unknown target foo)"#
        );
        assert_eq!(
            parse_compare(r#"ver("k") = "x""#).unwrap_err().to_string(),
            r#"invalid txn compare request: ver("k") = "x""#
        );
        assert_eq!(
            parse_compare(r#"ver("k") ~ "1""#).unwrap_err().exit_code(),
            2
        );
    }

    #[test]
    fn ops() {
        let op = parse_op(br#"put k1 "new v""#).unwrap();
        match op.request {
            Some(Request::RequestPut(p)) => {
                assert_eq!((p.key, p.value), (b"k1".to_vec(), b"new v".to_vec()))
            }
            other => panic!("{other:?}"),
        }
        let op = parse_op(b"g --prefix a").unwrap();
        assert!(matches!(op.request, Some(Request::RequestRange(_))));
        assert_eq!(
            parse_op(b"put k v -w json").unwrap_err().to_string(),
            "invalid txn request: put k v -w json"
        );
        assert_eq!(parse_op(b"get").unwrap_err().exit_code(), 3);
    }
}
