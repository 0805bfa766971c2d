//! The records of a CSV or TSV file, split fast and exactly as the csv crate splits them.
//!
//! Why not the csv crate's reader alone: on the short records of a record file (40 bytes, say)
//! its general state machine was most of the checks' time (about 190 MB/s here). Nearly every
//! line of a real table has no quote and no carriage return; such a line is split here, eight
//! bytes at a time (its delimiters, its end, any quote found in one pass). Any record holding a quote or a
//! carriage return, and the first record (a byte-order mark), are handed from their first byte
//! to `csv-core`, the csv crate's own parser, with the same settings; so every record is the one
//! the csv crate would give (a property test holds the two equal on arbitrary bytes).

use std::io::{self, Read};

use csv_core::{ReadRecordResult, ReaderBuilder};

/// Bytes read from the source at a time.
const BLOCK: usize = 256 * 1024;

pub(crate) struct Splitter<R> {
    src: R,
    delimiter: u8,
    /// A record longer than this, in bytes, is an error (no table a person could check, and
    /// memory would grow with it).
    max_record: usize,
    buf: Vec<u8>,
    /// `buf[pos..end]` is read and not yet split.
    pos: usize,
    end: usize,
    eof: bool,
    core: csv_core::Reader,
    first: bool,
    /// The current record: split here (its bytes in `buf`), or by csv-core (in `out`).
    current: Current,
    /// Where the current record's fields end.
    ends: Vec<usize>,
    out: Vec<u8>,
}

#[derive(Clone, Copy)]
enum Current {
    Split { start: usize, len: usize },
    Core { len: usize },
}

/// One record: its fields as bytes.
pub(crate) struct Record<'a> {
    data: &'a [u8],
    /// Where each field ends in `data`.
    ends: &'a [usize],
    /// Bytes between one field and the next: the delimiter (1) when split here, none from
    /// csv-core (which writes fields one after the other).
    gap: usize,
}

impl<'a> Record<'a> {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let end = *self.ends.get(i)?;
        let start = match i.checked_sub(1) {
            Some(before) => self.ends.get(before)? + self.gap,
            None => 0,
        };
        self.data.get(start..end)
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Whether every field is UTF-8 (ASCII, the usual case, is told at once).
    pub fn is_utf8(&self) -> bool {
        self.data.is_ascii() || self.iter().all(|f| std::str::from_utf8(f).is_ok())
    }
}

impl<R: Read> Splitter<R> {
    pub fn new(src: R, delimiter: u8, max_record: usize) -> Self {
        Splitter {
            src,
            delimiter,
            max_record,
            buf: vec![0; BLOCK],
            pos: 0,
            end: 0,
            eof: false,
            core: ReaderBuilder::new().delimiter(delimiter).build(),
            first: true,
            current: Current::Core { len: 0 },
            ends: Vec::with_capacity(64),
            out: vec![0; 4096],
        }
    }

    /// The next record, or None at the end.
    pub fn next_record(&mut self) -> io::Result<Option<Record<'_>>> {
        // The first record through csv-core: it strips a byte-order mark as the csv crate
        // does, once, at the start.
        let found = if std::mem::take(&mut self.first) {
            // All of a mark, if there is one, where csv-core can see it, and more (it takes
            // input that ends with the mark for the end of the file).
            while self.end <= 3 && self.fill()? {}
            self.by_core()?
        } else {
            self.by_split()?
        };
        if !found {
            return Ok(None);
        }
        Ok(Some(match self.current {
            Current::Split { start, len } => Record { data: &self.buf[start..start + len], ends: &self.ends, gap: 1 },
            Current::Core { len } => Record { data: &self.out[..len], ends: &self.ends, gap: 0 },
        }))
    }

    /// Reads more into `buf` after what is unsplit (moved to the front). False at the end.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        if self.end == self.buf.len() {
            self.buf.resize(2 * self.buf.len(), 0);
        }
        let n = loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.end += n;
        self.eof = n == 0;
        Ok(n > 0)
    }

    fn by_split(&mut self) -> io::Result<bool> {
        loop {
            // Empty lines are no records (as in the csv crate).
            while self.pos < self.end && self.buf[self.pos] == b'\n' {
                self.pos += 1;
            }
            if self.pos == self.end {
                if self.fill()? {
                    continue;
                }
                return Ok(false);
            }
            let hay = &self.buf[self.pos..self.end];
            self.ends.clear();
            let Some((len, special)) = split_line(hay, self.delimiter, &mut self.ends).or_else(|| {
                self.eof.then(|| {
                    // The last line, with no end of line: all that is left.
                    self.ends.clear();
                    split_line_end(hay, self.delimiter, &mut self.ends)
                })
            }) else {
                // The line goes on past what is read: read more and split it again.
                if hay.len() > self.max_record {
                    return Err(too_long(self.max_record));
                }
                self.fill()?;
                continue;
            };
            if special {
                return self.by_core();
            }
            self.ends.push(len);
            self.current = Current::Split { start: self.pos, len };
            self.pos = (self.pos + len + 1).min(self.end);
            return Ok(true);
        }
    }

    /// The record at `pos`, by csv-core.
    fn by_core(&mut self) -> io::Result<bool> {
        let (mut written, mut ended) = (0usize, 0usize);
        self.ends.clear();
        self.ends.resize(self.ends.capacity().max(64), 0);
        loop {
            // Empty input tells csv-core the file has ended: give it some while there is more.
            if self.pos == self.end && !self.eof {
                self.fill()?;
            }
            let (res, nin, nout, nend) =
                self.core.read_record(&self.buf[self.pos..self.end], &mut self.out[written..], &mut self.ends[ended..]);
            self.pos += nin;
            written += nout;
            ended += nend;
            let max = self.max_record;
            let grown = |v: usize| if v > max { Err(too_long(max)) } else { Ok(2 * v) };
            match res {
                ReadRecordResult::InputEmpty => {
                    grown(written)?;
                }
                ReadRecordResult::OutputFull => {
                    let n = grown(self.out.len())?;
                    self.out.resize(n, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let n = grown(self.ends.len())?;
                    self.ends.resize(n, 0);
                }
                ReadRecordResult::Record | ReadRecordResult::End => {
                    self.ends.truncate(ended);
                    self.current = Current::Core { len: written };
                    return Ok(res == ReadRecordResult::Record);
                }
            }
        }
    }
}

/// Bytes of eight-byte words, with the high bit of each byte.
const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `word` that equals `byte`, exactly (no borrow between bytes).
#[inline]
fn equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// Splits the line at the start of `hay`, eight bytes at a time (SWAR: the bytes of a word
/// compared at once, in plain integer arithmetic): pushes where each delimiter is to `ends`,
/// and gives the line's length (to its `\n`) and whether it holds a quote or a carriage return
/// (then csv-core reads it). None when `hay` holds no `\n`.
fn split_line(hay: &[u8], delimiter: u8, ends: &mut Vec<usize>) -> Option<(usize, bool)> {
    let mut special = 0u64;
    let mut words = hay.chunks_exact(8);
    let mut base = 0usize;
    for chunk in words.by_ref() {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let newline = equal(word, b'\n');
        // Only what comes before the line's end counts.
        let before = if newline == 0 { u64::MAX } else { (newline & newline.wrapping_neg()) - 1 };
        special |= (equal(word, b'"') | equal(word, b'\r')) & before;
        let mut delimiters = equal(word, delimiter) & before;
        while delimiters != 0 {
            ends.push(base + (delimiters.trailing_zeros() / 8) as usize);
            delimiters &= delimiters - 1;
        }
        if newline != 0 {
            return Some((base + (newline.trailing_zeros() / 8) as usize, special != 0));
        }
        base += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        match b {
            b'\n' => return Some((base + i, special != 0)),
            b'"' | b'\r' => special = 1,
            _ if b == delimiter => ends.push(base + i),
            _ => {}
        }
    }
    None
}

/// [`split_line`] for the last line of a file, which has no `\n`: all of `hay`.
fn split_line_end(hay: &[u8], delimiter: u8, ends: &mut Vec<usize>) -> (usize, bool) {
    let mut special = false;
    for (i, &b) in hay.iter().enumerate() {
        special |= b == b'"' || b == b'\r';
        if b == delimiter {
            ends.push(i);
        }
    }
    (hay.len(), special)
}

fn too_long(max: usize) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("a record longer than {max} bytes"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn by_csv(bytes: &[u8], delimiter: u8) -> Vec<Vec<Vec<u8>>> {
        let mut r = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(bytes);
        let mut record = csv::ByteRecord::new();
        let mut all = Vec::new();
        while r.read_byte_record(&mut record).unwrap() {
            all.push(record.iter().map(<[u8]>::to_vec).collect());
        }
        all
    }

    /// A reader giving at most `step` bytes a read, so that records cross reads.
    pub(crate) struct Trickle<'a>(pub &'a [u8], pub usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn by_split(bytes: &[u8], delimiter: u8, step: usize) -> Vec<Vec<Vec<u8>>> {
        let mut s = Splitter::new(Trickle(bytes, step), delimiter, 1 << 30);
        let mut all = Vec::new();
        while let Some(r) = s.next_record().unwrap() {
            all.push(r.iter().map(<[u8]>::to_vec).collect());
        }
        all
    }

    #[test]
    fn records_are_the_csv_crates() {
        let cases: [&[u8]; 12] = [
            b"",
            b"\n\n\n",
            b"a,b\n1,2\n",
            b"\xef\xbb\xbfa,b\n1,2",
            b"a,\"b,c\"\n\"x\"\"y\",2\r\n3,4\r5,6\n",
            b"a,b\n\"multi\nline\",2\n,\n,,\n",
            b"\"unterminated,1\n2,3",
            b"a\"b,c\n\"ab\"cd,e\n",
            b"\r\n\r\nx\r\n",
            b"last,line,no,newline",
            b"a,b\n\xef\xbb\xbfc,d\n",
            b"\",\"\n\"\"\n",
        ];
        for case in cases {
            for step in [1, 3, BLOCK] {
                assert_eq!(
                    by_split(case, b',', step),
                    by_csv(case, b','),
                    "{:?} in reads of {step}",
                    String::from_utf8_lossy(case)
                );
            }
        }
        assert_eq!(by_split(b"a\tb,c\n", b'\t', 2), by_csv(b"a\tb,c\n", b'\t'));
    }

    #[test]
    fn long_records_grow_the_buffer_and_too_long_ones_are_an_error() {
        let long = format!("h,i\na,{}\nb,c\n", "x".repeat(3 * BLOCK));
        assert!(by_split(long.as_bytes(), b',', BLOCK) == by_csv(long.as_bytes(), b','));
        let mut s = Splitter::new(long.as_bytes(), b',', 1000);
        assert!(s.next_record().is_ok(), "the header is short");
        let quoted = format!("h\n\"{}\"\n", "y\n".repeat(5000));
        let mut s = Splitter::new(quoted.as_bytes(), b',', 1000);
        s.next_record().unwrap();
        assert_eq!(s.next_record().err().map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
        let mut s = Splitter::new(long.as_bytes(), b',', 1000);
        s.next_record().unwrap();
        assert_eq!(s.next_record().err().map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
    }

    proptest! {
        #[test]
        fn any_bytes_split_as_the_csv_crate_does(
            bytes in proptest::collection::vec(prop_oneof![
                Just(b','), Just(b'\n'), Just(b'"'), Just(b'\r'), Just(b'a'), Just(b'1'), Just(b'\t'), Just(0xef), any::<u8>()
            ], 0..300),
            step in 1usize..50,
            tab in any::<bool>(),
        ) {
            let d = if tab { b'\t' } else { b',' };
            prop_assert_eq!(by_split(&bytes, d, step), by_csv(&bytes, d));
        }
    }
}
