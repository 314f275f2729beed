//! One JSON document per line to a file or stdout.

use crate::event::Event;
use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::Path;

pub struct NdjsonWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    line: Vec<u8>,
}

impl NdjsonWriter {
    /// `-` is stdout; anything else a file opened for appending.
    pub fn open(target: &str) -> io::Result<Self> {
        let w: Box<dyn Write + Send> = if target == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(OpenOptions::new().create(true).append(true).open(Path::new(target))?)
        };
        Ok(Self::new(w))
    }

    pub fn new(w: Box<dyn Write + Send>) -> Self {
        NdjsonWriter { out: BufWriter::with_capacity(256 * 1024, w), line: Vec::with_capacity(4096) }
    }

    pub fn write_event(&mut self, ev: &Event) -> io::Result<()> {
        self.line.clear();
        super::json::write_event(ev, &mut self.line);
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    pub fn write_json(&mut self, v: &serde_json::Value) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, v)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
