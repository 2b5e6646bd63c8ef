//! Byte layouts that live in shared memory: the ring header and the frame header.
//!
//! Both are `#[repr(C)]`, fixed width and pointer free; their sizes and field offsets are checked
//! at compile time because two processes (possibly two builds) must agree on them.

use super::RingOpenError;
use std::mem::{offset_of, size_of};
use std::sync::atomic::{AtomicU32, AtomicU64};

/// Frames (and so payloads) start on 64-byte boundaries.
pub const FRAME_ALIGN: usize = 64;
/// Bytes of the header in front of every frame's payload.
pub(crate) const FRAME_HEADER_BYTES: usize = 64;
/// Bytes of the ring header in front of the data area.
pub(crate) const RING_HEADER_BYTES: usize = 640;
/// Words of the control area the layers above may use (e.g. per-stream cancel bits).
pub const CONTROL_WORDS: usize = 32;
/// The smallest ring capacity.
pub const MIN_CAPACITY_BYTES: usize = 4096;

pub(crate) const RING_MAGIC: u64 = u64::from_le_bytes(*b"DFSHMRNG");
pub(crate) const RING_VERSION: u32 = 2;

/// Bits of the ring's state word.
pub(crate) mod state {
    /// The producer wrote its last frame.
    pub const PRODUCER_CLOSED: u32 = 1;
    /// The producer went away without closing.
    pub const PRODUCER_ABORTED: u32 = 2;
    /// The consumer stopped reading.
    pub const CONSUMER_CLOSED: u32 = 4;
    /// Either side cancelled the stream.
    pub const CANCELLED: u32 = 8;
    /// Any bit that ends waiting.
    pub const ANY_STOP: u32 = PRODUCER_CLOSED | PRODUCER_ABORTED | CONSUMER_CLOSED | CANCELLED;
    /// The process the ring was sent to has unmapped it for good: its creator may lay a new
    /// ring out in the segment. Set last, by the receiving side only, and never waited on.
    pub const RECEIVER_DETACHED: u32 = 16;
}

/// The ring header at offset 0 of the segment. Each side's hot word has a cache line of its own.
///
/// | offset | field | written by |
/// | --- | --- | --- |
/// | 0 | magic `DFSHMRNG`, version, header bytes, capacity | creator, once |
/// | 64 | write position (bytes ever published) | producer |
/// | 128 | read position (bytes ever released) | consumer |
/// | 192 | consumer-waiting flag | both |
/// | 256 | producer-waiting flag | both |
/// | 320 | state bits | both |
/// | 384 | 32 control words, opaque to the ring | the layer above |
///
/// `Zeroable`: the zero pages of a fresh memfd are a valid header (one that fails `validate`),
/// so a peer that maps a segment nobody laid out reads a value, not undefined behaviour.
#[repr(C, align(64))]
#[derive(bytemuck::Zeroable)]
pub(crate) struct RingHeader {
    magic: u64,
    version: u32,
    header_bytes: u32,
    capacity: u64,
    _line0: [u8; 40],
    pub write_position: AtomicU64,
    _line1: [u8; 56],
    pub read_position: AtomicU64,
    _line2: [u8; 56],
    pub consumer_waiting: AtomicU32,
    _line3: [u8; 60],
    pub producer_waiting: AtomicU32,
    _line4: [u8; 60],
    pub state: AtomicU32,
    _line5: [u8; 60],
    pub control: [AtomicU64; CONTROL_WORDS],
}

const _: () = {
    assert!(size_of::<RingHeader>() == RING_HEADER_BYTES);
    assert!(offset_of!(RingHeader, write_position) == 64);
    assert!(offset_of!(RingHeader, read_position) == 128);
    assert!(offset_of!(RingHeader, consumer_waiting) == 192);
    assert!(offset_of!(RingHeader, producer_waiting) == 256);
    assert!(offset_of!(RingHeader, state) == 320);
    assert!(offset_of!(RingHeader, control) == 384);
    assert!(RING_HEADER_BYTES.is_multiple_of(FRAME_ALIGN));
    // Atomics in shared memory must be plain words that both processes use lock-free.
    assert!(size_of::<AtomicU64>() == 8 && size_of::<AtomicU32>() == 4);
};

impl RingHeader {
    pub(crate) fn new(capacity: u64) -> RingHeader {
        RingHeader {
            magic: RING_MAGIC,
            version: RING_VERSION,
            header_bytes: RING_HEADER_BYTES as u32,
            capacity,
            _line0: [0; 40],
            write_position: AtomicU64::new(0),
            _line1: [0; 56],
            read_position: AtomicU64::new(0),
            _line2: [0; 56],
            consumer_waiting: AtomicU32::new(0),
            _line3: [0; 60],
            producer_waiting: AtomicU32::new(0),
            _line4: [0; 60],
            state: AtomicU32::new(0),
            _line5: [0; 60],
            control: [const { AtomicU64::new(0) }; CONTROL_WORDS],
        }
    }

    /// Checks a header found in a received segment; returns its capacity.
    pub(crate) fn validate(&self) -> Result<u64, RingOpenError> {
        if self.magic != RING_MAGIC {
            return Err(RingOpenError::NotARing("bad magic"));
        }
        if self.version != RING_VERSION || self.header_bytes as usize != RING_HEADER_BYTES {
            return Err(RingOpenError::NotARing("other version or header size"));
        }
        let capacity = self.capacity;
        if !capacity.is_power_of_two() || capacity < MIN_CAPACITY_BYTES as u64 {
            return Err(RingOpenError::NotARing("capacity is not a power of two"));
        }
        Ok(capacity)
    }
}

/// What a frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// A payload for the consumer.
    Data = 1,
    /// Filler up to the end of the ring; the next frame starts at offset 0.
    Padding = 2,
}

/// The 64 bytes in front of every frame.
///
/// `Pod` (checked by its derive: no padding, every field plain): any 64 bytes a peer left in the
/// ring are a valid `FrameHeader`, so reading one is sound whatever the peer wrote, and a corrupt
/// one is caught by the checks on its fields.
#[repr(C, align(64))]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct FrameHeader {
    payload_bytes: u64,
    tag: u64,
    kind: u32,
    _reserved: [u8; 44],
}

const _: () = {
    assert!(size_of::<FrameHeader>() == FRAME_HEADER_BYTES);
    assert!(offset_of!(FrameHeader, kind) == 16);
};

impl FrameHeader {
    pub(crate) fn new(kind: FrameKind, tag: u64, payload_bytes: u64) -> FrameHeader {
        FrameHeader {
            payload_bytes,
            tag,
            kind: kind as u32,
            _reserved: [0; 44],
        }
    }

    pub(crate) fn kind(&self) -> Option<FrameKind> {
        match self.kind {
            1 => Some(FrameKind::Data),
            2 => Some(FrameKind::Padding),
            _ => None,
        }
    }

    pub(crate) fn tag(&self) -> u64 {
        self.tag
    }

    pub(crate) fn payload_bytes(&self) -> u64 {
        self.payload_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_memory_is_a_header_that_fails_validation_and_frames_round_trip_as_bytes() {
        let zeroed: RingHeader = bytemuck::Zeroable::zeroed();
        assert!(matches!(
            zeroed.validate(),
            Err(RingOpenError::NotARing("bad magic"))
        ));
        let frame = FrameHeader::new(FrameKind::Data, 7, 4096);
        let bytes = bytemuck::bytes_of(&frame);
        assert_eq!(bytes.len(), FRAME_HEADER_BYTES);
        let back: FrameHeader = bytemuck::pod_read_unaligned(bytes);
        assert_eq!(
            (back.kind(), back.tag(), back.payload_bytes()),
            (Some(FrameKind::Data), 7, 4096)
        );
        let garbage: FrameHeader = bytemuck::pod_read_unaligned(&[0xA5; FRAME_HEADER_BYTES]);
        assert_eq!(garbage.kind(), None);
    }
}
