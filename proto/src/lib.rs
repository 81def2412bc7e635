//! etcd's v3 wire protocol: the packages `mvccpb`, `authpb`, `etcdserverpb`,
//! `v3lockpb` and `v3electionpb`, with the same names, field numbers and
//! service paths as etcd 3.5 so that real etcd clients and servers interoperate.
//! With the `json` feature, the messages also have serde impls in proto3's
//! JSON mapping with the proto field names (etcd's gRPC gateway).

pub mod mvccpb {
    tonic::include_proto!("mvccpb");
    #[cfg(feature = "json")]
    include!(concat!(env!("OUT_DIR"), "/mvccpb.serde.rs"));
}
pub mod authpb {
    tonic::include_proto!("authpb");
    #[cfg(feature = "json")]
    include!(concat!(env!("OUT_DIR"), "/authpb.serde.rs"));
}
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
    #[cfg(feature = "json")]
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.serde.rs"));
}
pub mod v3lockpb {
    tonic::include_proto!("v3lockpb");
    #[cfg(feature = "json")]
    include!(concat!(env!("OUT_DIR"), "/v3lockpb.serde.rs"));
}
pub mod v3electionpb {
    tonic::include_proto!("v3electionpb");
    #[cfg(feature = "json")]
    include!(concat!(env!("OUT_DIR"), "/v3electionpb.serde.rs"));
}
/// oxcd's own peer protocol (not etcd's: members talk only to members).
pub mod oxcdpeerpb {
    tonic::include_proto!("oxcdpeerpb");
}
