//! `--auth-token`: etcd's two kinds of token.
//!
//! - `simple` (the default): a random string, known to every member because
//!   it is issued through the log; kept in memory for `--auth-token-ttl`
//!   seconds after its last use; dropped when its user is deleted or
//!   changes password, and when auth is disabled (or the member restarts).
//! - `jwt,pub-key=…,priv-key=…,sign-method=…,ttl=…`: a signed token
//!   carrying the user name, the auth revision and an expiry; any member
//!   with the public key checks it without state.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How tokens are made, from the flags.
#[derive(Clone, Debug)]
pub enum TokenConfig {
    Simple { ttl: Duration },
    Jwt(JwtConfig),
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig::Simple {
            ttl: Duration::from_secs(300),
        }
    }
}

#[derive(Clone)]
pub struct JwtConfig {
    alg: Algorithm,
    sign: Option<EncodingKey>,
    verify: DecodingKey,
    ttl: Duration,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JwtConfig({:?}, ttl {:?})", self.alg, self.ttl)
    }
}

impl TokenConfig {
    /// Parses `--auth-token` (with `--auth-token-ttl` for simple tokens).
    pub fn parse(spec: &str, simple_ttl_secs: u64) -> Result<TokenConfig, String> {
        let mut parts = spec.split(',');
        match parts.next().unwrap_or("") {
            "simple" => Ok(TokenConfig::Simple {
                ttl: Duration::from_secs(simple_ttl_secs),
            }),
            "jwt" => {
                let mut opts = HashMap::new();
                for p in parts {
                    let (k, v) = p
                        .split_once('=')
                        .ok_or_else(|| format!("invalid auth token option {p:?}"))?;
                    opts.insert(k.to_string(), v.to_string());
                }
                jwt(&opts).map(TokenConfig::Jwt)
            }
            other => Err(format!("unknown token type: {other}")),
        }
    }
}

fn jwt(opts: &HashMap<String, String>) -> Result<JwtConfig, String> {
    let method = opts
        .get("sign-method")
        .ok_or("jwt: sign-method is required")?;
    let alg: Algorithm = method
        .parse()
        .map_err(|_| format!("jwt: unsupported sign-method {method:?}"))?;
    let ttl = match opts.get("ttl") {
        Some(t) => parse_go_duration(t).ok_or_else(|| format!("jwt: invalid ttl {t:?}"))?,
        None => Duration::from_secs(300),
    };
    let read = |key: &str| -> Result<Option<Vec<u8>>, String> {
        match opts.get(key) {
            Some(p) => std::fs::read(p)
                .map(Some)
                .map_err(|e| format!("jwt: {key} {p}: {e}")),
            None => Ok(None),
        }
    };
    let (public, private) = (read("pub-key")?, read("priv-key")?);
    let bad = |e: jsonwebtoken::errors::Error| format!("jwt: bad key: {e}");
    use Algorithm::*;
    let (sign, verify) = match alg {
        HS256 | HS384 | HS512 => {
            let secret = private.ok_or("jwt: priv-key is required for HMAC signing")?;
            (
                Some(EncodingKey::from_secret(&secret)),
                DecodingKey::from_secret(&secret),
            )
        }
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => {
            let public = public.ok_or("jwt: pub-key is required")?;
            (
                private
                    .map(|k| EncodingKey::from_rsa_pem(&k))
                    .transpose()
                    .map_err(bad)?,
                DecodingKey::from_rsa_pem(&public).map_err(bad)?,
            )
        }
        ES256 | ES384 => {
            let public = public.ok_or("jwt: pub-key is required")?;
            (
                private
                    .map(|k| EncodingKey::from_ec_pem(&k))
                    .transpose()
                    .map_err(bad)?,
                DecodingKey::from_ec_pem(&public).map_err(bad)?,
            )
        }
        EdDSA => {
            let public = public.ok_or("jwt: pub-key is required")?;
            (
                private
                    .map(|k| EncodingKey::from_ed_pem(&k))
                    .transpose()
                    .map_err(bad)?,
                DecodingKey::from_ed_pem(&public).map_err(bad)?,
            )
        }
    };
    Ok(JwtConfig {
        alg,
        sign,
        verify,
        ttl,
    })
}

/// A Go duration (`5m`, `1h30m`, `90s`, `1.5h`).
pub(crate) fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    // Go's one unitless duration
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[u..];
        total += value * unit;
    }
    Some(Duration::from_secs_f64(total))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    username: String,
    revision: u64,
    exp: u64,
}

/// The tokens a member knows, and how it makes them.
#[derive(Debug, Default)]
pub struct Tokens {
    config: TokenConfig,
    /// simple token → (user, valid until)
    simple: Mutex<HashMap<String, (String, Instant)>>,
}

impl Tokens {
    pub fn new(config: TokenConfig) -> Tokens {
        Tokens {
            config,
            simple: Mutex::default(),
        }
    }

    fn simple(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        match self.simple.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Is this a simple-token member (tokens issued through the log)?
    pub fn is_simple(&self) -> bool {
        matches!(self.config, TokenConfig::Simple { .. })
    }

    /// Issues a token for `user` at auth `revision`; `simple` is the
    /// token the proposer chose (simple tokens only).
    pub fn assign(&self, simple: &str, user: &str, revision: u64) -> Result<String, String> {
        match &self.config {
            TokenConfig::Simple { ttl } => {
                let mut m = self.simple();
                let now = Instant::now();
                m.retain(|_, (_, until)| *until > now);
                m.insert(simple.to_string(), (user.to_string(), now + *ttl));
                Ok(simple.to_string())
            }
            TokenConfig::Jwt(j) => {
                let key = j
                    .sign
                    .as_ref()
                    .ok_or("jwt: no priv-key to sign tokens with")?;
                let exp = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    + j.ttl;
                let claims = Claims {
                    username: user.to_string(),
                    revision,
                    exp: exp.as_secs(),
                };
                jsonwebtoken::encode(&Header::new(j.alg), &claims, key).map_err(|e| e.to_string())
            }
        }
    }

    /// The user (and, for JWT, the auth revision) a token stands for; a
    /// simple token's lifetime restarts with each use.
    pub fn info(&self, token: &str) -> Option<(String, Option<u64>)> {
        match &self.config {
            TokenConfig::Simple { ttl } => {
                let mut m = self.simple();
                let now = Instant::now();
                let (user, until) = m.get_mut(token)?;
                if *until <= now {
                    m.remove(token);
                    return None;
                }
                *until = now + *ttl;
                Some((user.clone(), None))
            }
            TokenConfig::Jwt(j) => {
                let mut v = Validation::new(j.alg);
                v.leeway = 0;
                let data = jsonwebtoken::decode::<Claims>(token, &j.verify, &v).ok()?;
                Some((data.claims.username, Some(data.claims.revision)))
            }
        }
    }

    /// Drops `user`'s simple tokens (deleted, or a new password).
    pub fn invalidate_user(&self, user: &str) {
        self.simple().retain(|_, (u, _)| u != user);
    }

    /// Drops every simple token (auth disabled).
    pub fn clear(&self) {
        self.simple().clear();
    }
}
