//! A bound on peer input before the `protobuf` 2.28 crate decodes it.
//!
//! raft-rs's messages are decoded by `protobuf` 2.28, which recurses without
//! limit into nested groups of unknown fields (RUSTSEC-2024-0437): a few
//! kilobytes of nested group tags overflow the stack. raft's schema has no
//! groups at all, so [`check_message`] walks the wire format along the
//! schema (the message, its entries and snapshot, the conf changes that
//! entries carry) and refuses any group tag, any malformed field and any
//! nesting deeper than the schema's; only then is the decoder run. The walk
//! is iterative over fields and bounded in depth by the schema itself.

/// Which fields of a message are themselves messages to walk.
#[derive(Clone, Copy)]
enum Schema {
    Message,
    Entry,
    Snapshot,
    SnapshotMetadata,
    ConfState,
    ConfChange,
    ConfChangeV2,
    ConfChangeSingle,
}

impl Schema {
    fn nested(self, field: u64) -> Option<Schema> {
        match (self, field) {
            (Schema::Message, 7) => Some(Schema::Entry),
            (Schema::Message, 9) => Some(Schema::Snapshot),
            (Schema::Snapshot, 2) => Some(Schema::SnapshotMetadata),
            (Schema::SnapshotMetadata, 1) => Some(Schema::ConfState),
            (Schema::ConfChangeV2, 2) => Some(Schema::ConfChangeSingle),
            _ => None,
        }
    }
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint too long".into())
}

/// Walks `buf` as a `schema` message. An entry's data is walked as the
/// conf change its type says it is.
fn walk(buf: &[u8], schema: Schema) -> Result<(), String> {
    let mut pos = 0;
    let mut entry_type = 0u64;
    let mut entry_data: Option<&[u8]> = None;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (field, wire) = (key >> 3, key & 7);
        if field == 0 {
            return Err("field number 0".into());
        }
        match wire {
            0 => {
                let v = varint(buf, &mut pos)?;
                if matches!(schema, Schema::Entry) && field == 1 {
                    entry_type = v;
                }
            }
            1 => pos = pos.checked_add(8).ok_or("overflow")?,
            5 => pos = pos.checked_add(4).ok_or("overflow")?,
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).map_err(|_| "length")?;
                let end = pos.checked_add(len).ok_or("overflow")?;
                let inner = buf.get(pos..end).ok_or("truncated field")?;
                if let Some(child) = schema.nested(field) {
                    walk(inner, child)?;
                }
                if matches!(schema, Schema::Entry) && field == 4 {
                    entry_data = Some(inner);
                }
                pos = end;
            }
            _ => {
                return Err(format!(
                    "wire type {wire} (groups are not in raft's schema)"
                ))
            }
        }
        if pos > buf.len() {
            return Err("truncated field".into());
        }
    }
    if let Some(data) = entry_data {
        match entry_type {
            1 => walk(data, Schema::ConfChange)?,
            2 => walk(data, Schema::ConfChangeV2)?,
            _ => {}
        }
    }
    Ok(())
}

/// Checks a raft `Message`'s bytes before they are decoded.
pub fn check_message(buf: &[u8]) -> Result<(), String> {
    walk(buf, Schema::Message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protobuf::Message as _;
    use raft::eraftpb::{ConfChange, Entry, EntryType, Message, MessageType};

    #[test]
    fn real_messages_pass() {
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgAppend);
        m.to = 2;
        m.from = 1;
        let mut e = Entry::default();
        e.set_entry_type(EntryType::EntryConfChange);
        let cc = ConfChange {
            node_id: 9,
            context: b"ctx".to_vec().into(),
            ..Default::default()
        };
        e.data = cc.write_to_bytes().unwrap().into();
        m.entries.push(e);
        m.mut_snapshot().mut_metadata().mut_conf_state().voters = vec![1, 2, 3];
        m.mut_snapshot().mut_metadata().index = 7;
        let bytes = m.write_to_bytes().unwrap();
        check_message(&bytes).unwrap();
        // the check never accepts less than the decoder does
        assert!(Message::parse_from_bytes(&bytes).is_ok());
    }

    #[test]
    fn nested_groups_are_refused_before_decoding() {
        // field 20, start-group, nested 100,000 deep: what overflows the
        // stack of protobuf 2.28's decoder
        let mut bytes = Vec::new();
        for _ in 0..100_000 {
            bytes.push((20 << 3 | 3) as u8);
            bytes.push(1);
        }
        let e = check_message(&bytes).unwrap_err();
        assert!(e.contains("wire type 3"), "{e}");
        // inside an entry, and inside a conf change an entry carries
        let mut entry = vec![0x08, 0x01, 0x22, 2, (20 << 3 | 3) as u8, 1];
        let mut m = vec![0x3a, entry.len() as u8];
        m.append(&mut entry);
        assert!(check_message(&m).unwrap_err().contains("wire type 3"));
    }

    #[test]
    fn malformed_input_is_refused() {
        assert!(check_message(&[0x3a, 0x05, 0x08]).is_err()); // short entry
        assert!(check_message(&[0x08]).is_err()); // truncated varint
        assert!(check_message(&[0xff; 11]).is_err()); // over-long varint
        assert!(check_message(&[0x00]).is_err()); // field 0
        assert!(check_message(&[0x09, 1, 2, 3]).is_err()); // short fixed64
        check_message(&[]).unwrap();
    }
}
