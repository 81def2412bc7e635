//! What oxctl presents itself as: etcdctl's command name, version and API
//! version (in usage texts, errors, `version` and `--version`).

/// The root command's name wherever etcdctl prints it.
pub const ROOT_NAME: &str = "etcdctl";
pub const VERSION: &str = "3.5.1";
pub const API_VERSION: &str = "3.5";
