//! auditd log files (RAW or ENRICHED) as a stream of lines.
//!
//! A real audit record is at most a few KiB (the kernel caps one message at 8,970 bytes and
//! splits long EXECVE arguments), so a line longer than `max_line` is hostile or corrupt: it is
//! reported and skipped without ever being held in memory whole, and the lines after it still
//! come out.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// Longest line kept; longer ones are skipped and reported.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

pub enum Line<'a> {
    Text(&'a [u8]),
    /// A line of `len` bytes that was skipped.
    TooLong {
        len: u64,
    },
}

pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    max_line: usize,
    line_no: u64,
    bytes: u64,
    /// Bytes of the reader's buffer the last line was lent from, consumed on the next call.
    lent: usize,
}

impl LineReader<BufReader<Box<dyn Read + Send>>> {
    /// Opens a log file, or standard input for `-`.
    pub fn open(path: &str) -> io::Result<Self> {
        let r: Box<dyn Read + Send> = if path == "-" {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(Path::new(path))?)
        };
        Ok(LineReader::new(
            BufReader::with_capacity(1 << 20, r),
            DEFAULT_MAX_LINE,
        ))
    }
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R, max_line: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::with_capacity(16 * 1024),
            max_line,
            line_no: 0,
            bytes: 0,
            lent: 0,
        }
    }

    /// 1-based number of the line last returned.
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// Bytes consumed so far (for progress).
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Where the buffered bytes hold a whole line (not too long): the index of its `\n`.
    fn whole_line(&mut self) -> io::Result<Option<usize>> {
        let found = loop {
            match self.inner.fill_buf() {
                Ok(c) => break memchr::memchr(b'\n', c).filter(|&i| i <= self.max_line),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        let Some(i) = found else { return Ok(None) };
        // The caller asks for the buffer again: a filled buffer comes back without a read,
        // but `BufRead` does not promise it, so check.
        Ok((self.inner.fill_buf()?.get(i) == Some(&b'\n')).then_some(i))
    }

    /// The next line without its `\n` (and `\r`), or `None` at end of input.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.inner.consume(std::mem::take(&mut self.lent));
        self.buf.clear();
        // Nearly every line lies whole in the reader's buffer: lend it from there, uncopied.
        if let Some(i) = self.whole_line()? {
            let chunk = self.inner.fill_buf()?;
            self.lent = i + 1;
            self.bytes += self.lent as u64;
            self.line_no += 1;
            let line = chunk
                .get(..i)
                .ok_or_else(|| io::Error::other("reader buffer changed under a line"))?;
            return Ok(Some(Line::Text(line.strip_suffix(b"\r").unwrap_or(line))));
        }
        let mut len: u64 = 0;
        let mut too_long = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                if len == 0 {
                    return Ok(None);
                }
                break; // last line without a newline
            }
            let (take, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let body = if done {
                &chunk[..take - 1]
            } else {
                &chunk[..take]
            };
            len += body.len() as u64;
            if !too_long {
                if self.buf.len() + body.len() > self.max_line {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(body);
                }
            }
            self.inner.consume(take);
            self.bytes += take as u64;
            if done {
                break;
            }
        }
        self.line_no += 1;
        if too_long {
            return Ok(Some(Line::TooLong { len }));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some(Line::Text(&self.buf)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<Result<Vec<u8>, u64>> {
        lines_with(7, input, max)
    }

    fn lines_with(capacity: usize, input: &[u8], max: usize) -> Vec<Result<Vec<u8>, u64>> {
        let mut r = LineReader::new(io::BufReader::with_capacity(capacity, input), max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(match l {
                Line::Text(t) => Ok(t.to_vec()),
                Line::TooLong { len } => Err(len),
            });
        }
        out
    }

    #[test]
    fn splits_lines_across_small_buffers() {
        let got = lines(b"first line\r\nsecond\n\nlast-no-newline", 100);
        let want: Vec<Result<Vec<u8>, u64>> = vec![
            Ok(b"first line".to_vec()),
            Ok(b"second".to_vec()),
            Ok(vec![]),
            Ok(b"last-no-newline".to_vec()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn overlong_line_is_skipped_and_the_next_survives() {
        let mut input = vec![b'x'; 50];
        input.extend_from_slice(b"\nok\n");
        let got = lines(&input, 20);
        assert_eq!(got, vec![Err(50), Ok(b"ok".to_vec())]);
    }

    #[test]
    fn lines_lent_from_the_buffer_equal_copied_ones() {
        let input = b"a=1\r\nlong line here\n\nxyz\r\n0123456789abcdef\nlast";
        for max in [4, 10, 100] {
            // Capacity 7 copies most lines together from pieces; 4096 lends every one.
            assert_eq!(
                lines_with(4096, input, max),
                lines_with(7, input, max),
                "{max}"
            );
        }
        assert_eq!(
            lines_with(4096, input, 100)[0],
            Ok(b"a=1".to_vec()),
            "\\r dropped"
        );
        let mut r = LineReader::new(io::BufReader::with_capacity(4096, &input[..]), 100);
        while r.next_line().unwrap().is_some() {}
        assert_eq!((r.line_no(), r.bytes_read()), (6, input.len() as u64));
    }
}
