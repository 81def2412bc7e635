//! Generates the prost/tonic code from our .proto files with a vendored protoc,
//! so a fresh machine needs no system protoc.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    let files = [
        "protos/mvccpb/kv.proto",
        "protos/authpb/auth.proto",
        "protos/etcdserverpb/rpc.proto",
        "protos/v3lockpb/v3lock.proto",
        "protos/v3electionpb/v3election.proto",
        "protos/oxcdpeerpb/peer.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    tonic_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos(&files, &["protos"])?;
    Ok(())
}
