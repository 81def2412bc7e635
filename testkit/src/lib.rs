//! The test harness every suite of the workspace uses (a dev-dependency of
//! `oxctl`, `oxcd` and `etcd-format`; never published):
//!
//! - [`ports`]: free loopback ports, never handed out twice in one process;
//! - [`bins`]: where real etcd (3.5.1: `ETCD_BIN_DIR`, else
//!   `.ci/etcd/v3.5.1`; 3.4: `/usr/bin`) and the built `oxcd`/`oxctl` are,
//!   and the one skip-or-fail rule when real etcd is missing;
//! - [`flags`]: the etcd flags a member starts with (the same for etcd and
//!   oxcd, single members and clusters);
//! - [`process`]: a server process with a log per run, SIGTERM/SIGKILL,
//!   kill-on-drop and its log tail on a failing test; clients run with a
//!   timeout and a clean `ETCDCTL_*` environment;
//! - [`pki`]: throwaway CAs, certificates and CRLs for the TLS tests, and
//!   ES256 key pairs for JWT auth tokens;
//! - [`dns`]: a DNS responder on loopback (SRV and A records) for the
//!   `--discovery-srv` tests;
//! - [`wait`]: polling with a deadline (readiness), and the start retry when
//!   another process took a port between picking and binding;
//! - [`linearize`]: a linearizability checker for recorded key-value
//!   histories (per-key register with compare-and-set, unknown outcomes);
//! - [`netproxy`]: a fault-injection proxy for a cluster's peer traffic
//!   (cuts, one-way cuts, delays, resets per directed link between members);
//! - [`rng`]: the deterministic PRNG of the mutation and fuzz tests;
//! - [`smallfs`]: a small tmpfs of a test's own, for full-disk tests;
//! - [`watchcheck`]: the watch-guarantee, lost-write and monotonic-revision
//!   checkers of the fault runs.

pub mod bins;
pub mod dns;
pub mod flags;
pub mod linearize;
pub mod netproxy;
pub mod pki;
pub mod ports;
pub mod process;
pub mod rng;
pub mod smallfs;
pub mod wait;
pub mod watchcheck;

pub use bins::Kind;
pub use flags::{url, Flags};
pub use ports::{free_port, free_ports};
pub use process::{
    logged_error, run, run_to_exit, run_to_exit_async, tail, try_run_to_exit, Output, Proc,
};
