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
    let descriptors = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("descriptors.bin");
    tonic_build::configure()
        .build_client(true)
        .build_server(true)
        .file_descriptor_set_path(&descriptors)
        .compile_protos(&files, &["protos"])?;
    // serde impls with proto3's JSON mapping, as etcd's gRPC gateway speaks
    // it: the proto field names, 64-bit integers as strings, bytes as
    // base64, enums by name, unknown fields ignored (the `json` feature)
    pbjson_build::Builder::new()
        .register_descriptors(&std::fs::read(&descriptors)?)?
        .preserve_proto_field_names()
        .ignore_unknown_fields()
        .build(&[
            ".mvccpb",
            ".authpb",
            ".etcdserverpb",
            ".v3lockpb",
            ".v3electionpb",
        ])?;
    Ok(())
}
