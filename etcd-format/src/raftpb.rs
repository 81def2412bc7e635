//! The protobuf records of etcd's WAL and `.snap` files, written by hand
//! with prost derive.
//!
//! etcd generates these with gogoproto from proto2 files where most
//! scalars are `(gogoproto.nullable) = false`: such fields are always
//! emitted, even when zero. They are declared `required` here so prost
//! emits them too and our bytes equal etcd's. Nullable `bytes` fields are
//! `Option<Vec<u8>>` (emitted when present, even if empty). Repeated
//! scalars are proto2, hence unpacked.

/// raftpb.EntryType.
pub const ENTRY_NORMAL: i32 = 0;
pub const ENTRY_CONF_CHANGE: i32 = 1;
pub const ENTRY_CONF_CHANGE_V2: i32 = 2;

/// raftpb.ConfChangeType.
pub const CONF_CHANGE_ADD_NODE: i32 = 0;
pub const CONF_CHANGE_REMOVE_NODE: i32 = 1;
pub const CONF_CHANGE_UPDATE_NODE: i32 = 2;
pub const CONF_CHANGE_ADD_LEARNER_NODE: i32 = 3;

/// raftpb.Entry.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Entry {
    #[prost(int32, required, tag = "1")]
    pub r#type: i32,
    #[prost(uint64, required, tag = "2")]
    pub term: u64,
    #[prost(uint64, required, tag = "3")]
    pub index: u64,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub data: Option<Vec<u8>>,
}

/// raftpb.HardState.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct HardState {
    #[prost(uint64, required, tag = "1")]
    pub term: u64,
    #[prost(uint64, required, tag = "2")]
    pub vote: u64,
    #[prost(uint64, required, tag = "3")]
    pub commit: u64,
}

/// raftpb.ConfState.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ConfState {
    #[prost(uint64, repeated, packed = "false", tag = "1")]
    pub voters: Vec<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "2")]
    pub learners: Vec<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "3")]
    pub voters_outgoing: Vec<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "4")]
    pub learners_next: Vec<u64>,
    #[prost(bool, required, tag = "5")]
    pub auto_leave: bool,
}

/// raftpb.ConfChange (field 1, the ID, comes first on the wire).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ConfChange {
    #[prost(uint64, required, tag = "1")]
    pub id: u64,
    #[prost(int32, required, tag = "2")]
    pub r#type: i32,
    #[prost(uint64, required, tag = "3")]
    pub node_id: u64,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub context: Option<Vec<u8>>,
}

/// raftpb.SnapshotMetadata.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SnapshotMetadata {
    #[prost(message, required, tag = "1")]
    pub conf_state: ConfState,
    #[prost(uint64, required, tag = "2")]
    pub index: u64,
    #[prost(uint64, required, tag = "3")]
    pub term: u64,
}

/// raftpb.Snapshot, the payload of a `.snap` file.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Snapshot {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub data: Option<Vec<u8>>,
    #[prost(message, required, tag = "2")]
    pub metadata: SnapshotMetadata,
}

/// snappb.Snapshot, the whole `.snap` file: CRC-32C of `data` (an
/// encoded [`Snapshot`]).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SnapFile {
    #[prost(uint32, required, tag = "1")]
    pub crc: u32,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub data: Option<Vec<u8>>,
}

/// walpb.Record, one framed WAL record.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Record {
    #[prost(int64, required, tag = "1")]
    pub r#type: i64,
    #[prost(uint32, required, tag = "2")]
    pub crc: u32,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub data: Option<Vec<u8>>,
}

/// walpb.Snapshot, the WAL's snapshot marker (conf_state since 3.5).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct WalSnapshot {
    #[prost(uint64, required, tag = "1")]
    pub index: u64,
    #[prost(uint64, required, tag = "2")]
    pub term: u64,
    #[prost(message, optional, tag = "3")]
    pub conf_state: Option<ConfState>,
}

/// etcdserverpb.Metadata, the WAL metadata record of an etcd member.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Metadata {
    #[prost(uint64, required, tag = "1")]
    pub node_id: u64,
    #[prost(uint64, required, tag = "2")]
    pub cluster_id: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn zero_fields_are_emitted_like_gogoproto() {
        assert_eq!(WalSnapshot::default().encode_to_vec(), [0x08, 0, 0x10, 0]);
        let cc = ConfChange {
            node_id: 1,
            context: Some(b"x".to_vec()),
            ..Default::default()
        };
        assert_eq!(
            cc.encode_to_vec(),
            [0x08, 0, 0x10, 0, 0x18, 1, 0x22, 1, b'x']
        );
        let cs = ConfState {
            voters: vec![1, 2],
            ..Default::default()
        };
        assert_eq!(cs.encode_to_vec(), [0x08, 1, 0x08, 2, 0x28, 0]);
        let rec = Record {
            r#type: 4,
            ..Default::default()
        };
        assert_eq!(rec.encode_to_vec(), [0x08, 4, 0x10, 0]);
        let e = Entry {
            r#type: ENTRY_CONF_CHANGE,
            term: 1,
            index: 2,
            data: Some(vec![]),
        };
        assert_eq!(e.encode_to_vec(), [0x08, 1, 0x10, 1, 0x18, 2, 0x22, 0]);
        let snap = Snapshot::default().encode_to_vec();
        assert_eq!(snap, [0x12, 8, 0x0a, 2, 0x28, 0, 0x10, 0, 0x18, 0]);
    }
}
