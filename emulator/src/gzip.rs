//! Gzip built from pre-compressed pieces. Each product's JSON is deflated once (cached) and
//! ends with a sync flush, which leaves the stream byte-aligned in a non-final block; raw
//! deflate pieces made that way can be concatenated into one valid stream. The gzip CRC of
//! the whole is combined from the pieces' CRCs. So a gzip page of 100 products costs a
//! memcpy instead of compressing 400 KB, and clients asking for gzip (reqwest with its
//! `gzip` feature always does) do not make the emulator the bottleneck.

use std::cell::RefCell;

use bytes::{BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, FlushCompress};

/// One deflated piece of a response with what the gzip trailer needs about it.
#[derive(Clone, Debug)]
pub struct Segment {
    deflate: Bytes,
    crc: u32,
    len: u64,
}

thread_local! {
    /// One compressor per thread, reset between pieces. A fresh one per piece allocates
    /// ~300 KB of state each time; interleaved with a store's many small allocations those
    /// blocks fragment the heap instead of being reused (generating 100,000 products that
    /// way took 24 GB).
    static DEFLATE: RefCell<Compress> = RefCell::new(Compress::new(Compression::new(6), false));
}

impl Segment {
    pub fn new(data: &[u8]) -> Segment {
        let mut deflate = Vec::with_capacity(data.len() / 3 + 64);
        DEFLATE.with(|compress| {
            let mut compress = compress.borrow_mut();
            compress.reset();
            let mut consumed = 0;
            loop {
                if deflate.capacity() - deflate.len() < 64 {
                    deflate.reserve(deflate.capacity().max(1024));
                }
                let before = compress.total_in();
                // Compressing into memory cannot fail. A sync flush leaves the stream
                // byte-aligned in a non-final block, so pieces concatenate.
                let _ = compress.compress_vec(&data[consumed..], &mut deflate, FlushCompress::Sync);
                consumed += (compress.total_in() - before) as usize;
                // zlib's rule: the flush is complete once it returns with output space left.
                if consumed == data.len() && deflate.len() < deflate.capacity() {
                    break;
                }
            }
        });
        deflate.shrink_to_fit();
        let mut crc = crc32fast::Hasher::new();
        crc.update(data);
        Segment {
            deflate: Bytes::from(deflate),
            crc: crc.finalize(),
            len: data.len() as u64,
        }
    }
}

/// A complete gzip member made of the pieces, in order.
pub fn assemble<'a>(pieces: impl IntoIterator<Item = &'a Segment>) -> Bytes {
    let mut out = BytesMut::new();
    // magic, deflate, no flags, no mtime, no extra flags, unknown OS
    out.put_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    let mut crc = crc32fast::Hasher::new();
    let mut len: u64 = 0;
    for p in pieces {
        out.put_slice(&p.deflate);
        crc.combine(&crc32fast::Hasher::new_with_initial_len(p.crc, p.len));
        len += p.len;
    }
    // A final, empty fixed-Huffman block ends the deflate stream.
    out.put_slice(&[0x03, 0x00]);
    out.put_u32_le(crc.finalize());
    out.put_u32_le(len as u32);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn concatenated_pieces_decode_to_the_concatenated_text() {
        let parts = [
            "{\"items\":[",
            "{\"a\":1}",
            ",",
            "{\"b\":\"xyzxyzxyzxyz\"}",
            "]}",
        ];
        let segments: Vec<Segment> = parts.iter().map(|p| Segment::new(p.as_bytes())).collect();
        let gz = assemble(&segments);
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, parts.concat());
        let mut empty = String::new();
        flate2::read::GzDecoder::new(&assemble(&[])[..])
            .read_to_string(&mut empty)
            .unwrap();
        assert_eq!(empty, "");
    }
}
