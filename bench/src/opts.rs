//! Command-line options of oxbench.

pub const USAGE: &str = "\
usage: oxbench [--op put|range|keepalive|grant|watch] [--endpoint HOST:PORT[,...]]
               [--clients N] [--conns N] [--seconds S | --total N] [--value-size B]
               [--key-space N] [--consistency l|s] [--watchers N] [--streams N]
               [--cacert F] [--cert F --key F] [--user NAME:PASSWORD]";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    Put,
    Range,
    KeepAlive,
    Grant,
    Watch,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Range => "range",
            Op::KeepAlive => "keepalive",
            Op::Grant => "grant",
            Op::Watch => "watch",
        }
    }
}

pub struct Opts {
    pub op: Op,
    pub endpoint: String,
    pub clients: usize,
    pub seconds: f64,
    pub value_size: usize,
    pub conns: usize,
    /// stop after this many operations in all (0: run for `seconds`)
    pub total: u64,
    /// range: serializable instead of linearizable
    pub serializable: bool,
    /// watch: watchers in all, and the streams they are spread over
    pub watchers: usize,
    pub streams: usize,
    /// put: overwrite `bench/<i mod key_space>` instead of new keys (0)
    pub key_space: u64,
    pub cacert: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub user: Option<String>,
}

fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    v.parse().map_err(|e| format!("{name}: {e}"))
}

/// Parses the arguments; `Ok(None)` for `--help`.
pub fn parse() -> Result<Option<Opts>, String> {
    let mut o = Opts {
        op: Op::Put,
        endpoint: "127.0.0.1:2379".into(),
        clients: 1,
        seconds: 5.0,
        value_size: 256,
        conns: 0,
        total: 0,
        serializable: false,
        watchers: 1000,
        streams: 0,
        key_space: 0,
        cacert: None,
        cert: None,
        key: None,
        user: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--op" => {
                o.op = match val("--op")?.as_str() {
                    "put" => Op::Put,
                    "range" => Op::Range,
                    "keepalive" => Op::KeepAlive,
                    "grant" => Op::Grant,
                    "watch" => Op::Watch,
                    other => {
                        return Err(format!(
                            "--op: unknown operation {other} (put, range, keepalive, grant, watch)"
                        ))
                    }
                }
            }
            "--consistency" => {
                o.serializable = match val("--consistency")?.as_str() {
                    "l" => false,
                    "s" => true,
                    other => return Err(format!("--consistency: {other} is neither l nor s")),
                }
            }
            "--endpoint" => o.endpoint = val("--endpoint")?,
            "--clients" => o.clients = num("--clients", val("--clients")?)?,
            "--seconds" => o.seconds = num("--seconds", val("--seconds")?)?,
            "--value-size" => o.value_size = num("--value-size", val("--value-size")?)?,
            "--conns" => o.conns = num("--conns", val("--conns")?)?,
            "--total" => o.total = num("--total", val("--total")?)?,
            "--watchers" => o.watchers = num("--watchers", val("--watchers")?)?,
            "--streams" => o.streams = num("--streams", val("--streams")?)?,
            "--key-space" => o.key_space = num("--key-space", val("--key-space")?)?,
            "--cacert" => o.cacert = Some(val("--cacert")?),
            "--cert" => o.cert = Some(val("--cert")?),
            "--key" => o.key = Some(val("--key")?),
            "--user" => o.user = Some(val("--user")?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.clients == 0 {
        return Err("--clients must be at least 1".into());
    }
    if o.total == 0 && !(o.seconds > 0.0 && o.seconds.is_finite()) {
        return Err("--seconds must be a positive number".into());
    }
    if o.op == Op::Watch {
        if o.watchers == 0 {
            return Err("--watchers must be at least 1".into());
        }
        if o.streams == 0 {
            // like etcd's benchmark watch: a hundred watchers per stream
            o.streams = o.watchers.div_ceil(100);
        }
        if o.streams > o.watchers {
            return Err("--streams cannot exceed --watchers".into());
        }
    }
    if o.conns == 0 {
        // like etcd's benchmark tool: clients share a handful of connections
        o.conns = match o.op {
            Op::Watch => o.clients.max(o.streams).min(16),
            _ => o.clients.min(16),
        };
    }
    Ok(Some(o))
}
