//! The flags of `get`/`put`/`del` and building Range/Put/DeleteRange
//! requests from them and the arguments, with etcdctl's validation
//! messages. Shared by the commands and by `txn`, whose op lines are parsed
//! like these command lines.

use std::io::Read;

use oxcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use oxcd_proto::etcdserverpb::{DeleteRangeRequest, PutRequest, RangeRequest};

use clap::Args;

use crate::error::{CtlError, Result};
use crate::flags::{unescape_arg, Bool, Int, Text};
use crate::gofmt;

// etcdctl's `get` flags, in its order.
#[derive(Args, Debug)]
pub struct GetArgs {
    /// Linearizable(l) or Serializable(s)
    #[arg(long, default_value = "l")]
    pub consistency: Text,
    /// Order of results; ASCEND or DESCEND (ASCEND by default)
    #[arg(long, default_value = "")]
    pub order: Text,
    /// Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION
    #[arg(long = "sort-by", id = "sort-by", default_value = "")]
    pub sort_by: Text,
    /// Maximum number of results
    #[arg(long, default_value = "0")]
    pub limit: Int,
    /// Get keys with matching prefix
    #[arg(long, default_value = "false")]
    pub prefix: Bool,
    /// Get keys that are greater than or equal to the given key using byte compare
    #[arg(long = "from-key", id = "from-key", default_value = "false")]
    pub from_key: Bool,
    /// Specify the kv revision
    #[arg(long, default_value = "0")]
    pub rev: Int,
    /// Get only the keys
    #[arg(long = "keys-only", id = "keys-only", default_value = "false")]
    pub keys_only: Bool,
    /// Get only the count
    #[arg(long = "count-only", id = "count-only", default_value = "false")]
    pub count_only: Bool,
    /// Only write values when using the "simple" output format
    #[arg(
        long = "print-value-only",
        id = "print-value-only",
        default_value = "false"
    )]
    pub print_value_only: Bool,
}

// etcdctl's `put` flags, in its order.
#[derive(Args, Debug)]
pub struct PutArgs {
    /// lease ID (in hexadecimal) to attach to the key
    #[arg(long, default_value = "0")]
    pub lease: Text,
    /// return the previous key-value pair before modification
    #[arg(long = "prev-kv", id = "prev-kv", default_value = "false")]
    pub prev_kv: Bool,
    /// updates the key using its current value
    #[arg(long = "ignore-value", id = "ignore-value", default_value = "false")]
    pub ignore_value: Bool,
    /// updates the key using its current lease
    #[arg(long = "ignore-lease", id = "ignore-lease", default_value = "false")]
    pub ignore_lease: Bool,
}

// etcdctl's `del` flags, in its order.
#[derive(Args, Debug)]
pub struct DelArgs {
    /// delete keys with matching prefix
    #[arg(long, default_value = "false")]
    pub prefix: Bool,
    /// return deleted key-value pairs
    #[arg(long = "prev-kv", id = "prev-kv", default_value = "false")]
    pub prev_kv: Bool,
    /// delete keys that are greater than or equal to the given key using byte compare
    #[arg(long = "from-key", id = "from-key", default_value = "false")]
    pub from_key: Bool,
}

pub use crate::keys::prefix_end;

const GET_ARGS: &str =
    "get command needs one argument as key and an optional argument as range_end";
const BOTH_PREFIX_FROM_KEY: &str =
    "`--prefix` and `--from-key` cannot be set at the same time, choose one";
const TOO_MANY: &str =
    "too many arguments, only accept one argument when `--prefix` or `--from-key` is set";

/// `getGetOp`.
pub fn get_op(f: &GetArgs, args: &[String]) -> Result<RangeRequest> {
    if args.is_empty() {
        return Err(CtlError::BadArgs(GET_ARGS.into()));
    }
    let (prefix, from_key) = (*f.prefix, *f.from_key);
    if prefix && from_key {
        return Err(CtlError::BadArgs(BOTH_PREFIX_FROM_KEY.into()));
    }
    let (keys_only, count_only) = (*f.keys_only, *f.count_only);
    if keys_only && count_only {
        return Err(CtlError::BadArgs(
            "`--keys-only` and `--count-only` cannot be set at the same time, choose one".into(),
        ));
    }
    let mut req = RangeRequest::default();
    match f.consistency.as_str() {
        "s" => req.serializable = true,
        "l" => {}
        other => {
            return Err(CtlError::BadFeature(format!(
                "unknown consistency flag {}",
                gofmt::quote(other.as_bytes())
            )))
        }
    }
    req.key = unescape_arg(&args[0]);
    if args.len() > 1 {
        if prefix || from_key {
            return Err(CtlError::BadArgs(TOO_MANY.into()));
        }
        req.range_end = unescape_arg(&args[1]);
    }
    req.limit = *f.limit;
    let rev = *f.rev;
    if rev > 0 {
        req.revision = rev;
    }
    let order_raw: &str = &f.order;
    let order = match order_raw.to_uppercase().as_str() {
        "ASCEND" => SortOrder::Ascend,
        "DESCEND" => SortOrder::Descend,
        "" => SortOrder::None,
        _ => return Err(CtlError::BadFeature(format!("bad sort order {order_raw}"))),
    };
    let target_raw: &str = &f.sort_by;
    let target = match target_raw.to_uppercase().as_str() {
        "CREATE" => SortTarget::Create,
        "KEY" | "" => SortTarget::Key,
        "MODIFY" => SortTarget::Mod,
        "VALUE" => SortTarget::Value,
        "VERSION" => SortTarget::Version,
        _ => {
            return Err(CtlError::BadFeature(format!(
                "bad sort target {target_raw}"
            )))
        }
    };
    // clientv3 drops ASCEND by key: it is the server's natural order.
    let order = if target == SortTarget::Key && order == SortOrder::Ascend {
        SortOrder::None
    } else {
        order
    };
    req.sort_order = order as i32;
    req.sort_target = target as i32;
    apply_prefix_from_key(&mut req.key, &mut req.range_end, prefix, from_key);
    req.keys_only = keys_only;
    req.count_only = count_only;
    Ok(req)
}

/// `--prefix` / `--from-key`; an empty key means "all keys".
fn apply_prefix_from_key(key: &mut Vec<u8>, end: &mut Vec<u8>, prefix: bool, from_key: bool) {
    if prefix {
        if key.is_empty() {
            *key = vec![0];
            *end = vec![0];
        } else {
            *end = prefix_end(key);
        }
    }
    if from_key {
        if key.is_empty() {
            *key = vec![0];
        }
        *end = vec![0];
    }
}

const PUT_ARGS: &str = "put command needs 1 argument and input from stdin or 2 arguments";

/// `getPutOp`. `stdin` supplies the value when only the key is given.
pub fn put_op(f: &PutArgs, args: &[String], stdin: Option<&mut dyn Read>) -> Result<PutRequest> {
    if args.is_empty() {
        return Err(CtlError::BadArgs(PUT_ARGS.into()));
    }
    let ignore_value = *f.ignore_value;
    if ignore_value && args.len() > 1 {
        return Err(CtlError::BadArgs(
            "put command needs only 1 argument when 'ignore-value' is set".into(),
        ));
    }
    let mut value = Vec::new();
    if !ignore_value {
        if let Some(v) = args.get(1) {
            value = unescape_arg(v);
        } else {
            let mut buf = Vec::new();
            let ok = match stdin {
                Some(r) => r.read_to_end(&mut buf).is_ok(),
                None => false,
            };
            if !ok || buf.is_empty() {
                return Err(CtlError::BadArgs(PUT_ARGS.into()));
            }
            value = buf;
        }
    }
    let lease = gofmt::parse_int(&f.lease, 16)
        .map_err(|e| CtlError::BadArgs(format!("bad lease ID ({e}), expecting ID in Hex")))?;
    Ok(PutRequest {
        key: unescape_arg(&args[0]),
        value,
        lease,
        prev_kv: *f.prev_kv,
        ignore_value,
        ignore_lease: *f.ignore_lease,
    })
}

/// `getDelOp`.
pub fn del_op(f: &DelArgs, args: &[String]) -> Result<DeleteRangeRequest> {
    if args.is_empty() || args.len() > 2 {
        return Err(CtlError::BadArgs(
            "del command needs one argument as key and an optional argument as range_end".into(),
        ));
    }
    let (prefix, from_key) = (*f.prefix, *f.from_key);
    if prefix && from_key {
        return Err(CtlError::BadArgs(BOTH_PREFIX_FROM_KEY.into()));
    }
    let mut req = DeleteRangeRequest {
        key: unescape_arg(&args[0]),
        ..DeleteRangeRequest::default()
    };
    if args.len() > 1 {
        if prefix || from_key {
            return Err(CtlError::BadArgs(TOO_MANY.into()));
        }
        req.range_end = unescape_arg(&args[1]);
    }
    apply_prefix_from_key(&mut req.key, &mut req.range_end, prefix, from_key);
    req.prev_kv = *f.prev_kv;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags of the command `T` and its positional arguments.
    fn parse<T: clap::Args>(name: &'static str, a: &[&str]) -> (T, Vec<String>) {
        let args: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        let fs = crate::parse::parse_with(crate::parse::own_flags::<T>(name), args).unwrap();
        (fs.get(), fs.args())
    }

    #[test]
    fn prefix_ranges() {
        let (f, a) = parse("get", &["--prefix", ""]);
        let r = get_op(&f, &a).unwrap();
        assert_eq!((r.key, r.range_end), (vec![0], vec![0]));
        let (f, a) = parse("get", &["--from-key", "b"]);
        let r = get_op(&f, &a).unwrap();
        assert_eq!((r.key, r.range_end), (b"b".to_vec(), vec![0]));
    }

    #[test]
    fn get_validation() {
        let (f, a) = parse("get", &["--order=UP", "k"]);
        let e = get_op(&f, &a).unwrap_err();
        assert_eq!(
            (e.to_string().as_str(), e.exit_code()),
            ("bad sort order UP", 4)
        );
        let (f, a) = parse("get", &["--prefix", "a", "b"]);
        assert_eq!(get_op(&f, &a).unwrap_err().exit_code(), 128);
        let (f, a) = parse("get", &["--order=ascend", "k"]);
        assert_eq!(get_op(&f, &a).unwrap().sort_order, 0);
    }

    #[test]
    fn put_lease_is_hex() {
        let (f, a) = parse("put", &["--lease=ff", "k", "v"]);
        assert_eq!(put_op(&f, &a, None).unwrap().lease, 255);
        let (f, a) = parse("put", &["--lease=zz", "k", "v"]);
        assert_eq!(
            put_op(&f, &a, None).unwrap_err().to_string(),
            "bad lease ID (strconv.ParseInt: parsing \"zz\": invalid syntax), expecting ID in Hex"
        );
    }
}
