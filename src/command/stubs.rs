//! etcdctl commands that oxctl lists but does not implement yet (names,
//! synopses and one-line descriptions only), so that `--help`, prefix
//! matching and "Did you mean this?" suggestions match etcdctl's.

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum CheckCmd {
    /// Check the performance of the etcd cluster
    #[command(override_usage = "perf [options]")]
    Perf,
    #[command(
        about = "Check the memory usage of holding data for different workloads on a given server endpoint.",
        override_usage = "datascale [options]"
    )]
    Datascale,
}
