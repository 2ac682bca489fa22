//! Gzip built from pre-compressed pieces. Each product's JSON is deflated once (cached) and
//! ends with a sync flush, which leaves the stream byte-aligned in a non-final block; raw
//! deflate pieces made that way can be concatenated into one valid stream. The gzip CRC of
//! the whole is combined from the pieces' CRCs. So a gzip page of 100 products costs a
//! memcpy instead of compressing 400 KB, and clients asking for gzip (reqwest with its
//! `gzip` feature always does) do not make the emulator the bottleneck.

use std::io::Write;

use bytes::{BufMut, Bytes, BytesMut};
use flate2::Compression;
use flate2::write::DeflateEncoder;

/// One deflated piece of a response with what the gzip trailer needs about it.
#[derive(Clone, Debug)]
pub struct Segment {
    deflate: Bytes,
    crc: u32,
    len: u64,
}

impl Segment {
    pub fn new(data: &[u8]) -> Segment {
        let mut encoder =
            DeflateEncoder::new(Vec::with_capacity(data.len() / 3 + 64), Compression::new(6));
        // Writing into a Vec cannot fail; `flush` is a sync flush: byte-aligned, not final.
        let _ = encoder.write_all(data);
        let _ = encoder.flush();
        let deflate = Bytes::from(std::mem::take(encoder.get_mut()));
        let mut crc = crc32fast::Hasher::new();
        crc.update(data);
        Segment {
            deflate,
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
