//! `etcdutl snapshot restore FILE --data-dir DIR` with the default
//! single-member cluster (a measuring aid: compare time and peak RSS).
use std::path::PathBuf;

use etcd_format::restore::{restore_file, RestoreConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(file), Some(dir)) = (args.next(), args.next()) else {
        return Err("usage: restore SNAPSHOT DATA_DIR".into());
    };
    let cfg = RestoreConfig {
        data_dir: Some(PathBuf::from(dir)),
        ..Default::default()
    };
    let report = restore_file(&PathBuf::from(file), &cfg)?;
    println!("restored revision {}", report.revision);
    Ok(())
}
