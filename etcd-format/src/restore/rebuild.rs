//! The restored database, streamed from a source database (in memory or
//! read page by page from a file) into a [`StreamWriter`].

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io;

use crate::bolt::{Entry, FileIter, FileReader, Iter, KeyValue, OwnedEntry, Reader, Writer};
use crate::member::Member;
use crate::schema::{self, RevisionKey};

/// An entry of a source database and whether it is a nested bucket.
type SourceItem<'r> = crate::Result<(KeyValue<'r>, bool)>;

/// A database to restore from.
pub(super) trait Source<'r> {
    type Iter: Iterator<Item = SourceItem<'r>>;
    /// Top-level entries: name and whether it is a bucket.
    fn top(&self) -> crate::Result<Vec<(Vec<u8>, bool)>>;
    /// A top-level bucket's entries (None: missing, or not a bucket).
    fn bucket(&self, name: &[u8]) -> crate::Result<Option<Self::Iter>>;
}

type EntryFn<'r> = fn(crate::Result<Entry<'r>>) -> SourceItem<'r>;

fn borrowed(e: crate::Result<Entry<'_>>) -> SourceItem<'_> {
    e.map(|e| ((Cow::Borrowed(e.key), Cow::Borrowed(e.value)), e.is_bucket))
}

impl<'r> Source<'r> for &'r Reader<'r> {
    type Iter = std::iter::Map<Iter<'r>, EntryFn<'r>>;

    fn top(&self) -> crate::Result<Vec<(Vec<u8>, bool)>> {
        self.root()
            .iter()
            .map(|e| e.map(|e| (e.key.to_vec(), e.is_bucket)))
            .collect()
    }

    fn bucket(&self, name: &[u8]) -> crate::Result<Option<Self::Iter>> {
        let reader: &'r Reader<'r> = self;
        Ok(reader
            .bucket(name)?
            .map(|b| b.iter().map(borrowed as EntryFn<'r>)))
    }
}

/// A [`FileReader`] with its top-level entries read.
pub(super) struct FileSource<'r, 'f> {
    reader: &'r FileReader<'f>,
    /// Top-level entries and the pages holding them.
    top: Vec<(OwnedEntry, u64)>,
}

impl<'r, 'f> FileSource<'r, 'f> {
    pub(super) fn new(reader: &'r FileReader<'f>) -> crate::Result<Self> {
        let mut top = Vec::new();
        let mut it = reader.root();
        while let Some(e) = it.next() {
            top.push((e?, it.page()));
        }
        Ok(FileSource { reader, top })
    }
}

type OwnedFn<'r> = fn(crate::Result<OwnedEntry>) -> SourceItem<'r>;

fn owned<'r>(e: crate::Result<OwnedEntry>) -> SourceItem<'r> {
    e.map(|e| ((Cow::Owned(e.key), Cow::Owned(e.value)), e.is_bucket))
}

impl<'r, 'f> Source<'r> for FileSource<'r, 'f> {
    type Iter = std::iter::Map<FileIter<'r, 'f>, OwnedFn<'r>>;

    fn top(&self) -> crate::Result<Vec<(Vec<u8>, bool)>> {
        Ok(self
            .top
            .iter()
            .map(|(e, _)| (e.key.clone(), e.is_bucket))
            .collect())
    }

    fn bucket(&self, name: &[u8]) -> crate::Result<Option<Self::Iter>> {
        match self.top.iter().find(|(e, _)| e.key == name) {
            Some((e, page)) if e.is_bucket => {
                let it = self.reader.bucket(*page, &e.value, 1)?;
                Ok(Some(it.map(owned as OwnedFn<'r>)))
            }
            _ => Ok(None),
        }
    }
}

/// Streams the restored database of `source` into `out`; see
/// [`super::rebuild_db_into`].
pub(super) fn rebuild<'r, S: Source<'r>, W: io::Write + io::Seek>(
    source: &S,
    members: &[Member],
    bump_revision: u64,
    mark_compacted: bool,
    out: W,
) -> Result<(W, i64), crate::Error> {
    let mut names: BTreeSet<Vec<u8>> = BTreeSet::new();
    for (name, is_bucket) in source.top()? {
        if !is_bucket {
            let name = String::from_utf8_lossy(&name).into_owned();
            return Err(crate::Error::NotABucket { name });
        }
        names.insert(name);
    }
    // TrimMembershipFromBackend, then AddMember for each new member (the
    // three membership buckets are created if missing).
    names.extend(
        [
            schema::MEMBERS,
            schema::MEMBERS_REMOVED,
            schema::CLUSTER,
            schema::KEY,
            schema::META,
        ]
        .map(<[u8]>::to_vec),
    );
    let mut new_members = Entries::new();
    for m in members {
        new_members.insert(m.id_hex().into_bytes(), m.json().into_bytes());
    }

    // etcdutl 3.5.10+ (`--bump-revision` with `--mark-compacted`; 3.5.1
    // lacks both): an empty value at the bumped revision, and the
    // scheduled compaction set to it so etcd compacts up to it on boot.
    // The latest revision is then needed before `key` is written, which
    // takes a first pass over it; otherwise it is found while writing.
    let bump = mark_compacted && bump_revision > 0;
    let mut latest = schema::Revision::default();
    let mut key_extra = Entries::new();
    let mut meta_extra = Entries::new();
    if bump {
        if let Some(key) = source.bucket(schema::KEY)? {
            for e in key {
                if let Some(r) = RevisionKey::decode_lenient(&e?.0 .0) {
                    latest = latest.max(r.rev);
                }
            }
        }
        latest = schema::Revision {
            main: latest.main + bump_revision as i64,
            sub: 0,
        };
        let bumped = RevisionKey::new(latest.main, 0, false).encode();
        key_extra.insert(bumped.clone(), Vec::new());
        meta_extra.insert(schema::META_SCHEDULED_COMPACT.to_vec(), bumped);
    }
    // cindex.UpdateConsistentIndex(commit = N, term = 1).
    let n = members.len() as u64;
    meta_extra.insert(
        schema::META_CONSISTENT_INDEX.to_vec(),
        n.to_be_bytes().to_vec(),
    );
    meta_extra.insert(schema::META_TERM.to_vec(), 1u64.to_be_bytes().to_vec());

    let mut w = Writer::new().stream(out)?;
    for name in &names {
        let name = name.as_slice();
        let replaced = name == schema::MEMBERS || name == schema::MEMBERS_REMOVED;
        let source = match replaced {
            true => None,
            false => source.bucket(name)?,
        };
        let extra = match name {
            schema::MEMBERS => std::mem::take(&mut new_members),
            schema::KEY => std::mem::take(&mut key_extra),
            schema::META => std::mem::take(&mut meta_extra),
            _ => Entries::new(),
        };
        let entries = Merge {
            name,
            source,
            head: None,
            extra: extra.into_iter().peekable(),
        };
        if name == schema::KEY && !bump {
            let track = |kv: &crate::Result<KeyValue<'_>>| {
                if let Some(r) = kv
                    .as_ref()
                    .ok()
                    .and_then(|(k, _)| RevisionKey::decode_lenient(k))
                {
                    latest = latest.max(r.rev);
                }
            };
            w.bucket(name, entries.inspect(track))?;
        } else {
            w.bucket(name, entries)?;
        }
    }
    Ok((w.finish()?, latest.main))
}

type Entries = BTreeMap<Vec<u8>, Vec<u8>>;

/// A bucket's entries from the snapshot (borrowed) merged with sorted
/// additions (owned); an addition replaces the snapshot's value.
struct Merge<'n, 'r, I> {
    name: &'n [u8],
    source: Option<I>,
    head: Option<KeyValue<'r>>,
    extra: std::iter::Peekable<std::collections::btree_map::IntoIter<Vec<u8>, Vec<u8>>>,
}

impl<'r, I: Iterator<Item = SourceItem<'r>>> Iterator for Merge<'_, 'r, I> {
    type Item = crate::Result<KeyValue<'r>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.head.is_none() {
            match self.source.as_mut().and_then(Iterator::next) {
                None => self.source = None,
                Some(Err(e)) => {
                    self.source = None;
                    return Some(Err(e));
                }
                Some(Ok((_, true))) => {
                    self.source = None;
                    let name = String::from_utf8_lossy(self.name);
                    return Some(Err(crate::Error::BadValue {
                        what: "bucket",
                        reason: format!("{name:?} holds a nested bucket"),
                    }));
                }
                Some(Ok((kv, false))) => self.head = Some(kv),
            }
        }
        let mut drop_head = false;
        let take_extra = match (&self.head, self.extra.peek()) {
            (None, None) => return None,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some((k, _)), Some((x, _))) => {
                // An addition replaces the snapshot's entry.
                drop_head = k[..] == x[..];
                k[..] >= x[..]
            }
        };
        if drop_head {
            self.head = None;
        }
        Some(Ok(match take_extra {
            true => {
                let (k, v) = self.extra.next().expect("peeked");
                (Cow::Owned(k), Cow::Owned(v))
            }
            false => self.head.take().expect("present"),
        }))
    }
}
