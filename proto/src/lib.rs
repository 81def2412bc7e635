//! etcd's v3 wire protocol: the packages `mvccpb`, `authpb`, `etcdserverpb`,
//! `v3lockpb` and `v3electionpb`, with the same names, field numbers and
//! service paths as etcd 3.5 so that real etcd clients and servers interoperate.

pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}
pub mod authpb {
    tonic::include_proto!("authpb");
}
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}
pub mod v3lockpb {
    tonic::include_proto!("v3lockpb");
}
pub mod v3electionpb {
    tonic::include_proto!("v3electionpb");
}
/// oxcd's own peer protocol (not etcd's: members talk only to members).
pub mod oxcdpeerpb {
    tonic::include_proto!("oxcdpeerpb");
}
