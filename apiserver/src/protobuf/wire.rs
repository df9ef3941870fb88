//! The protobuf wire format: varints, field keys, and length-delimited values, read from a
//! byte slice and written to a `Vec<u8>`.

use super::{Error, Result};

pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;
pub const FIXED32: u8 = 5;

/// Reads fields from one message's bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        Err(Error::Malformed("invalid varint"))
    }

    /// The next field's tag and wire type, or `None` at the end of the message.
    pub fn key(&mut self) -> Result<Option<(u32, u8)>> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3).map_err(|_| Error::Malformed("invalid field tag"))?;
        if tag == 0 {
            return Err(Error::Malformed("illegal tag 0"));
        }
        Ok(Some((tag, (key & 7) as u8)))
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            return Err(Error::Malformed("unexpected EOF"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = usize::try_from(self.varint()?).map_err(|_| Error::Malformed("length overflow"))?;
        self.take(n)
    }

    pub fn fixed64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Skips a value of an unknown field.
    pub fn skip(&mut self, wire_type: u8) -> Result<()> {
        match wire_type {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => self.take(4).map(drop),
            _ => Err(Error::Malformed("illegal wire type")),
        }
    }
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_key(out: &mut Vec<u8>, tag: u32, wire_type: u8) {
    put_varint(out, (u64::from(tag) << 3) | u64::from(wire_type));
}

pub fn put_bytes(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    put_key(out, tag, LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A signed integer as protobuf's `int32`/`int64` varint (negatives take ten bytes).
pub fn put_int(out: &mut Vec<u8>, tag: u32, v: i64) {
    put_key(out, tag, VARINT);
    put_varint(out, v as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(Reader::new(&out).varint().unwrap(), v);
        }
        let mut out = Vec::new();
        put_int(&mut out, 1, -1);
        assert_eq!(out.len(), 11);
        let mut r = Reader::new(&out);
        assert_eq!(r.key().unwrap(), Some((1, VARINT)));
        assert_eq!(r.varint().unwrap() as i64, -1);
        assert!(Reader::new(&[0x80]).varint().is_err());
        assert!(Reader::new(&[0x0a, 0x05, 1]).bytes().is_err());
    }
}
