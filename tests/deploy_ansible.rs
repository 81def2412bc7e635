//! The Ansible role (`deploy/ansible`) as an operator runs it, against this
//! machine: three inventory hosts with a local connection, each installing
//! into a staging root of its own (`oxcd_root`) with certificates this test
//! makes, on loopback ports. `--check` passes first; the real run installs;
//! a second run changes nothing. Then the three members are started from
//! exactly what the role wrote — the unit's `ExecStart` with the
//! environment file's `ETCD_*` variables, nothing else — and the cluster is
//! checked with the installed oxctl over TLS, with the alias the role put
//! in the shell profile: `endpoint status -w table`, `member list`, a put
//! and a get. Needs `ansible-playbook` (`.ci/run` installs ansible-core
//! from PyPI): skipped without it, failed under `CI`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use testkit::pki::{Ca, Leaf};
use testkit::{free_ports, Proc};

const NAMES: [&str; 3] = ["etcd-host0", "etcd-host1", "etcd-host2"];

fn ansible_playbook() -> Option<PathBuf> {
    let ok = Command::new("ansible-playbook")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(PathBuf::from("ansible-playbook"));
    }
    if std::env::var_os("CI").is_some() {
        panic!("ansible-playbook is missing (.ci/run installs ansible-core)");
    }
    eprintln!("SKIPPED the_role_installs_a_working_cluster: no ansible-playbook");
    None
}

/// Runs the playbook; returns its output, panicking on failure.
fn play(inventory: &Path, extra: &[&str]) -> String {
    let playbook = testkit::bins::workspace_root().join("deploy/ansible/etcd.yml");
    let out = Command::new("ansible-playbook")
        .arg("-i")
        .arg(inventory)
        .arg(&playbook)
        .args(extra)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_HOST_KEY_CHECKING", "False")
        .env("ANSIBLE_LOCALHOST_WARNING", "False")
        .output()
        .expect("run ansible-playbook");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "ansible-playbook {extra:?} failed:\n{text}"
    );
    text
}

/// `changed=N` of every host in the play recap.
fn changed(recap: &str) -> Vec<u32> {
    recap
        .lines()
        .filter_map(|l| l.split("changed=").nth(1))
        .filter_map(|r| r.split_whitespace().next()?.parse().ok())
        .collect()
}

/// `KEY=value` lines of an environment file (comments and blanks skipped).
fn env_file(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The unit's `ExecStart=` program and arguments.
fn exec_start(unit: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(unit).expect("read the unit the role wrote");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    line.split_whitespace().map(String::from).collect()
}

#[test]
fn the_role_installs_a_working_cluster() {
    if ansible_playbook().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(dir.path(), "ca");
    let leaf = ca.issue("etcd", Leaf::loopback("etcd"));
    let ports = free_ports(6);
    let nodes = (0..3)
        .map(|i| format!("{}=https://127.0.0.1:{}", NAMES[i], ports[3 + i]))
        .collect::<Vec<_>>()
        .join(",");
    let bin_src = testkit::bins::oxcd()
        .parent()
        .expect("the binaries' dir")
        .to_path_buf();
    let mut inventory = String::from("[etcd_cluster]\n");
    for (i, name) in NAMES.iter().enumerate() {
        let root = dir.path().join(format!("host{i}"));
        // the seed's certificate paths, under this host's root
        let ssl = root.join("etc/ssl");
        for (sub, from, to) in [
            ("kubernetes", &ca.cert_path(), "ca.pem"),
            ("etcd", &leaf.cert, "etcd.pem"),
            ("etcd", &leaf.key, "etcd-key.pem"),
        ] {
            std::fs::create_dir_all(ssl.join(sub)).expect("create the ssl dir");
            std::fs::copy(from, ssl.join(sub).join(to)).expect("place a certificate");
        }
        inventory += &format!(
            "host{i} ansible_connection=local ansible_python_interpreter={py} NODE_NAME={name} \
             oxcd_root={root} oxcd_ssl_dir={ssl} oxcd_data_dir={root}/var/lib/etcd \
             oxcd_host=127.0.0.1 oxcd_client_port={c} oxcd_peer_port={p}\n",
            py = "python3",
            root = root.display(),
            ssl = ssl.display(),
            c = ports[i],
            p = ports[3 + i],
        );
    }
    let inv = dir.path().join("inventory.ini");
    std::fs::write(&inv, inventory).expect("write the inventory");
    // the role's service tasks stay off: the members run as this test's
    // children; the unit is verified by server/tests/readiness.rs
    eprintln!(
        "the unit is not started by systemd here (systemd running: {})",
        Path::new("/run/systemd/system").exists()
    );
    let vars = [
        "-e",
        &format!("ETCD_NODES={nodes}"),
        "-e",
        "oxcd_manage_service=false",
        "-e",
        &format!("oxcd_bin_src={}", bin_src.display()),
    ];
    play(&inv, &[&["--check"][..], &vars].concat());
    let first = play(&inv, &vars);
    assert!(
        changed(&first).iter().all(|&n| n > 0),
        "the first run installs:\n{first}"
    );
    let second = play(&inv, &vars);
    assert_eq!(
        changed(&second),
        vec![0, 0, 0],
        "a second run changes nothing:\n{second}"
    );

    // the members, from exactly the files the role wrote
    let mut members = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let root = dir.path().join(format!("host{i}"));
        let env = env_file(&root.join("etc/oxcd/oxcd.env"));
        assert_eq!(env.get("ETCD_NAME").map(String::as_str), Some(*name));
        assert_eq!(env.get("ETCD_INITIAL_CLUSTER"), Some(&nodes));
        let cmd = exec_start(&root.join("etc/systemd/system/oxcd.service"));
        let bin = root.join(cmd[0].trim_start_matches('/'));
        let mut p = Proc::new(name, &bin, cmd[1..].to_vec(), None);
        for (k, v) in &env {
            p = p.env(k, v);
        }
        p.spawn();
        members.push(p);
    }
    let root0 = dir.path().join("host0");
    let profile =
        std::fs::read_to_string(root0.join("etc/profile.d/oxctl.sh")).expect("the profile snippet");
    let alias = profile
        .lines()
        .find_map(|l| l.strip_prefix("alias oxctl='"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("an oxctl alias");
    // the alias's command with the binary under the staging root
    let mut words = alias.split_whitespace();
    assert_eq!(words.next(), Some("ETCDCTL_API=3"));
    let oxctl = root0.join(words.next().expect("oxctl").trim_start_matches('/'));
    let tls: Vec<String> = words.map(String::from).collect();
    let endpoints = format!(
        "--endpoints=https://127.0.0.1:{},https://127.0.0.1:{},https://127.0.0.1:{}",
        ports[0], ports[1], ports[2]
    );
    let ctl = |args: &[&str]| {
        let mut all: Vec<String> = tls.clone();
        all.push(endpoints.clone());
        all.extend(args.iter().map(|s| s.to_string()));
        let out = testkit::run(&oxctl, &all, None, &[]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.code == 0 {
            Ok(text)
        } else {
            Err(format!(
                "oxctl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    testkit::wait::poll(
        "the cluster",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || ctl(&["endpoint", "health"]),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", members[0].log()));
    let status = ctl(&["endpoint", "status", "-w", "table"]).expect("endpoint status");
    // the IS LEADER column of the three endpoint rows
    let leaders: Vec<&str> = status
        .lines()
        .filter(|l| l.contains("https://127.0.0.1:"))
        .filter_map(|l| l.split('|').nth(5).map(str::trim))
        .collect();
    assert_eq!(leaders.len(), 3, "three endpoints:\n{status}");
    assert_eq!(
        leaders.iter().filter(|&&l| l == "true").count(),
        1,
        "one leader:\n{status}"
    );
    let list = ctl(&["member", "list"]).expect("member list");
    for name in NAMES {
        assert!(
            list.contains(&format!(", started, {name}, ")),
            "{name} in:\n{list}"
        );
    }
    assert_eq!(ctl(&["put", "foo", "Hello World"]).expect("put"), "OK\n");
    assert_eq!(ctl(&["get", "foo"]).expect("get"), "foo\nHello World\n");
    for m in &mut members {
        m.kill();
    }
}
