//! The peer-URL check clientv3 runs before `MemberAdd` and `MemberUpdate`
//! (etcd's `types.NewURLs`), with the error texts of the Go 1.16
//! `net/url.Parse` and `net.SplitHostPort` it relies on. Parsing works on
//! the argument's raw bytes, as Go's strings do.

use crate::flags::unescape_arg;
use crate::gofmt::quote;

/// Checks every comma-separated item of a `--peer-urls` value: trimmed, it
/// must parse as a URL with scheme http, https, unix or unixs, a
/// `host:port` and no path. Returns etcd's error text for the first bad one.
pub fn new_urls(list: &[&str]) -> Result<(), String> {
    if list.is_empty() {
        return Err("no valid URLs given".into());
    }
    for item in list {
        let raw = unescape_arg(item.trim());
        let shown = String::from_utf8_lossy(&raw);
        let u = parse(&raw)?;
        if !matches!(u.scheme.as_slice(), b"http" | b"https" | b"unix" | b"unixs") {
            return Err(format!(
                "URL scheme must be http, https, unix, or unixs: {shown}"
            ));
        }
        if !split_host_port_ok(u.host) {
            return Err(format!(
                "URL address does not have the form \"host:port\": {shown}"
            ));
        }
        if !u.path.is_empty() {
            return Err(format!("URL must not contain a path: {shown}"));
        }
    }
    Ok(())
}

/// What `types.NewURLs` looks at in a parsed URL.
struct Url<'a> {
    /// Lower-cased.
    scheme: Vec<u8>,
    host: &'a [u8],
    path: &'a [u8],
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Host,
    Zone,
    Path,
    UserPassword,
    Fragment,
}

/// Go's `url.Parse`: the fragment is cut off first; errors name the URL
/// without it, except for a bad escape in the fragment itself.
fn parse(raw: &[u8]) -> Result<Url<'_>, String> {
    let wrap = |u: &[u8], e: String| format!("parse {}: {e}", quote(u));
    let (u, frag) = match raw.iter().position(|&c| c == b'#') {
        Some(i) => (&raw[..i], &raw[i + 1..]),
        None => (raw, &raw[raw.len()..]),
    };
    let url = parse_no_frag(u).map_err(|e| wrap(u, e))?;
    if !frag.is_empty() {
        unescape(frag, Mode::Fragment).map_err(|e| wrap(raw, e))?;
    }
    Ok(url)
}

fn parse_no_frag(raw: &[u8]) -> Result<Url<'_>, String> {
    if raw.iter().any(|&c| c < b' ' || c == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let mut url = Url {
        scheme: Vec::new(),
        host: &[],
        path: &[],
    };
    if raw == b"*" {
        url.path = raw;
        return Ok(url);
    }
    let (scheme, mut rest) = get_scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    let questions = rest.iter().filter(|&&c| c == b'?').count();
    if rest.ends_with(b"?") && questions == 1 {
        rest = &rest[..rest.len() - 1];
    } else if let Some(i) = rest.iter().position(|&c| c == b'?') {
        rest = &rest[..i];
    }
    if !rest.starts_with(b"/") {
        if !url.scheme.is_empty() {
            // An opaque URL (`http:host:1`): no host, no path.
            return Ok(url);
        }
        let colon = rest.iter().position(|&c| c == b':');
        let slash = rest.iter().position(|&c| c == b'/');
        if let Some(colon) = colon {
            if slash.map_or(true, |s| colon < s) {
                return Err("first path segment in URL cannot contain colon".into());
            }
        }
    }
    if (!url.scheme.is_empty() || !rest.starts_with(b"///")) && rest.starts_with(b"//") {
        let after = &rest[2..];
        let end = after.iter().position(|&c| c == b'/').unwrap_or(after.len());
        url.host = parse_authority(&after[..end])?;
        rest = &after[end..];
    }
    unescape(rest, Mode::Path)?;
    url.path = rest;
    Ok(url)
}

/// Go's `getScheme`: letters, then digits, `+`, `-` or `.`, up to a colon.
fn get_scheme(raw: &[u8]) -> Result<(&[u8], &[u8]), String> {
    for (i, &c) in raw.iter().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i == 0 => return Ok((&[], raw)),
            b'0'..=b'9' | b'+' | b'-' | b'.' => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok((&[], raw)),
        }
    }
    Ok((&[], raw))
}

/// Go's `parseAuthority`: the host is checked before the user info.
fn parse_authority(authority: &[u8]) -> Result<&[u8], String> {
    let at = authority.iter().rposition(|&c| c == b'@');
    let host = match at {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    parse_host(host)?;
    if let Some(i) = at {
        let userinfo = &authority[..i];
        if !valid_userinfo(userinfo) {
            return Err("net/url: invalid userinfo".into());
        }
        for part in userinfo.splitn(2, |&c| c == b':') {
            unescape(part, Mode::UserPassword)?;
        }
    }
    Ok(host)
}

fn parse_host(host: &[u8]) -> Result<(), String> {
    if host.starts_with(b"[") {
        let Some(i) = host.iter().rposition(|&c| c == b']') else {
            return Err("missing ']' in host".into());
        };
        check_port(&host[i + 1..])?;
        if let Some(zone) = host[..i].windows(3).position(|w| w == b"%25") {
            unescape(&host[..zone], Mode::Host)?;
            unescape(&host[zone..i], Mode::Zone)?;
            return unescape(&host[i..], Mode::Host);
        }
    } else if let Some(i) = host.iter().rposition(|&c| c == b':') {
        check_port(&host[i..])?;
    }
    unescape(host, Mode::Host)
}

/// Go's `validOptionalPort`, with `parseHost`'s error.
fn check_port(colon_port: &[u8]) -> Result<(), String> {
    let ok = match colon_port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid port {} after host", quote(colon_port)))
    }
}

fn valid_userinfo(s: &[u8]) -> bool {
    s.iter()
        .all(|&c| c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c))
}

/// Go's `shouldEscape` for host names (and zones).
fn host_needs_escape(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || b"!$&'()*+,;=:[]<>\"-_.~".contains(&c))
}

fn unhex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Go's `unescape`, reduced to its checks (the value is not needed).
fn unescape(s: &[u8], mode: Mode) -> Result<(), String> {
    let escape_error = |b: &[u8]| format!("invalid URL escape {}", quote(b));
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                if i + 2 >= s.len()
                    || !s[i + 1].is_ascii_hexdigit()
                    || !s[i + 2].is_ascii_hexdigit()
                {
                    let end = (i + 3).min(s.len());
                    return Err(escape_error(&s[i..end]));
                }
                let esc = &s[i..i + 3];
                if mode == Mode::Host && unhex(s[i + 1]) < 8 && esc != b"%25" {
                    return Err(escape_error(esc));
                }
                if mode == Mode::Zone {
                    let v = unhex(s[i + 1]) << 4 | unhex(s[i + 2]);
                    if esc != b"%25" && v != b' ' && host_needs_escape(v) {
                        return Err(escape_error(esc));
                    }
                }
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && host_needs_escape(c) {
                    return Err(format!(
                        "invalid character {} in host name",
                        quote(&s[i..i + 1])
                    ));
                }
                i += 1;
            }
        }
    }
    Ok(())
}

/// Whether Go's `net.SplitHostPort` accepts `hostport`.
fn split_host_port_ok(hp: &[u8]) -> bool {
    let Some(i) = hp.iter().rposition(|&c| c == b':') else {
        return false;
    };
    let (j, k) = if hp[0] == b'[' {
        let Some(end) = hp.iter().position(|&c| c == b']') else {
            return false;
        };
        if end + 1 != i {
            return false;
        }
        (1, end + 1)
    } else {
        if hp[..i].contains(&b':') {
            return false;
        }
        (0, 0)
    };
    !hp[j..].contains(&b'[') && !hp[k..].contains(&b']')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(u: &str) -> Result<(), String> {
        new_urls(&[u])
    }

    /// Each error as real etcdctl 3.5.1 printed it (`Error: …`).
    #[test]
    fn errors_match_etcdctl() {
        let cases = [
            (
                "127.0.0.1:1",
                "parse \"127.0.0.1:1\": first path segment in URL cannot contain colon",
            ),
            (
                "http://127.0.0.1",
                "URL address does not have the form \"host:port\": http://127.0.0.1",
            ),
            (
                "http://127.0.0.1:1/path",
                "URL must not contain a path: http://127.0.0.1:1/path",
            ),
            ("", "URL scheme must be http, https, unix, or unixs: "),
            ("http://[::1", "parse \"http://[::1\": missing ']' in host"),
            (
                "http://a b:1",
                "parse \"http://a b:1\": invalid character \" \" in host name",
            ),
            (
                "http://a:b",
                "parse \"http://a:b\": invalid port \":b\" after host",
            ),
            (
                "http://%zz:1",
                "parse \"http://%zz:1\": invalid URL escape \"%zz\"",
            ),
            (":foo", "parse \":foo\": missing protocol scheme"),
            (
                "localhost:2380",
                "URL scheme must be http, https, unix, or unixs: localhost:2380",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(check(input), Err(want.to_string()), "{input}");
        }
    }

    #[test]
    fn accepted_forms() {
        for u in [
            "http://127.0.0.1:1",
            " http://127.0.0.1:2 ",
            "HTTPS://h:3",
            "unix://foo:1",
            "http://[::1]:2380",
            "http://[fe80::1%25en0]:2380",
            "http://user:pw@h:1",
            "http://h:1?x=y",
            "http://h:1#frag",
        ] {
            assert_eq!(check(u), Ok(()), "{u}");
        }
        assert_eq!(
            new_urls(&["http://a:1", "ftp://b:2"]),
            Err("URL scheme must be http, https, unix, or unixs: ftp://b:2".into())
        );
        assert_eq!(new_urls(&[]), Err("no valid URLs given".into()));
    }
}
