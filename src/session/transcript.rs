//! Reading a Claude Code transcript safely: only whole lines (a partial last line waits for
//! the next flush unless the flush is final), in bounded chunks, with fingerprints that tell
//! whether the already-uploaded prefix was rewritten. Never reads more than one chunk (plus
//! one over-long line, capped) into memory, whatever the delta size.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::base::error::{Error, Result};
use crate::base::util::hex;

/// Target size of one part's source bytes.
pub const PART_MAX: u64 = 8 * 1024 * 1024;
/// A single line longer than this is split (at a JSON-safe byte when possible).
pub const LINE_CAP: u64 = 64 * 1024 * 1024;
/// Window hashed at each end of the uploaded prefix.
const FP_WINDOW: u64 = 4096;

/// Hashes of what the uploaded prefix of the transcript looked like, to notice rewrites
/// without reading the whole file: the first and the last (up to) 4 KiB before the cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub head_len: u64,
    pub head: String,
    pub tail_from: u64,
    pub tail: String,
}

/// An open transcript, with the length and mtime seen when it was opened.
#[derive(Debug)]
pub struct Transcript {
    file: File,
    pub path: PathBuf,
    pub len: u64,
    pub mtime_ns: i128,
}

/// Length and mtime (ns) of a path without opening it: the no-op check.
pub fn stat(path: &Path) -> Option<(u64, i128)> {
    let md = std::fs::metadata(path).ok()?;
    md.is_file().then(|| (md.len(), i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec())))
}

/// One chunk to upload: source bytes `[from, to)`.
#[derive(Debug)]
pub struct Chunk {
    pub from: u64,
    pub to: u64,
    pub bytes: Vec<u8>,
}

impl Chunk {
    /// Whether the chunk ends at a line boundary.
    pub fn complete(&self) -> bool {
        self.bytes.last() == Some(&b'\n')
    }
}

impl Transcript {
    /// Open a transcript. Symlinks are followed; anything but a regular file is refused.
    pub fn open(path: &Path) -> Result<Transcript> {
        let md = std::fs::metadata(path).map_err(|e| Error::io("open transcript", path, e))?;
        if !md.is_file() {
            return Err(Error::Invalid(format!("transcript {} is not a regular file", path.display())));
        }
        let file = File::open(path).map_err(|e| Error::io("open transcript", path, e))?;
        let md = file.metadata().map_err(|e| Error::io("stat", path, e))?;
        Ok(Transcript {
            file,
            path: path.to_path_buf(),
            len: md.len(),
            mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
        })
    }

    /// Up to `n` bytes from offset `from` (fewer at the end of the file).
    pub fn read_at(&mut self, from: u64, n: u64) -> Result<Vec<u8>> {
        let n = n.min(self.len.saturating_sub(from));
        let mut buf = vec![0u8; n as usize];
        self.file.seek(SeekFrom::Start(from)).map_err(|e| Error::io("seek", &self.path, e))?;
        let mut got = 0;
        while got < buf.len() {
            match self.file.read(&mut buf[got..]) {
                Ok(0) => break, // truncated under us: return what is there
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("read", &self.path, e)),
            }
        }
        buf.truncate(got);
        Ok(buf)
    }

    /// sha256 (hex) of bytes `[from, to)`, streamed.
    pub fn hash_range(&mut self, from: u64, to: u64) -> Result<Option<String>> {
        if to > self.len {
            return Ok(None);
        }
        let mut h = Sha256::new();
        let mut pos = from;
        while pos < to {
            let buf = self.read_at(pos, (to - pos).min(1 << 20))?;
            if buf.is_empty() {
                return Ok(None);
            }
            h.update(&buf);
            pos += buf.len() as u64;
        }
        Ok(Some(hex(&h.finalize())))
    }

    /// Fingerprint of the prefix `[0, cursor)`.
    pub fn fingerprint(&mut self, cursor: u64) -> Result<Fingerprint> {
        let head_len = cursor.min(FP_WINDOW);
        let tail_from = cursor.saturating_sub(FP_WINDOW);
        Ok(Fingerprint {
            head_len,
            head: self.hash_range(0, head_len)?.unwrap_or_default(),
            tail_from,
            tail: self.hash_range(tail_from, cursor)?.unwrap_or_default(),
        })
    }

    /// Whether `[0, cursor)` still looks like what was uploaded.
    pub fn prefix_intact(&mut self, cursor: u64, fp: &Fingerprint) -> Result<bool> {
        if self.len < cursor {
            return Ok(false);
        }
        if fp.head.is_empty() && fp.tail.is_empty() {
            return Ok(true); // nothing recorded (cursor 0, or state from an older version)
        }
        Ok(self.hash_range(0, fp.head_len)?.as_deref() == Some(fp.head.as_str())
            && self.hash_range(fp.tail_from, cursor)?.as_deref() == Some(fp.tail.as_str()))
    }

    /// The next chunk starting at `from`: at most about [`PART_MAX`] bytes ending at a newline.
    /// Without a newline, nothing is returned unless `final_` (then the partial tail goes),
    /// or the line is longer than [`LINE_CAP`] (then it is split at a JSON-safe byte).
    pub fn next_chunk(&mut self, from: u64, final_: bool) -> Result<Option<Chunk>> {
        if from >= self.len {
            return Ok(None);
        }
        let mut bytes = self.read_at(from, PART_MAX)?;
        if bytes.is_empty() {
            return Ok(None);
        }
        let at_eof = from + bytes.len() as u64 >= self.len;
        if let Some(nl) = memrchr(b'\n', &bytes) {
            if !(final_ && at_eof) {
                bytes.truncate(nl + 1);
            }
        } else if !at_eof {
            // One line longer than PART_MAX: read on to its end, up to LINE_CAP.
            let mut pos = from + bytes.len() as u64;
            loop {
                let more = self.read_at(pos, PART_MAX)?;
                if more.is_empty() {
                    break;
                }
                pos += more.len() as u64;
                if let Some(nl) = memchr(b'\n', &more) {
                    bytes.extend_from_slice(&more[..=nl]);
                    break;
                }
                bytes.extend_from_slice(&more);
                if bytes.len() as u64 >= LINE_CAP {
                    let cut = safe_split(&bytes[..LINE_CAP as usize]);
                    bytes.truncate(cut);
                    break;
                }
                if pos >= self.len {
                    // The long line is not complete yet.
                    if !final_ {
                        return Ok(None);
                    }
                    break;
                }
            }
        } else if !final_ {
            return Ok(None);
        }
        let to = from + bytes.len() as u64;
        Ok(Some(Chunk { from, to, bytes }))
    }
}

fn memchr(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|&x| x == b)
}

fn memrchr(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().rposition(|&x| x == b)
}

/// Where to cut an over-long line so no secret is split: after the last `"` or `,` or space
/// (secrets never contain them), else at the end.
fn safe_split(s: &[u8]) -> usize {
    s.iter().rposition(|&b| b == b'"' || b == b',' || b == b' ').map(|i| i + 1).unwrap_or(s.len())
}

/// The escaped end of an assistant message, as it appears inside the transcript's JSON.
fn needle(msg: &str) -> Vec<u8> {
    let esc = serde_json::to_string(msg).unwrap_or_default();
    let esc = esc.trim_matches('"');
    let mut start = esc.len().saturating_sub(48);
    while !esc.is_char_boundary(start) {
        start += 1;
    }
    esc.as_bytes()[start..].to_vec()
}

/// Whether the last 64 KiB of the transcript contain the end of `msg` on a finished line.
pub(crate) fn tail_contains(path: &Path, msg: &str) -> bool {
    let n = needle(msg);
    if n.is_empty() {
        return true;
    }
    let Ok(mut f) = std::fs::File::open(path) else { return false };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(64 * 1024);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(from)).is_err() || f.read_to_end(&mut buf).is_err() {
        return false;
    }
    let Some(last_nl) = buf.iter().rposition(|&b| b == b'\n') else { return false };
    buf[..last_nl].windows(n.len()).any(|w| w == n.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.jsonl");
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        (d, p)
    }

    #[test]
    fn partial_last_line_waits_unless_final() {
        let (_d, p) = file_with(b"{\"a\":1}\n{\"b\":");
        let mut t = Transcript::open(&p).unwrap();
        let c = t.next_chunk(0, false).unwrap().unwrap();
        assert_eq!((c.from, c.to, c.complete()), (0, 8, true));
        assert!(t.next_chunk(8, false).unwrap().is_none());
        let c = t.next_chunk(8, true).unwrap().unwrap();
        assert_eq!((c.to, c.complete()), (13, false));
        assert!(t.next_chunk(13, true).unwrap().is_none());
    }

    #[test]
    fn fingerprint_detects_rewrites() {
        let (_d, p) = file_with(b"line one\nline two\n");
        let mut t = Transcript::open(&p).unwrap();
        let fp = t.fingerprint(18).unwrap();
        assert!(t.prefix_intact(18, &fp).unwrap());
        std::fs::write(&p, b"line one\nline 2wo\nmore\n").unwrap();
        let mut t = Transcript::open(&p).unwrap();
        assert!(!t.prefix_intact(18, &fp).unwrap());
        std::fs::write(&p, b"line one\n").unwrap();
        let mut t = Transcript::open(&p).unwrap();
        assert!(!t.prefix_intact(18, &fp).unwrap());
    }

    #[test]
    fn directories_are_refused() {
        let d = tempfile::tempdir().unwrap();
        assert!(Transcript::open(d.path()).is_err());
    }

    #[test]
    fn big_deltas_are_chunked_on_line_boundaries() {
        let line = format!("{{\"x\":\"{}\"}}\n", "a".repeat(1000));
        let n = (PART_MAX as usize / line.len()) * 2 + 10;
        let (_d, p) = file_with(line.repeat(n).as_bytes());
        let mut t = Transcript::open(&p).unwrap();
        let (mut from, mut parts) = (0, 0);
        while let Some(c) = t.next_chunk(from, false).unwrap() {
            assert!(c.complete() && c.bytes.len() as u64 <= PART_MAX);
            from = c.to;
            parts += 1;
        }
        assert_eq!((from, parts), (t.len, 3));
    }

    #[test]
    fn safe_split_prefers_json_boundaries() {
        assert_eq!(safe_split(b"{\"a\":\"xyz"), 6);
        assert_eq!(safe_split(b"abcdef"), 6);
    }

    #[test]
    fn needle_is_the_escaped_end() {
        assert_eq!(needle("hi \"x\"\nbye"), b"hi \\\"x\\\"\\nbye".to_vec());
        assert!(needle(&"é".repeat(100)).len() <= 48);
    }

    #[test]
    fn tail_contains_needs_a_finished_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.jsonl");
        std::fs::write(&p, b"{\"text\":\"hello\"}").unwrap();
        assert!(!tail_contains(&p, "hello"));
        std::fs::write(&p, b"{\"text\":\"hello\"}\n").unwrap();
        assert!(tail_contains(&p, "hello"));
    }
}
