//! Prints the buckets of a bbolt file (a debugging aid).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: dump FILE")?;
    let data = std::fs::read(path)?;
    let (db, _) = etcd_format::snapshot::split_trailer(&data);
    let r = etcd_format::bolt::Reader::new(db)?;
    for name in r.bucket_names()? {
        println!("== {}", String::from_utf8_lossy(&name));
        let b = r.bucket(&name)?.ok_or("bucket vanished")?;
        for e in b.iter() {
            let e = e?;
            println!(
                "  {:?} => {:?}",
                String::from_utf8_lossy(e.key),
                String::from_utf8_lossy(e.value)
            );
        }
    }
    Ok(())
}
