//! `netpulse decode FILE`: a protobuf stream (`format = "proto"` files,
//! `netpulse once --format proto`) back to the JSON lines the JSON sink
//! writes for the same samples, line for line.
//!
//! `FILE` may be `-` for standard input, and may be compressed with zstd or
//! gzip (`.pb.zst`, `.pb.gz`: recognised by their magic bytes, not their
//! name). Exit status: 0 when the whole
//! stream decoded; 3 when it ends inside a message (every complete message
//! before it is printed first; a file still being written, or a writer
//! killed mid-write); 1 for a corrupt stream or an unreadable file (again
//! after printing what came before).

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use netpulse::output::json;
use netpulse::output::proto::StreamDecoder;
use ruzstd::decoding::{FrameDecoder, StreamingDecoder};

/// Exit status for a stream that ends inside a message.
const EXIT_TRUNCATED: u8 = 3;

pub fn main(args: crate::DecodeArgs) -> anyhow::Result<ExitCode> {
    let name = args.file.display().to_string();
    let reader: Box<dyn BufRead> = if name == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = File::open(&args.file).with_context(|| {
            format!("opening {name}: give the path of a protobuf stream written by netpulse")
        })?;
        Box::new(BufReader::with_capacity(1 << 20, file))
    };
    let reader = decompressed(reader).with_context(|| format!("reading {name}"))?;

    let mut stdout = std::io::stdout().lock();
    let mut out = Vec::new();
    for item in StreamDecoder::new(reader) {
        let decoded = match item {
            Ok(d) => d,
            Err(e) => {
                flush(&mut stdout)?;
                eprintln!("netpulse: {name}: {e}");
                return Ok(ExitCode::from(if e.is_truncation() {
                    EXIT_TRUNCATED
                } else {
                    1
                }));
            }
        };
        out.clear();
        json::write_batch(&decoded.batch, &mut out);
        if !write(&mut stdout, &out)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    flush(&mut stdout)?;
    Ok(ExitCode::SUCCESS)
}

/// zstd frames start with these bytes (RFC 8878), gzip members with these
/// (RFC 1952). A protobuf stream starts with a length varint and a `Batch`
/// field tag 1 (0x0a), so neither is mistaken for one.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// `reader`, decompressed on the fly when it starts with a zstd or gzip
/// header; streamed, so a large file needs no more memory than a plain one.
fn decompressed(mut reader: Box<dyn BufRead>) -> std::io::Result<Box<dyn BufRead>> {
    let head = reader.fill_buf()?;
    if head.starts_with(&ZSTD_MAGIC) {
        let first = StreamingDecoder::new(reader).map_err(std::io::Error::other)?;
        let z = ZstdFrames { frame: Some(first) };
        Ok(Box::new(BufReader::with_capacity(1 << 20, z)))
    } else if head.starts_with(&GZIP_MAGIC) {
        let gz = flate2::bufread::MultiGzDecoder::new(reader);
        Ok(Box::new(BufReader::with_capacity(1 << 20, gz)))
    } else {
        Ok(reader)
    }
}

/// Every zstd frame of a stream, one after another (a file may hold
/// several, e.g. one appended per chunk), decoded in pure Rust so the
/// cross-built agents need no C toolchain.
struct ZstdFrames<R: BufRead> {
    /// `None` once the stream has ended.
    frame: Option<StreamingDecoder<R, FrameDecoder>>,
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some(frame) = self.frame.as_mut() else {
                return Ok(0);
            };
            let n = frame.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // This frame is done: another may follow.
            let (mut source, decoder) = self.frame.take().expect("checked above").into_parts();
            if source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            let next = StreamingDecoder::new_with_decoder(source, decoder)
                .map_err(std::io::Error::other)?;
            self.frame = Some(next);
        }
    }
}

/// False when the reader went away (`netpulse decode F | head`): stop
/// quietly, as other filters do.
fn write(stdout: &mut impl Write, bytes: &[u8]) -> anyhow::Result<bool> {
    match stdout.write_all(bytes) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

fn flush(stdout: &mut impl Write) -> anyhow::Result<()> {
    match stdout.flush() {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}
