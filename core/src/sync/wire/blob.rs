//! Blob transfer messages (docs/protocol.md, "Blobs"): uploads and downloads of
//! attachments on their own streams, in chunks of at most 256 KiB, each acknowledged,
//! resumable at the first missing chunk. They are variants appended to
//! [`ClientMsg`](super::ClientMsg) and [`ServerMsg`](super::ServerMsg), framed as every
//! other message, never compressed (photos and audio are compressed already).
//!
//! The checks here run on untrusted input before anything is allocated beyond the
//! frame: [`check_offer`], [`check_chunk`], [`check_info`].

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::model::MAX_BLOB_BYTES;
use crate::store::blobs::{CHUNK_SIZE, chunk_count, chunk_len};

/// SHA-256 of a blob or a chunk.
pub type BlobHash = [u8; 32];

/// Device: "I want to upload this blob" (or "does the server hold it?"): the hash, the
/// size, and the SHA-256 of every chunk so the server checks each one as it arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobOffer {
    /// SHA-256 of the whole blob.
    pub hash: BlobHash,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of each chunk, in order.
    pub chunk_hashes: Vec<BlobHash>,
}

/// Server: where an offered blob stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobStatus {
    /// The blob.
    pub hash: BlobHash,
    /// The server holds the whole blob for this tenant: nothing to send.
    pub held: bool,
    /// First chunk the server lacks: the device sends from here.
    pub next_chunk: u32,
}

/// One chunk of a blob (device upload or server download).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobChunk {
    /// The blob.
    pub hash: BlobHash,
    /// Chunk index.
    pub index: u32,
    /// At most 256 KiB: exactly the chunk's length.
    pub bytes: ByteBuf,
}

/// What happened to an uploaded chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkResult {
    /// Durably stored; more chunks expected.
    Stored,
    /// Its bytes do not match the offered chunk hash: send this chunk again.
    Corrupt,
    /// The last chunk: the whole blob was verified against its hash and is stored.
    Complete,
    /// Not stored: an earlier chunk is missing (after a `Corrupt`); send from there.
    OutOfOrder,
}

/// Server: reply to one [`BlobChunk`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobChunkAck {
    /// The blob.
    pub hash: BlobHash,
    /// The chunk.
    pub index: u32,
    /// Outcome.
    pub result: ChunkResult,
}

/// Device: send me this blob from chunk `from_chunk` on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobGet {
    /// The blob.
    pub hash: BlobHash,
    /// First chunk wanted (resume).
    pub from_chunk: u32,
}

/// Server: the blob about to be sent (its chunks follow as `BlobData`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobInfo {
    /// The blob.
    pub hash: BlobHash,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of each chunk.
    pub chunk_hashes: Vec<BlobHash>,
}

/// Why the server refused a blob request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobRefusal {
    /// The device may not read any document that references the blob.
    Forbidden,
    /// The server does not hold the blob.
    NotFound,
    /// Over the size cap.
    TooLarge,
    /// The offer or a chunk does not add up (chunk count, chunk length, index).
    Malformed,
    /// Every chunk matched its hash but the whole does not match the blob's hash (the
    /// offered chunk hashes were wrong): the partial upload is discarded.
    HashMismatch,
}

impl BlobRefusal {
    /// Stable name (errors, logs).
    pub fn as_str(self) -> &'static str {
        match self {
            BlobRefusal::Forbidden => "forbidden",
            BlobRefusal::NotFound => "not_found",
            BlobRefusal::TooLarge => "too_large",
            BlobRefusal::Malformed => "malformed",
            BlobRefusal::HashMismatch => "hash_mismatch",
        }
    }
}

/// Server: a refused blob request (the stream stays usable for the next request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRefused {
    /// The blob.
    pub hash: BlobHash,
    /// Why.
    pub reason: BlobRefusal,
}

fn check_shape(size: u64, chunk_hashes: &[BlobHash]) -> Result<(), BlobRefusal> {
    if size > MAX_BLOB_BYTES {
        return Err(BlobRefusal::TooLarge);
    }
    if chunk_hashes.len() != chunk_count(size) as usize {
        return Err(BlobRefusal::Malformed);
    }
    Ok(())
}

/// Check an offer from a device: size cap, one chunk hash per chunk.
pub fn check_offer(o: &BlobOffer) -> Result<(), BlobRefusal> {
    check_shape(o.size, &o.chunk_hashes)
}

/// Check the announcement of a download from the server.
pub fn check_info(i: &BlobInfo) -> Result<(), BlobRefusal> {
    check_shape(i.size, &i.chunk_hashes)
}

/// Check a chunk against the blob's size: index in range, exact length (at most
/// [`CHUNK_SIZE`]).
pub fn check_chunk(size: u64, c: &BlobChunk) -> Result<(), BlobRefusal> {
    if c.index >= chunk_count(size) {
        return Err(BlobRefusal::Malformed);
    }
    if c.bytes.len() > CHUNK_SIZE || c.bytes.len() != chunk_len(size, c.index) {
        return Err(BlobRefusal::Malformed);
    }
    Ok(())
}
