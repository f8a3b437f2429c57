//! The change section of protocol v2 (docs/protocol.md, "Change section"): how the
//! change bytes of a `Push` or `PullBatch` travel.
//!
//! Automerge stores every value of a change in one column, interleaved with the
//! constants around it: a response's fifteen scores sit between their scale and
//! dimension, its phone number between fixed strings. Compressing a batch of responses
//! then pays for a broken match at every answer. The section lifts the value column out
//! of each change and lays the values of the whole batch out by *slot* — the n-th value
//! written under the same map key — so that the compressor sees the same field of every
//! response side by side. Decimal numbers that print short (`30.1934`) are written as a
//! decimal mantissa and exponent instead of eight bytes of binary fraction.
//!
//! The transform is exact and checked on both ends: the sender unpacks what it packed
//! and sends a change as it is unless it comes back byte for byte, and the receiver
//! refuses a rebuilt change whose own checksum (the first four bytes of its hash) does
//! not match. Anything the packer does not recognise (another chunk type, unusual
//! columns, more than [`MAX_OPS`] operations) is sent as it is.

use std::collections::HashMap;
use std::ops::Range;

use super::WireError;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Column specs (id << 4 | type) of the key strings, value metadata and raw values.
const KEY_STR: u64 = (1 << 4) | 5;
const VAL_META: u64 = (5 << 4) | 6;
const VAL_RAW: u64 = (5 << 4) | 7;
/// Value type code of a 64-bit float in the metadata column.
const TYPE_FLOAT: u64 = 5;
/// Changes with more operations than this travel as they are (bounds the work a
/// hostile section can ask for per change).
pub const MAX_OPS: usize = 1 << 20;
/// Operations in one section, over all its changes.
const MAX_SECTION_OPS: usize = 1 << 23;

/// Where the parts of one change chunk are.
#[derive(Debug, Clone)]
struct Layout {
    /// Offset of the raw value column.
    hole: usize,
    /// Its length.
    raw_len: usize,
    /// The key string column.
    keys: Range<usize>,
    /// The value metadata column.
    meta: Range<usize>,
}

fn uleb(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let x = *b.get(*i)?;
        *i += 1;
        let bits = u64::from(x & 0x7f);
        if shift == 63 && bits > 1 {
            return None;
        }
        out |= bits << shift;
        if x & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

fn sleb(b: &[u8], i: &mut usize) -> Option<i64> {
    let mut out = 0i64;
    let mut shift = 0u32;
    loop {
        let x = *b.get(*i)?;
        *i += 1;
        if shift >= 64 {
            return None;
        }
        out |= i64::from(x & 0x7f).checked_shl(shift)?;
        shift += 7;
        if x & 0x80 == 0 {
            if shift < 64 && x & 0x40 != 0 {
                out |= -1i64 << shift;
            }
            return Some(out);
        }
    }
}

fn put_uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn put_sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0);
        if done {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn take(b: &[u8], i: &mut usize, n: u64) -> Option<()> {
    let n = usize::try_from(n).ok()?;
    let end = i.checked_add(n)?;
    if end > b.len() {
        return None;
    }
    *i = end;
    Some(())
}

/// The layout of an uncompressed change chunk. `missing` is the number of bytes cut out
/// of it (0 for a whole chunk; the value column's length for a skeleton, whose header
/// still describes the whole chunk).
fn layout(c: &[u8], skeleton: bool) -> Option<Layout> {
    if c.get(..4)? != MAGIC || *c.get(8)? != 1 {
        return None;
    }
    let mut i = 9;
    let body_len = uleb(c, &mut i)?;
    let body_start = i;
    // Header: dependencies, actor, seq, start op, time, message, other actors.
    let deps = uleb(c, &mut i)?;
    take(c, &mut i, deps.checked_mul(32)?)?;
    let n = uleb(c, &mut i)?;
    take(c, &mut i, n)?;
    uleb(c, &mut i)?;
    uleb(c, &mut i)?;
    sleb(c, &mut i)?;
    let n = uleb(c, &mut i)?;
    take(c, &mut i, n)?;
    let others = uleb(c, &mut i)?;
    if others > 1 << 16 {
        return None;
    }
    for _ in 0..others {
        let n = uleb(c, &mut i)?;
        take(c, &mut i, n)?;
    }
    // Column metadata: specs strictly ascending, as Automerge writes them.
    let ncols = uleb(c, &mut i)?;
    if ncols > 64 {
        return None;
    }
    let mut cols = Vec::with_capacity(usize::try_from(ncols).ok()?);
    let mut last = None;
    for _ in 0..ncols {
        let spec = uleb(c, &mut i)?;
        let len = usize::try_from(uleb(c, &mut i)?).ok()?;
        if last.is_some_and(|l| spec <= l) || spec & 0x08 != 0 {
            return None; // unsorted, or a compressed column
        }
        last = Some(spec);
        cols.push((spec, len));
    }
    let mut at = i;
    let (mut keys, mut meta, mut raw) = (0..0, 0..0, None);
    for (spec, len) in &cols {
        let r = at..at.checked_add(*len)?;
        match *spec {
            KEY_STR => keys = r.clone(),
            VAL_META => meta = r.clone(),
            VAL_RAW => raw = Some(r.clone()),
            _ => {}
        }
        if !(skeleton && *spec == VAL_RAW) {
            at = r.end;
        }
    }
    let raw = raw?;
    let total = body_start.checked_add(usize::try_from(body_len).ok()?)?;
    let have = if skeleton {
        c.len().checked_add(raw.len())?
    } else {
        c.len()
    };
    // Columns inside the body, the value column after the two it is read with, and the
    // chunk exactly as long as its header says.
    if have != total || at > c.len() || meta.end > raw.start || keys.end > raw.start {
        return None;
    }
    Some(Layout {
        hole: raw.start,
        raw_len: raw.len(),
        keys,
        meta,
    })
}

/// Decode an RLE column (`sleb count`: > 0 a run of one value, < 0 that many literal
/// values, 0 a run of nulls of `uleb` length), calling `f` for each entry. At most
/// `cap` entries.
fn rle<'a, T: Copy>(
    col: &'a [u8],
    cap: usize,
    mut read: impl FnMut(&'a [u8], &mut usize) -> Option<T>,
    mut f: impl FnMut(Option<T>),
) -> Option<usize> {
    let mut i = 0;
    let mut n = 0usize;
    while i < col.len() {
        let count = sleb(col, &mut i)?;
        let (k, v) = if count > 0 {
            (count.unsigned_abs(), Some(read(col, &mut i)?))
        } else if count < 0 {
            (count.unsigned_abs(), None)
        } else {
            (uleb(col, &mut i)?, None)
        };
        let k = usize::try_from(k).ok()?;
        n = n.checked_add(k)?;
        if n > cap {
            return None;
        }
        if count < 0 {
            for _ in 0..k {
                f(Some(read(col, &mut i)?));
            }
        } else {
            for _ in 0..k {
                f(v);
            }
        }
    }
    Some(n)
}

fn read_str<'a>(b: &'a [u8], i: &mut usize) -> Option<&'a [u8]> {
    let n = uleb(b, i)?;
    let start = *i;
    take(b, i, n)?;
    b.get(start..*i)
}

/// One value to move: from or to `change`'s value column at `offset`.
#[derive(Debug, Clone, Copy)]
struct Slotted {
    slot: u32,
    change: u32,
    offset: u32,
    len: u32,
    float: bool,
}

/// The values of `chunks` (each with its layout; `None` = sent as it is), in section
/// order: by slot (first appearance), then by change.
fn plan(chunks: &[(&[u8], Option<&Layout>)]) -> Option<Vec<Slotted>> {
    let mut slots: HashMap<(Option<&[u8]>, u32), u32> = HashMap::new();
    let mut out: Vec<Slotted> = Vec::new();
    let mut total = 0usize;
    for (ci, (bytes, lay)) in chunks.iter().enumerate() {
        let Some(lay) = lay else { continue };
        let mut keys: Vec<Option<&[u8]>> = Vec::new();
        let nk = rle(bytes.get(lay.keys.clone())?, MAX_OPS, read_str, |k| {
            keys.push(k);
        })?;
        let mut meta: Vec<u64> = Vec::with_capacity(nk);
        let nm = rle(bytes.get(lay.meta.clone())?, MAX_OPS, uleb, |m| {
            meta.push(m.unwrap_or(0));
        })?;
        if nk != nm {
            return None;
        }
        total = total.checked_add(nm)?;
        if total > MAX_SECTION_OPS {
            return None;
        }
        let mut seen: HashMap<Option<&[u8]>, u32> = HashMap::new();
        let mut offset = 0usize;
        for (key, m) in keys.iter().zip(&meta) {
            let len = usize::try_from(m >> 4).ok()?;
            let occurrence = seen.entry(*key).or_insert(0);
            let slot_key = (*key, *occurrence);
            *occurrence += 1;
            if len == 0 {
                continue;
            }
            let next = u32::try_from(slots.len()).ok()?;
            let slot = *slots.entry(slot_key).or_insert(next);
            out.push(Slotted {
                slot,
                change: u32::try_from(ci).ok()?,
                offset: u32::try_from(offset).ok()?,
                len: u32::try_from(len).ok()?,
                float: m & 0x0f == TYPE_FLOAT && len == 8,
            });
            offset = offset.checked_add(len)?;
        }
        if offset != lay.raw_len {
            return None;
        }
    }
    // Stable: within a slot, changes stay in order.
    out.sort_by_key(|s| s.slot);
    Some(out)
}

/// A float as a decimal `(exponent, mantissa)` if that rebuilds exactly these bits.
fn decimal(bits: u64) -> Option<(i32, i64)> {
    let v = f64::from_bits(bits);
    if !v.is_finite() || bits == (-0.0f64).to_bits() {
        return None;
    }
    // Shortest digits that round-trip, e.g. "3.01934e1".
    let s = format!("{v:e}");
    let (m, e) = s.split_once('e')?;
    let exp: i32 = e.parse().ok()?;
    let (int, frac) = m.split_once('.').unwrap_or((m, ""));
    let digits = format!("{int}{frac}");
    let mantissa: i64 = digits.parse().ok()?;
    let exp = exp.checked_sub(i32::try_from(frac.len()).ok()?)?;
    (-127..=127).contains(&exp).then_some(())?;
    (undecimal(exp, mantissa)? == bits).then_some((exp, mantissa))
}

fn undecimal(exp: i32, mantissa: i64) -> Option<u64> {
    format!("{mantissa}e{exp}")
        .parse::<f64>()
        .ok()
        .map(f64::to_bits)
}

fn checksum_ok(chunk: &[u8]) -> bool {
    let mut i = 9;
    let Some(body_len) = uleb(chunk, &mut i) else {
        return false;
    };
    let Some(body) = chunk.get(i..) else {
        return false;
    };
    if u64::try_from(body.len()).ok() != Some(body_len) {
        return false;
    }
    let mut head = vec![1u8];
    put_uleb(&mut head, body_len);
    let mut h = ring::digest::Context::new(&ring::digest::SHA256);
    h.update(&head);
    h.update(body);
    chunk.get(4..8) == Some(&h.finish().as_ref()[..4])
}

/// Pack `changes` into a section. Exact by construction and checked: a change that
/// would not come back byte for byte is sent as it is.
pub fn pack(changes: &[&[u8]]) -> Vec<u8> {
    let layouts: Vec<Option<Layout>> = changes.iter().map(|c| layout(c, false)).collect();
    let section = pack_with(changes, &layouts);
    // The section must unpack to exactly these changes; if not (a chunk this code does
    // not understand after all), everything travels as it is.
    match unpack(&section, changes.len(), usize::MAX) {
        Ok(back) if back.iter().zip(changes).all(|(a, b)| a == b) => section,
        _ => pack_with(changes, &vec![None; changes.len()]),
    }
}

fn pack_with(changes: &[&[u8]], layouts: &[Option<Layout>]) -> Vec<u8> {
    let chunks: Vec<(&[u8], Option<&Layout>)> = changes
        .iter()
        .zip(layouts)
        .map(|(c, l)| (*c, l.as_ref()))
        .collect();
    let (values, layouts): (Vec<Slotted>, Vec<Option<&Layout>>) = match plan(&chunks) {
        Some(v) => (v, layouts.iter().map(Option::as_ref).collect()),
        None => (Vec::new(), vec![None; changes.len()]),
    };
    let mut out = Vec::with_capacity(changes.iter().map(|c| c.len() + 3).sum());
    for (c, lay) in changes.iter().zip(&layouts) {
        match lay {
            Some(l) => {
                let skel = c.len() - l.raw_len;
                put_uleb(&mut out, ((skel as u64) << 1) | 1);
                out.extend_from_slice(&c[..l.hole]);
                out.extend_from_slice(&c[l.hole + l.raw_len..]);
            }
            None => {
                put_uleb(&mut out, (c.len() as u64) << 1);
                out.extend_from_slice(c);
            }
        }
    }
    for v in values {
        let (Some(c), Some(Some(l))) = (
            changes.get(v.change as usize),
            layouts.get(v.change as usize),
        ) else {
            continue; // cannot happen: plan only lists packed changes
        };
        let at = l.hole + v.offset as usize;
        let bytes = &c[at..at + v.len as usize];
        if v.float {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            match decimal(u64::from_le_bytes(b)) {
                // Tag 1..=255: exponent + 128, then the mantissa.
                Some((exp, m)) => {
                    out.push(u8::try_from(exp + 128).unwrap_or(0));
                    put_sleb(&mut out, m);
                }
                None => {
                    out.push(0);
                    out.extend_from_slice(bytes);
                }
            }
        } else {
            out.extend_from_slice(bytes);
        }
    }
    out
}

/// Rebuild `count` changes from a section. Refuses anything malformed, a rebuilt change
/// whose checksum does not match, and more than `max_bytes` of output.
pub fn unpack(section: &[u8], count: usize, max_bytes: usize) -> Result<Vec<Vec<u8>>, WireError> {
    let bad = || WireError::Malformed;
    let mut i = 0;
    let mut parts: Vec<(bool, &[u8])> = Vec::with_capacity(count.min(section.len()));
    let mut out_bytes = 0usize;
    for _ in 0..count {
        let x = uleb(section, &mut i).ok_or_else(bad)?;
        let start = i;
        take(section, &mut i, x >> 1).ok_or_else(bad)?;
        let bytes = section.get(start..i).ok_or_else(bad)?;
        out_bytes = out_bytes.checked_add(bytes.len()).ok_or_else(bad)?;
        parts.push((x & 1 == 1, bytes));
    }
    let layouts: Vec<Option<Layout>> = parts
        .iter()
        .map(|(packed, b)| {
            if *packed {
                layout(b, true).map(Some).ok_or_else(bad)
            } else {
                Ok(None)
            }
        })
        .collect::<Result<_, _>>()?;
    for l in layouts.iter().flatten() {
        out_bytes = out_bytes.checked_add(l.raw_len).ok_or_else(bad)?;
    }
    if out_bytes > max_bytes {
        return Err(WireError::InflateTooLarge);
    }
    let chunks: Vec<(&[u8], Option<&Layout>)> = parts
        .iter()
        .zip(&layouts)
        .map(|((_, b), l)| (*b, l.as_ref()))
        .collect();
    let values = plan(&chunks).ok_or_else(bad)?;
    // Each packed change: its skeleton with room for the value column.
    let mut out: Vec<Vec<u8>> = parts
        .iter()
        .zip(&layouts)
        .map(|((_, b), l)| match l {
            Some(l) => {
                let mut v = Vec::with_capacity(b.len() + l.raw_len);
                v.extend_from_slice(&b[..l.hole]);
                v.resize(l.hole + l.raw_len, 0);
                v.extend_from_slice(&b[l.hole..]);
                v
            }
            None => b.to_vec(),
        })
        .collect();
    for v in values {
        let c = v.change as usize;
        let (Some(dst), Some(Some(l))) = (out.get_mut(c), layouts.get(c)) else {
            return Err(bad());
        };
        let at = l.hole + v.offset as usize;
        let dst = dst.get_mut(at..at + v.len as usize).ok_or_else(bad)?;
        if v.float {
            let tag = *section.get(i).ok_or_else(bad)?;
            i += 1;
            if tag == 0 {
                dst.copy_from_slice(section.get(i..i + 8).ok_or_else(bad)?);
                i += 8;
            } else {
                let m = sleb(section, &mut i).ok_or_else(bad)?;
                let bits = undecimal(i32::from(tag) - 128, m).ok_or_else(bad)?;
                dst.copy_from_slice(&bits.to_le_bytes());
            }
        } else {
            let end = i.checked_add(dst.len()).ok_or_else(bad)?;
            dst.copy_from_slice(section.get(i..end).ok_or_else(bad)?);
            i = end;
        }
    }
    if i != section.len() {
        return Err(bad());
    }
    for (c, l) in out.iter().zip(&layouts) {
        if l.is_some() && !checksum_ok(c) {
            return Err(bad());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(f: impl FnOnce(&mut automerge::AutoCommit)) -> Vec<u8> {
        let mut d = automerge::AutoCommit::new();
        f(&mut d);
        d.commit();
        d.get_last_local_change()
            .map(|c| c.raw_bytes().to_vec())
            .unwrap_or_default()
    }

    fn sample(i: i64) -> Vec<u8> {
        use automerge::transaction::Transactable;
        use automerge::{ObjType, ROOT};
        change(|d| {
            let m = d.put_object(ROOT, "answers", ObjType::Map).unwrap();
            for q in 0..5 {
                let s = d.put_object(&m, format!("q{q}"), ObjType::Map).unwrap();
                d.put(&s, "value", (i + q) % 10).unwrap();
                d.put(&s, "max", 10).unwrap();
                d.put(&s, "lat", 30.0 + (i as f64) / 1e4).unwrap();
            }
            d.put(ROOT, "weird", f64::NAN).unwrap();
            d.put(ROOT, "neg0", -0.0f64).unwrap();
            d.put(ROOT, "tiny", 5e-324f64).unwrap();
            let t = d.put_object(ROOT, "note", ObjType::Text).unwrap();
            d.splice_text(&t, 0, 0, &format!("note {i}")).unwrap();
        })
    }

    #[test]
    fn round_trips_exactly_and_packs() -> Result<(), WireError> {
        let cs: Vec<Vec<u8>> = (0..20).map(sample).collect();
        let refs: Vec<&[u8]> = cs.iter().map(Vec::as_slice).collect();
        let s = pack(&refs);
        // Every change packed (low bit of its entry header set).
        let mut i = 0;
        let x = uleb(&s, &mut i).unwrap_or(0);
        assert_eq!(x & 1, 1);
        assert_eq!(unpack(&s, cs.len(), usize::MAX)?, cs);
        Ok(())
    }

    #[test]
    fn unknown_bytes_travel_as_they_are() -> Result<(), WireError> {
        let cs: Vec<Vec<u8>> = vec![vec![1, 2, 3], Vec::new(), sample(1), vec![0x85; 40]];
        let refs: Vec<&[u8]> = cs.iter().map(Vec::as_slice).collect();
        assert_eq!(unpack(&pack(&refs), cs.len(), usize::MAX)?, cs);
        Ok(())
    }

    #[test]
    fn floats_as_decimals() {
        for v in [
            30.1934f64,
            114.2617,
            233.9,
            5.0,
            0.1,
            -7.25,
            1e100,
            123456789.123,
        ] {
            let (e, m) = decimal(v.to_bits()).unwrap_or((0, 0));
            assert_eq!(undecimal(e, m), Some(v.to_bits()), "{v}");
        }
        for v in [f64::NAN, -0.0, 1e300, 5e-324, f64::INFINITY] {
            assert_eq!(decimal(v.to_bits()), None, "{v}");
        }
    }

    #[test]
    fn tampered_sections_are_refused_not_panicking() {
        let cs: Vec<Vec<u8>> = (0..4).map(sample).collect();
        let refs: Vec<&[u8]> = cs.iter().map(Vec::as_slice).collect();
        let s = pack(&refs);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for n in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut t = s.clone();
            let at = (x as usize) % t.len();
            match n % 3 {
                0 => t[at] ^= 1 << (x >> 61),
                1 => t.truncate(at),
                _ => t.insert(at, (x >> 8) as u8),
            }
            // Either refused, or (a flip inside a value) a change that differs: never a
            // panic, and never a packed change with a wrong checksum.
            if let Ok(back) = unpack(&t, cs.len(), 1 << 24) {
                assert_eq!(back.len(), cs.len());
            }
        }
    }
}
