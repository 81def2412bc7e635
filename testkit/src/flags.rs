//! The etcd flags a member starts with: one spelling for real etcd and oxcd,
//! for single members and for clusters.

use std::path::{Path, PathBuf};

/// `http://127.0.0.1:<port>`.
pub fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// One member's identity and addresses. [`Flags::args`] spells them as
///
/// ```text
/// --name N --data-dir D
/// --listen-client-urls C --advertise-client-urls C
/// --listen-peer-urls P --initial-advertise-peer-urls P'
/// --initial-cluster IC [--initial-cluster-token T] [--initial-cluster-state S]
/// ```
///
/// with `C`, `P` on 127.0.0.1, `P'` = `P` unless [`Flags::advertise_peer`]
/// is set, and `IC` = `N=P'` unless [`Flags::initial_cluster`] is set.
#[derive(Clone, Debug)]
pub struct Flags {
    pub name: String,
    pub data_dir: PathBuf,
    pub client_port: u16,
    pub peer_port: u16,
    /// The advertised peer URL when it differs from the listening one.
    pub advertise_peer: Option<String>,
    pub initial_cluster: Option<String>,
    pub token: Option<String>,
    /// `new` or `existing`.
    pub state: Option<String>,
    /// Client URLs in `https://` (the TLS flags go in `extra`).
    pub https: bool,
    /// Peer URLs in `https://` (the `--peer-*` TLS flags go in `extra`);
    /// [`Flags::cluster_on`]'s `--initial-cluster` follows when set there.
    pub peer_https: bool,
    /// Flags appended after the standard ones.
    pub extra: Vec<String>,
}

impl Flags {
    /// A single member `name` on `data_dir` with the given ports.
    pub fn new(name: &str, data_dir: &Path, client_port: u16, peer_port: u16) -> Flags {
        Flags {
            name: name.to_string(),
            data_dir: data_dir.to_path_buf(),
            client_port,
            peer_port,
            advertise_peer: None,
            initial_cluster: None,
            token: None,
            state: None,
            https: false,
            peer_https: false,
            extra: Vec::new(),
        }
    }

    /// A single member on two new free ports.
    pub fn single(name: &str, data_dir: &Path) -> Flags {
        let p = crate::ports::free_ports(2);
        Flags::new(name, data_dir, p[0], p[1])
    }

    /// Members `m1`..`mn` of one new cluster, on free ports, with data dirs
    /// `<root>/<name><data_suffix>`, the token and `--initial-cluster-state
    /// new`.
    pub fn cluster(n: usize, root: &Path, data_suffix: &str, token: &str) -> Vec<Flags> {
        let ports = crate::ports::free_ports(2 * n);
        let pairs: Vec<(u16, u16)> = (0..n).map(|i| (ports[2 * i], ports[2 * i + 1])).collect();
        Flags::cluster_on(&pairs, root, data_suffix, token)
    }

    /// [`Flags::cluster`] on given (client, peer) ports.
    pub fn cluster_on(
        ports: &[(u16, u16)],
        root: &Path,
        data_suffix: &str,
        token: &str,
    ) -> Vec<Flags> {
        let names: Vec<String> = (1..=ports.len()).map(|i| format!("m{i}")).collect();
        let ic = names
            .iter()
            .zip(ports)
            .map(|(n, &(_, p))| format!("{n}={}", url(p)))
            .collect::<Vec<_>>()
            .join(",");
        names
            .iter()
            .zip(ports)
            .map(|(n, &(c, p))| Flags {
                initial_cluster: Some(ic.clone()),
                token: Some(token.to_string()),
                state: Some("new".to_string()),
                ..Flags::new(n, &root.join(format!("{n}{data_suffix}")), c, p)
            })
            .collect()
    }

    /// Appends extra flags.
    pub fn with_extra<S: AsRef<str>>(mut self, extra: &[S]) -> Flags {
        self.extra
            .extend(extra.iter().map(|s| s.as_ref().to_string()));
        self
    }

    /// `127.0.0.1:<client port>`, the spelling of `--endpoints`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    pub fn client_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    pub fn peer_url(&self) -> String {
        let scheme = if self.peer_https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.peer_port)
    }

    /// Members of [`Flags::cluster_on`] with `https://` client and peer
    /// URLs (`--initial-cluster` included); the TLS flags go in `extra`.
    pub fn tls_cluster_on(
        ports: &[(u16, u16)],
        root: &Path,
        data_suffix: &str,
        token: &str,
    ) -> Vec<Flags> {
        let mut members = Flags::cluster_on(ports, root, data_suffix, token);
        for f in &mut members {
            f.https = true;
            f.peer_https = true;
        }
        let ic = members
            .iter()
            .map(|f| format!("{}={}", f.name, f.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        for f in &mut members {
            f.initial_cluster = Some(ic.clone());
        }
        members
    }

    /// The command line (without the binary).
    pub fn args(&self) -> Vec<String> {
        let advertise_peer = self
            .advertise_peer
            .clone()
            .unwrap_or_else(|| self.peer_url());
        let ic = self
            .initial_cluster
            .clone()
            .unwrap_or_else(|| format!("{}={advertise_peer}", self.name));
        let mut a: Vec<String> = vec![
            "--name".into(),
            self.name.clone(),
            "--data-dir".into(),
            self.data_dir.display().to_string(),
            "--listen-client-urls".into(),
            self.client_url(),
            "--advertise-client-urls".into(),
            self.client_url(),
            "--listen-peer-urls".into(),
            self.peer_url(),
            "--initial-advertise-peer-urls".into(),
            advertise_peer,
            "--initial-cluster".into(),
            ic,
        ];
        if let Some(t) = &self.token {
            a.extend(["--initial-cluster-token".into(), t.clone()]);
        }
        if let Some(s) = &self.state {
            a.extend(["--initial-cluster-state".into(), s.clone()]);
        }
        a.extend(self.extra.iter().cloned());
        a
    }
}
