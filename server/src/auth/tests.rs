use super::*;
use oxcd_proto::authpb::Permission;
use std::time::Duration;

fn store() -> AuthStore {
    let mut s = AuthStore {
        enabled: true,
        revision: 5,
        ..Default::default()
    };
    let user = |name: &str, roles: &[&str]| User {
        name: name.as_bytes().to_vec(),
        password: Vec::new(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        options: None,
    };
    s.users.insert("root".into(), user("root", &["root"]));
    s.users.insert("alice".into(), user("alice", &["r1", "r2"]));
    s.users.insert("bob".into(), user("bob", &[]));
    let role = |name: &str, perms: Vec<Permission>| Role {
        name: name.as_bytes().to_vec(),
        key_permission: perms,
    };
    let p = |t: PermType, k: &str, e: &str| Permission {
        perm_type: t as i32,
        key: k.as_bytes().to_vec(),
        range_end: e.as_bytes().to_vec(),
    };
    s.roles
        .insert("r1".into(), role("r1", vec![p(PermType::Read, "a", "m")]));
    s.roles
        .insert("r2".into(), role("r2", vec![p(PermType::Read, "m", "z")]));
    s
}

fn h(user: &str, revision: u64) -> AuthHeader {
    AuthHeader {
        username: user.into(),
        revision,
    }
}

#[test]
fn who_may_do_what() {
    let s = store();
    // permissions of two roles join into one range
    assert!(s.check(&h("alice", 5), b"a", b"z", PermType::Read).is_ok());
    assert!(matches!(
        s.check(&h("alice", 5), b"a", b"zz", PermType::Read),
        Err(EtcdError::PermissionDenied)
    ));
    assert!(matches!(
        s.check(&h("alice", 5), b"b", b"", PermType::Write),
        Err(EtcdError::PermissionDenied)
    ));
    // no credentials, an old revision, an unknown user
    assert!(matches!(
        s.check(&AuthHeader::default(), b"b", b"", PermType::Read),
        Err(EtcdError::UserEmpty)
    ));
    assert!(matches!(
        s.check(&h("alice", 4), b"b", b"", PermType::Read),
        Err(EtcdError::AuthOldRevision)
    ));
    assert!(matches!(
        s.check(&h("carol", 5), b"b", b"", PermType::Read),
        Err(EtcdError::PermissionDenied)
    ));
    // root may do anything; only root administers
    assert!(s.check(&h("root", 5), b"", b"\0", PermType::Write).is_ok());
    assert!(s.check_admin(&h("root", 5)).is_ok());
    assert!(matches!(
        s.check_admin(&h("alice", 5)),
        Err(EtcdError::PermissionDenied)
    ));
    // with auth off nothing is checked
    let off = AuthStore {
        enabled: false,
        ..store()
    };
    assert!(off
        .check(&AuthHeader::default(), b"x", b"", PermType::Write)
        .is_ok());
    assert!(off.check_admin(&AuthHeader::default()).is_ok());
}

#[test]
fn passwords_are_bcrypt() {
    let hash = hash_password("s3cret", 4).unwrap();
    assert!(hash.starts_with(b"$2"));
    assert!(password_matches("s3cret", &hash));
    assert!(!password_matches("s3cret ", &hash));
    assert!(!password_matches("s3cret", b"not a hash"));
}

#[test]
fn simple_tokens_expire_and_are_dropped() {
    let t = Tokens::new(TokenConfig::Simple {
        ttl: Duration::from_millis(150),
    });
    let tok = t.assign("abc.1", "alice", 3).unwrap();
    assert_eq!(t.info(&tok), Some(("alice".into(), None)));
    assert_eq!(t.info("other.2"), None);
    // each use restarts its lifetime
    std::thread::sleep(Duration::from_millis(100));
    assert!(t.info(&tok).is_some());
    std::thread::sleep(Duration::from_millis(100));
    assert!(t.info(&tok).is_some());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(t.info(&tok), None);
    let tok = t.assign("def.2", "bob", 3).unwrap();
    t.invalidate_user("alice");
    assert!(t.info(&tok).is_some());
    t.invalidate_user("bob");
    assert_eq!(t.info(&tok), None);
}

#[test]
fn jwt_tokens_carry_user_and_revision() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"0123456789abcdef0123456789abcdef").unwrap();
    let spec = format!("jwt,priv-key={},sign-method=HS256,ttl=1h", secret.display());
    let t = Tokens::new(TokenConfig::parse(&spec, 300).unwrap());
    let tok = t.assign("", "alice", 7).unwrap();
    assert_eq!(tok.split('.').count(), 3, "a JWT: {tok}");
    assert_eq!(t.info(&tok), Some(("alice".into(), Some(7))));
    // a token signed with another key is not accepted
    let other = dir.path().join("other");
    std::fs::write(&other, b"another secret, another secret!!").unwrap();
    let spec2 = format!("jwt,priv-key={},sign-method=HS256", other.display());
    let t2 = Tokens::new(TokenConfig::parse(&spec2, 300).unwrap());
    assert_eq!(t2.info(&tok), None);
    assert!(TokenConfig::parse("jwt,sign-method=RS256", 300).is_err());
    assert!(TokenConfig::parse("jwt,ttl=5m", 300).is_err());
    assert!(TokenConfig::parse("nonsense", 300).is_err());
    assert!(TokenConfig::parse("simple", 300).is_ok());
}

#[test]
fn go_durations() {
    use super::token::parse_go_duration;
    assert_eq!(parse_go_duration("5m"), Some(Duration::from_secs(300)));
    assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
    assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_go_duration("10"), None);
    assert_eq!(parse_go_duration(""), None);
}
