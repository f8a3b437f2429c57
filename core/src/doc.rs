//! Generic operations on one Automerge document, independent of its kind: reading
//! values at a path, finding and resolving conflicts, per-field history, and guarded
//! loading of untrusted bytes.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::{
    ActorId, AutoCommit, ChangeHash, ObjId as ExId, ObjType, Prop, ReadDoc, ScalarValue, Value,
    transaction::Transactable,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PathSeg {
    /// A map key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// A path to a field, e.g. `answers.q3.Score.value` or `commitments[1].done_at`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FieldPath(pub Vec<PathSeg>);

impl FieldPath {
    /// Parse the dotted form (`a.b[2].c`).
    pub fn parse(s: &str) -> Result<FieldPath> {
        let bad = || Error::Malformed("invalid field path".into());
        let mut segs = Vec::new();
        if s.is_empty() {
            return Ok(FieldPath(segs));
        }
        for part in s.split('.') {
            let (key, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if key.is_empty() && segs.is_empty() && rest.is_empty() {
                return Err(bad());
            }
            if !key.is_empty() {
                segs.push(PathSeg::Key(key.to_string()));
            }
            while let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']').ok_or_else(bad)?;
                let n = r[..end].parse::<usize>().map_err(|_| bad())?;
                segs.push(PathSeg::Index(n));
                rest = &r[end + 1..];
            }
            if !rest.is_empty() {
                return Err(bad());
            }
        }
        Ok(FieldPath(segs))
    }

    /// True when `self` equals `prefix` or lies under it.
    pub fn starts_with(&self, prefix: &FieldPath) -> bool {
        self.0.len() >= prefix.0.len() && self.0[..prefix.0.len()] == prefix.0[..]
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                PathSeg::Key(k) if i == 0 => write!(f, "{k}")?,
                PathSeg::Key(k) => write!(f, ".{k}")?,
                PathSeg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A value read out of a document, of any shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum FieldValue {
    /// Null / absent optional.
    Null,
    /// Boolean.
    Bool(bool),
    /// Signed integer.
    Int(i64),
    /// Unsigned integer.
    Uint(u64),
    /// Float.
    F64(f64),
    /// String scalar.
    Str(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// Timestamp scalar (ms).
    Timestamp(i64),
    /// Counter.
    Counter(i64),
    /// Collaborative text.
    Text(String),
    /// Map.
    Map(BTreeMap<String, FieldValue>),
    /// List.
    List(Vec<FieldValue>),
}

impl FieldValue {
    fn from_scalar(s: &ScalarValue) -> FieldValue {
        match s {
            ScalarValue::Bytes(b) => FieldValue::Bytes(b.clone()),
            ScalarValue::Str(s) => FieldValue::Str(s.to_string()),
            ScalarValue::Int(i) => FieldValue::Int(*i),
            ScalarValue::Uint(u) => FieldValue::Uint(*u),
            ScalarValue::F64(f) => FieldValue::F64(*f),
            ScalarValue::Counter(c) => FieldValue::Counter(i64::from(c)),
            ScalarValue::Timestamp(t) => FieldValue::Timestamp(*t),
            ScalarValue::Boolean(b) => FieldValue::Bool(*b),
            ScalarValue::Unknown { .. } | ScalarValue::Null => FieldValue::Null,
        }
    }
}

/// Read the value (of any shape) stored at `(obj, prop)`.
fn read_value<D: ReadDoc>(doc: &D, v: &Value<'_>, id: &ExId) -> Result<FieldValue> {
    Ok(match v {
        Value::Scalar(s) => FieldValue::from_scalar(s),
        Value::Object(ObjType::Text) => FieldValue::Text(doc.text(id)?),
        Value::Object(ObjType::Map | ObjType::Table) => {
            let mut m = BTreeMap::new();
            for k in doc.keys(id) {
                if let Some((v, cid)) = doc.get(id, k.as_str())? {
                    m.insert(k, read_value(doc, &v, &cid)?);
                }
            }
            FieldValue::Map(m)
        }
        Value::Object(ObjType::List) => {
            let mut l = Vec::new();
            for i in 0..doc.length(id) {
                if let Some((v, cid)) = doc.get(id, i)? {
                    l.push(read_value(doc, &v, &cid)?);
                }
            }
            FieldValue::List(l)
        }
    })
}

fn prop_of(seg: &PathSeg) -> Prop {
    match seg {
        PathSeg::Key(k) => Prop::Map(k.clone()),
        PathSeg::Index(i) => Prop::Seq(*i),
    }
}

/// Resolve the object that holds the last segment of `path`.
fn parent_obj<D: ReadDoc>(doc: &D, path: &FieldPath) -> Result<(ExId, Prop)> {
    let missing = || Error::Malformed(format!("no field at {path}"));
    let (last, init) = path.0.split_last().ok_or_else(missing)?;
    let mut obj = automerge::ROOT;
    for seg in init {
        match doc.get(&obj, prop_of(seg))? {
            Some((Value::Object(_), id)) => obj = id,
            _ => return Err(missing()),
        }
    }
    Ok((obj, prop_of(last)))
}

/// The current (winning) value at `path`, if any.
pub fn value_at<D: ReadDoc>(doc: &D, path: &FieldPath) -> Result<Option<FieldValue>> {
    if path.0.is_empty() {
        return Ok(Some(read_value(
            doc,
            &Value::Object(ObjType::Map),
            &automerge::ROOT,
        )?));
    }
    let Ok((obj, prop)) = parent_obj(doc, path) else {
        return Ok(None);
    };
    match doc.get(&obj, prop)? {
        Some((v, id)) => Ok(Some(read_value(doc, &v, &id)?)),
        None => Ok(None),
    }
}

/// Concurrent writes of one field that the CRDT resolved deterministically: the value
/// everyone sees (`winner`) and the values that lost (`others`). The app shows them and
/// may resolve the conflict, which is itself a change that syncs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// Where.
    pub path: FieldPath,
    /// The value every replica shows.
    pub winner: FieldValue,
    /// The concurrent values that lost.
    pub others: Vec<FieldValue>,
}

/// Every conflicted field of the document.
pub fn conflicts<D: ReadDoc>(doc: &D) -> Result<Vec<Conflict>> {
    let mut out = Vec::new();
    walk_conflicts(
        doc,
        &automerge::ROOT,
        ObjType::Map,
        &mut Vec::new(),
        &mut out,
    )?;
    Ok(out)
}

/// A property seen while walking: where, whether conflicted, and the child object.
type WalkItem = (PathSeg, bool, Option<(ObjType, ExId)>);

fn walk_conflicts<D: ReadDoc>(
    doc: &D,
    obj: &ExId,
    typ: ObjType,
    path: &mut Vec<PathSeg>,
    out: &mut Vec<Conflict>,
) -> Result<()> {
    // One pass over the object; only conflicted props pay for `get_all`.
    let items: Vec<WalkItem> = match typ {
        ObjType::Map | ObjType::Table => doc
            .map_range(obj, ..)
            .map(|i| {
                let child = match i.value {
                    automerge::ValueRef::Object(t) => Some((t, i.id())),
                    automerge::ValueRef::Scalar(_) => None,
                };
                (PathSeg::Key(i.key.into_owned()), i.conflict, child)
            })
            .collect(),
        ObjType::List => doc
            .list_range(obj, ..)
            .map(|i| {
                let child = match i.value {
                    automerge::ValueRef::Object(t) => Some((t, i.id())),
                    automerge::ValueRef::Scalar(_) => None,
                };
                (PathSeg::Index(i.index), i.conflict, child)
            })
            .collect(),
        ObjType::Text => return Ok(()),
    };
    for (seg, conflict, child) in items {
        path.push(seg.clone());
        if conflict {
            let all = doc.get_all(obj, prop_of(&seg))?;
            if let Some((winner, wid)) = doc.get(obj, prop_of(&seg))? {
                let mut others = Vec::new();
                for (v, id) in &all {
                    if id != &wid {
                        others.push(read_value(doc, v, id)?);
                    }
                }
                out.push(Conflict {
                    path: FieldPath(path.clone()),
                    winner: read_value(doc, &winner, &wid)?,
                    others,
                });
            }
        }
        if let Some((t, id)) = child {
            walk_conflicts(doc, &id, t, path, out)?;
        }
        path.pop();
    }
    Ok(())
}

/// Write `value` at `path`, superseding every concurrent value there (the resolution
/// of a conflict). Objects are written afresh.
pub fn put_value(doc: &mut AutoCommit, path: &FieldPath, value: &FieldValue) -> Result<()> {
    let (obj, prop) = parent_obj(doc, path)?;
    match doc.object_type(&obj)? {
        ObjType::List => {
            let Prop::Seq(i) = prop else {
                return Err(Error::Malformed("a list is indexed by number".into()));
            };
            if i >= doc.length(&obj) {
                return Err(Error::Malformed(format!("no field at {path}")));
            }
        }
        ObjType::Map | ObjType::Table => {}
        ObjType::Text => return Err(Error::Malformed("cannot write inside text".into())),
    }
    put_at(doc, &obj, prop, value)
}

fn put_at(doc: &mut AutoCommit, obj: &ExId, prop: Prop, value: &FieldValue) -> Result<()> {
    let scalar = |doc: &mut AutoCommit, v: ScalarValue| -> Result<()> {
        doc.put(obj, prop.clone(), v)?;
        Ok(())
    };
    match value {
        FieldValue::Null => scalar(doc, ScalarValue::Null),
        FieldValue::Bool(b) => scalar(doc, ScalarValue::Boolean(*b)),
        FieldValue::Int(i) => scalar(doc, ScalarValue::Int(*i)),
        FieldValue::Uint(u) => scalar(doc, ScalarValue::Uint(*u)),
        FieldValue::F64(f) => scalar(doc, ScalarValue::F64(*f)),
        FieldValue::Str(s) => scalar(doc, ScalarValue::Str(s.as_str().into())),
        FieldValue::Bytes(b) => scalar(doc, ScalarValue::Bytes(b.clone())),
        FieldValue::Timestamp(t) => scalar(doc, ScalarValue::Timestamp(*t)),
        FieldValue::Counter(c) => scalar(doc, ScalarValue::counter(*c)),
        FieldValue::Text(t) => {
            let id = doc.put_object(obj, prop, ObjType::Text)?;
            doc.splice_text(&id, 0, 0, t)?;
            Ok(())
        }
        FieldValue::Map(m) => {
            let id = doc.put_object(obj, prop, ObjType::Map)?;
            for (k, v) in m {
                put_at(doc, &id, Prop::Map(k.clone()), v)?;
            }
            Ok(())
        }
        FieldValue::List(l) => {
            let id = doc.put_object(obj, prop, ObjType::List)?;
            for (i, v) in l.iter().enumerate() {
                insert_at(doc, &id, i, v)?;
            }
            Ok(())
        }
    }
}

fn insert_at(doc: &mut AutoCommit, list: &ExId, i: usize, value: &FieldValue) -> Result<()> {
    let obj_type = match value {
        FieldValue::Text(_) => Some(ObjType::Text),
        FieldValue::Map(_) => Some(ObjType::Map),
        FieldValue::List(_) => Some(ObjType::List),
        _ => None,
    };
    match obj_type {
        None => {
            // Insert a placeholder, then overwrite it with the scalar through put_at.
            doc.insert(list, i, ScalarValue::Null)?;
            put_at(doc, list, Prop::Seq(i), value)
        }
        Some(t) => {
            let id = doc.insert_object(list, i, t)?;
            match value {
                FieldValue::Text(s) => doc.splice_text(&id, 0, 0, s)?,
                FieldValue::Map(m) => {
                    for (k, v) in m {
                        put_at(doc, &id, Prop::Map(k.clone()), v)?;
                    }
                }
                FieldValue::List(l) => {
                    for (j, v) in l.iter().enumerate() {
                        insert_at(doc, &id, j, v)?;
                    }
                }
                _ => {}
            }
            Ok(())
        }
    }
}

/// One change of a document: who (actor), when, and which fields it touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSummary {
    /// The change hash.
    pub hash: ChangeHash,
    /// The Automerge actor that made it (maps to a device and user in the store).
    pub actor: ActorId,
    /// Commit time, ms since the epoch, as the writer's clock had it.
    pub time: i64,
    /// Fields written by the change (text edits are reported on the text field).
    pub fields: Vec<FieldPath>,
}

/// Every change of the document in causal order, with the fields each one touched.
pub fn change_summaries(doc: &mut AutoCommit) -> Result<Vec<ChangeSummary>> {
    let changes = doc.get_changes(&[]);
    let mut out = Vec::with_capacity(changes.len());
    let mut path_cache: BTreeMap<String, Option<Vec<PathSeg>>> = BTreeMap::new();
    for ch in changes {
        let expanded = ch.decode();
        let mut fields: Vec<FieldPath> = Vec::new();
        for op in &expanded.operations {
            let obj_path = match &op.obj {
                automerge::legacy::ObjectId::Root => Some(Vec::new()),
                automerge::legacy::ObjectId::Id(opid) => {
                    let key = format!("{}@{}", opid.counter(), opid.actor());
                    path_cache
                        .entry(key.clone())
                        .or_insert_with(|| object_path(doc, &key))
                        .clone()
                }
            };
            let Some(mut p) = obj_path else { continue };
            if let automerge::legacy::Key::Map(k) = &op.key {
                p.push(PathSeg::Key(k.to_string()));
            }
            let fp = FieldPath(p);
            if !fields.contains(&fp) {
                fields.push(fp);
            }
        }
        out.push(ChangeSummary {
            hash: ch.hash(),
            actor: ch.actor_id().clone(),
            time: ch.timestamp(),
            fields,
        });
    }
    Ok(out)
}

fn object_path(doc: &AutoCommit, key: &str) -> Option<Vec<PathSeg>> {
    let id = doc.import_obj(key).ok()?;
    let parents = doc.parents(&id).ok()?;
    Some(
        parents
            .path()
            .into_iter()
            .map(|(_, p)| match p {
                Prop::Map(k) => PathSeg::Key(k),
                Prop::Seq(i) => PathSeg::Index(i),
            })
            .collect(),
    )
}

/// Automerge's chunk magic bytes.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Check an Automerge change chunk from outside before Automerge parses it: a compressed
/// change (chunk type 2) is inflated here under `cap`, because Automerge's own inflate
/// has no output limit (a 1 MiB chunk can claim 1 GiB). Documents and bundles are
/// refused where a change is expected.
pub fn check_change_chunk(bytes: &[u8], cap: usize) -> Result<()> {
    let bad = |why: &str| Error::Malformed(format!("change chunk: {why}"));
    if bytes.len() < 10 || bytes[..4] != CHUNK_MAGIC {
        return Err(bad("no chunk header"));
    }
    let chunk_type = bytes[8];
    let mut len: u64 = 0;
    let mut shift = 0u32;
    let mut i = 9;
    loop {
        let b = *bytes.get(i).ok_or_else(|| bad("truncated length"))?;
        len |= u64::from(b & 0x7f)
            .checked_shl(shift)
            .ok_or_else(|| bad("length overflow"))?;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err(bad("length overflow"));
        }
    }
    let body = &bytes[i..];
    if u64::try_from(body.len()).ok() != Some(len) {
        return Err(bad("length mismatch"));
    }
    match chunk_type {
        1 => Ok(()),
        2 => {
            crate::sync::wire::inflate_capped(body, cap).map_err(|_| Error::TooLarge {
                what: "inflated change",
                size: cap + 1,
                limit: cap,
            })?;
            Ok(())
        }
        _ => Err(bad("not a change")),
    }
}

/// Run a call into Automerge on bytes that may be hostile, turning a panic into an error.
pub fn guarded<T>(what: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(Error::Malformed(format!(
            "{what}: document engine panicked"
        ))),
    }
}

/// The 32-byte hashes of `heads`, concatenated (the stored form of a head set).
pub fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    let mut sorted: Vec<&ChangeHash> = heads.iter().collect();
    sorted.sort();
    sorted.iter().flat_map(|h| h.0).collect()
}

/// Inverse of [`encode_heads`].
pub fn decode_heads(b: &[u8]) -> Result<Vec<ChangeHash>> {
    if !b.len().is_multiple_of(32) {
        return Err(Error::Malformed("head list length".into()));
    }
    Ok(b.chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            ChangeHash(h)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ActorId;

    #[test]
    fn paths_parse_and_print() -> Result<()> {
        for s in ["a", "a.b", "commitments[2].done_at", "m[0][1].x", ""] {
            assert_eq!(FieldPath::parse(s)?.to_string(), s);
        }
        assert!(FieldPath::parse("a[x]").is_err());
        assert!(FieldPath::parse("a[1").is_err());
        let p = FieldPath::parse("answers.q1.Score.value")?;
        assert!(p.starts_with(&FieldPath::parse("answers.q1")?));
        assert!(!p.starts_with(&FieldPath::parse("answers.q2")?));
        Ok(())
    }

    #[test]
    fn conflict_found_and_resolved() -> Result<()> {
        let mut a = AutoCommit::new().with_actor(ActorId::from([1u8; 16]));
        let m = a.put_object(automerge::ROOT, "m", ObjType::Map)?;
        a.put(&m, "x", 1)?;
        a.commit();
        let mut b = a.fork().with_actor(ActorId::from([2u8; 16]));
        a.put(&m, "x", 10)?;
        b.put(&m, "x", 20)?;
        a.commit();
        b.commit();
        a.merge(&mut b)?;
        b.merge(&mut a)?;
        let ca = conflicts(&a)?;
        assert_eq!(ca.len(), 1);
        assert_eq!(ca, conflicts(&b)?, "same conflict on both replicas");
        assert_eq!(ca[0].path.to_string(), "m.x");
        // deterministic winner: the larger actor id at equal counters
        assert_eq!(ca[0].winner, FieldValue::Int(20));
        assert_eq!(ca[0].others, vec![FieldValue::Int(10)]);
        put_value(&mut a, &ca[0].path, &FieldValue::Int(10))?;
        a.commit();
        assert!(conflicts(&a)?.is_empty());
        b.merge(&mut a)?;
        assert!(conflicts(&b)?.is_empty(), "the resolution syncs");
        assert_eq!(value_at(&b, &ca[0].path)?, Some(FieldValue::Int(10)));
        Ok(())
    }

    #[test]
    fn summaries_name_fields() -> Result<()> {
        let mut a = AutoCommit::new();
        let m = a.put_object(automerge::ROOT, "answers", ObjType::Map)?;
        a.put(&m, "q1", 3)?;
        a.commit();
        let t = a.put_object(automerge::ROOT, "notes", ObjType::Text)?;
        a.splice_text(&t, 0, 0, "hello")?;
        a.commit();
        let s = change_summaries(&mut a)?;
        assert_eq!(s.len(), 2);
        let names: Vec<String> = s[0].fields.iter().map(|f| f.to_string()).collect();
        assert_eq!(names, vec!["answers", "answers.q1"]);
        let names: Vec<String> = s[1].fields.iter().map(|f| f.to_string()).collect();
        assert_eq!(names, vec!["notes"]);
        Ok(())
    }

    #[test]
    fn heads_round_trip() -> Result<()> {
        let hs = vec![ChangeHash([3; 32]), ChangeHash([1; 32])];
        let enc = encode_heads(&hs);
        let mut back = decode_heads(&enc)?;
        back.sort();
        let mut want = hs.clone();
        want.sort();
        assert_eq!(back, want);
        assert!(decode_heads(&[0; 31]).is_err());
        Ok(())
    }
}
