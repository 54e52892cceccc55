//! The age v1 file format (<https://age-encryption.org/v1>), X25519 recipients only: what
//! client-side encryption writes, readable by the real `age` CLI and the other way round.
//!
//! A file is a text header (`age-encryption.org/v1`, one `-> X25519 <share>` stanza per
//! recipient wrapping the 16-byte file key, `--- <HMAC-SHA256 of the header>`), a 16-byte
//! nonce, then the payload: ChaCha20-Poly1305 STREAM over 64 KiB chunks, keyed by
//! HKDF-SHA256(file key, nonce, "payload"), the 12-byte chunk nonce being an 11-byte counter
//! and a last-chunk flag. Keys are bech32: `age1...` recipients, `AGE-SECRET-KEY-1...`
//! identities (the file `age-keygen` writes).
//!
//! Built on primitives already in the dependency tree (`ring`, via rustls: ChaCha20-Poly1305,
//! HKDF, HMAC, the system RNG) plus `curve25519-dalek` for X25519; bech32 and the header
//! grammar are the few lines below. Deliberately not here: passphrase (scrypt) and SSH
//! recipients, ASCII armor, plugins. Secrets never reach `Debug` or error messages.

use std::fmt;
use std::io::{self, Write};

use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine as _;
use curve25519_dalek::montgomery::MontgomeryPoint;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};

/// Plaintext bytes per STREAM chunk.
pub const CHUNK: usize = 64 * 1024;
/// Ciphertext bytes per full chunk (plaintext + Poly1305 tag).
pub const CHUNK_CT: usize = CHUNK + TAG;
const TAG: usize = 16;
const VERSION_LINE: &[u8] = b"age-encryption.org/v1\n";
const X25519_LABEL: &[u8] = b"age-encryption.org/v1/X25519";
/// A header longer than this is refused (hostile or not an age file).
const MAX_HEADER: usize = 64 * 1024;

/// Why an age operation failed. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeError(pub String);

impl fmt::Display for AgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AgeError {}

fn err<T>(msg: impl Into<String>) -> Result<T, AgeError> {
    Err(AgeError(msg.into()))
}

/// An X25519 recipient (public key), `age1...`.
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient([u8; 32]);

impl Recipient {
    /// Parse `age1...` (bech32, lowercase).
    pub fn parse(s: &str) -> Result<Recipient, AgeError> {
        let s = s.trim();
        match bech32_decode(s) {
            Some((hrp, data)) if hrp == "age" && s.bytes().all(|b| !b.is_ascii_uppercase()) => {
                data.try_into().map(Recipient).or_else(|_| err("an age1 recipient must hold 32 bytes"))
            }
            _ => err(format!("{:?} is not an age X25519 recipient (age1...)", preview(s))),
        }
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bech32_encode("age", &self.0))
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({self})")
    }
}

/// An X25519 identity (secret key), `AGE-SECRET-KEY-1...`. `Debug` shows only its recipient.
#[derive(Clone)]
pub struct Identity([u8; 32]);

impl Identity {
    /// A new random identity.
    pub fn generate() -> Result<Identity, AgeError> {
        Ok(Identity(random()?))
    }

    /// Parse `AGE-SECRET-KEY-1...` (bech32, uppercase).
    pub fn parse(s: &str) -> Result<Identity, AgeError> {
        let s = s.trim();
        match bech32_decode(s) {
            Some((hrp, data)) if hrp == "age-secret-key-" && s.bytes().all(|b| !b.is_ascii_lowercase()) => {
                data.try_into().map(Identity).or_else(|_| err("an age secret key must hold 32 bytes"))
            }
            _ => err("a line is not an age X25519 secret key (AGE-SECRET-KEY-1...)"),
        }
    }

    /// Its public half.
    pub fn recipient(&self) -> Recipient {
        Recipient(MontgomeryPoint::mul_base_clamped(self.0).to_bytes())
    }

    /// The secret key as `AGE-SECRET-KEY-1...` (for `keygen` only).
    pub fn to_secret_string(&self) -> String {
        bech32_encode("age-secret-key-", &self.0).to_ascii_uppercase()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity(for {})", self.recipient())
    }
}

impl Drop for Identity {
    fn drop(&mut self) {
        // Best effort: do not leave the key in freed memory.
        for b in &mut self.0 {
            // SAFETY: writing through a valid &mut u8.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// The identities of an identity file: one `AGE-SECRET-KEY-1...` per line, `#` comments and
/// blank lines ignored (what `age-keygen` writes). Errors name the line, never its content.
pub fn parse_identities(text: &str) -> Result<Vec<Identity>, AgeError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(Identity::parse(line).map_err(|e| AgeError(format!("line {}: {e}", i + 1)))?);
    }
    if out.is_empty() {
        return err("no AGE-SECRET-KEY-1... line in it");
    }
    Ok(out)
}

fn random<const N: usize>() -> Result<[u8; N], AgeError> {
    let mut b = [0u8; N];
    SystemRandom::new().fill(&mut b).or_else(|_| err("the system random generator failed"))?;
    Ok(b)
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf32(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf::Salt::new(hkdf::HKDF_SHA256, salt)
        .extract(ikm)
        .expand(&[info], Len(32))
        .and_then(|okm| okm.fill(&mut out))
        .expect("32 bytes is a valid HKDF-SHA256 length");
    out
}

fn aead(key: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).expect("32-byte key"))
}

fn x25519(scalar: [u8; 32], point: &[u8; 32]) -> Result<[u8; 32], AgeError> {
    let shared = MontgomeryPoint(*point).mul_clamped(scalar).to_bytes();
    if shared == [0u8; 32] {
        return err("an X25519 share is a low-order point");
    }
    Ok(shared)
}

/// The header (without MAC line's value) and the keys for the payload.
fn write_header(recipients: &[Recipient], file_key: &[u8; 16]) -> Result<Vec<u8>, AgeError> {
    if recipients.is_empty() {
        return err("no recipient to encrypt to");
    }
    let mut h = VERSION_LINE.to_vec();
    for r in recipients {
        let eph: [u8; 32] = random()?;
        let share = MontgomeryPoint::mul_base_clamped(eph).to_bytes();
        let shared = x25519(eph, &r.0)?;
        let mut salt = [0u8; 64];
        salt[..32].copy_from_slice(&share);
        salt[32..].copy_from_slice(&r.0);
        let wrap = hkdf32(&salt, &shared, X25519_LABEL);
        let mut body = file_key.to_vec();
        aead(&wrap)
            .seal_in_place_append_tag(Nonce::assume_unique_for_key([0; 12]), Aad::empty(), &mut body)
            .or_else(|_| err("could not wrap the file key"))?;
        h.extend_from_slice(b"-> X25519 ");
        h.extend_from_slice(B64.encode(share).as_bytes());
        h.push(b'\n');
        h.extend_from_slice(B64.encode(&body).as_bytes()); // 43 characters: one short line
        h.push(b'\n');
    }
    h.extend_from_slice(b"---");
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &hkdf32(&[], file_key, b"header")), &h);
    h.push(b' ');
    h.extend_from_slice(B64.encode(mac.as_ref()).as_bytes());
    h.push(b'\n');
    Ok(h)
}

fn chunk_nonce(counter: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

/// Encrypt `plain` to `recipients` in one go (an age file in memory).
pub fn encrypt(recipients: &[Recipient], plain: &[u8]) -> Result<Vec<u8>, AgeError> {
    let file_key: [u8; 16] = random()?;
    let header = write_header(recipients, &file_key)?;
    let nonce: [u8; 16] = random()?;
    let key = aead(&hkdf32(&nonce, &file_key, b"payload"));
    let chunks = plain.len().div_ceil(CHUNK).max(1);
    let mut out = Vec::with_capacity(header.len() + 16 + plain.len() + chunks * TAG);
    out.extend_from_slice(&header);
    out.extend_from_slice(&nonce);
    for i in 0..chunks {
        let piece = &plain[i * CHUNK..((i + 1) * CHUNK).min(plain.len())];
        let at = out.len();
        out.extend_from_slice(piece);
        let tag = key
            .seal_in_place_separate_tag(chunk_nonce(i as u64, i + 1 == chunks), Aad::empty(), &mut out[at..])
            .or_else(|_| err("encryption failed"))?;
        out.extend_from_slice(tag.as_ref());
    }
    Ok(out)
}

/// Decrypt a whole age file in memory.
pub fn decrypt(identities: &[Identity], file: &[u8]) -> Result<Vec<u8>, AgeError> {
    let mut d = Decryptor::new(identities, Vec::with_capacity(file.len()));
    d.write_all(file).map_err(|e| AgeError(e.to_string()))?;
    d.finish()
}

/// A parsed header: where the payload starts and its key.
pub struct Opened {
    /// Offset of the first payload chunk (after the header and the 16-byte nonce).
    pub data_start: usize,
    key: LessSafeKey,
}

impl Opened {
    /// Decrypt chunk `index` (`ct` is its ciphertext with tag) in place; returns the plaintext.
    pub fn open_chunk<'b>(&self, index: u64, last: bool, ct: &'b mut [u8]) -> Result<&'b mut [u8], AgeError> {
        if ct.len() < TAG
            || ct.len() > CHUNK_CT
            || (last && ct.len() == TAG && index > 0)
            || (!last && ct.len() != CHUNK_CT)
        {
            return err("the payload is truncated or malformed");
        }
        self.key
            .open_in_place(chunk_nonce(index, last), Aad::empty(), ct)
            .map(|p| &mut p[..])
            .or_else(|_| err("the payload does not authenticate (corrupted, truncated or not for this key)"))
    }
}

/// Parse the header at the start of `buf`. `Ok(None)`: more bytes are needed (the header and
/// nonce are not complete yet). Tries each identity on each X25519 stanza; checks the MAC.
pub fn open_header(identities: &[Identity], buf: &[u8]) -> Result<Option<Opened>, AgeError> {
    if buf.len() < VERSION_LINE.len() {
        return if VERSION_LINE.starts_with(buf) {
            Ok(None)
        } else {
            err("not an age file (no age-encryption.org/v1 line)")
        };
    }
    if !buf.starts_with(VERSION_LINE) {
        return err("not an age file (no age-encryption.org/v1 line)");
    }
    let mut pos = VERSION_LINE.len();
    let mut file_key: Option<[u8; 16]> = None;
    let mut stanzas = 0;
    loop {
        let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
            return if buf.len() > MAX_HEADER { err("the age header is too long") } else { Ok(None) };
        };
        let line = &buf[pos..pos + nl];
        if let Some(mac_b64) = line.strip_prefix(b"--- ") {
            let mac_end = pos + 3; // the MAC covers the header up to and including "---"
            let end = pos + nl + 1;
            if buf.len() < end + 16 {
                return Ok(None);
            }
            if stanzas == 0 {
                return err("the age header has no recipient stanza");
            }
            let Some(fk) = file_key else {
                return err("no identity in the identity file can decrypt it (encrypted to other recipients)");
            };
            let mac = decode_exact::<32>(mac_b64).ok_or_else(|| AgeError("the age header MAC is malformed".into()))?;
            let key = hmac::Key::new(hmac::HMAC_SHA256, &hkdf32(&[], &fk, b"header"));
            hmac::verify(&key, &buf[..mac_end], &mac)
                .or_else(|_| err("the age header MAC does not match (tampered)"))?;
            let nonce = &buf[end..end + 16];
            return Ok(Some(Opened { data_start: end + 16, key: aead(&hkdf32(nonce, &fk, b"payload")) }));
        }
        let Some(args) = line.strip_prefix(b"-> ") else { return err("the age header is malformed") };
        stanzas += 1;
        // The body: lines of 64 base64 characters, ended by a shorter one.
        let mut body = Vec::new();
        let mut p = pos + nl + 1;
        loop {
            let Some(n) = buf[p..].iter().position(|&b| b == b'\n') else {
                return if buf.len() > MAX_HEADER { err("the age header is too long") } else { Ok(None) };
            };
            let l = &buf[p..p + n];
            if l.len() > 64 {
                return err("the age header is malformed (long body line)");
            }
            body.extend_from_slice(l);
            p += n + 1;
            if l.len() < 64 {
                break;
            }
        }
        pos = p;
        let args: Vec<&[u8]> = args.split(|&b| b == b' ').collect();
        if args.first() != Some(&&b"X25519"[..]) || file_key.is_some() {
            continue; // other recipient types are not ours; one key is enough
        }
        let (Some(share), Some(body)) = (args.get(1).and_then(|a| decode_exact::<32>(a)), decode_exact::<32>(&body))
        else {
            return err("the age header has a malformed X25519 stanza");
        };
        if args.len() != 2 {
            return err("the age header has a malformed X25519 stanza");
        }
        for id in identities {
            let Ok(shared) = x25519(id.0, &share) else { continue };
            let mut salt = [0u8; 64];
            salt[..32].copy_from_slice(&share);
            salt[32..].copy_from_slice(&id.recipient().0);
            let mut b = body;
            if let Ok(k) = aead(&hkdf32(&salt, &shared, X25519_LABEL)).open_in_place(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::empty(),
                &mut b,
            ) {
                file_key = Some(k.try_into().expect("16 bytes"));
                break;
            }
        }
    }
}

fn decode_exact<const N: usize>(b64: &[u8]) -> Option<[u8; N]> {
    let v = B64.decode(b64).ok()?;
    // Canonical only: re-encoding must give the same text (no padding, no stray bits).
    (B64.encode(&v).as_bytes() == b64).then_some(())?;
    v.try_into().ok()
}

/// Streaming decryption as an `io::Write`: feed it the age file, it writes the plaintext to
/// `inner` chunk by chunk (at most one chunk and the header buffered). Call [`finish`] at the
/// end: the last chunk is only known to be last then, and a truncated file fails there.
///
/// [`finish`]: Decryptor::finish
pub struct Decryptor<'i, W: Write> {
    identities: &'i [Identity],
    inner: W,
    buf: Vec<u8>,
    opened: Option<Opened>,
    counter: u64,
    /// The first failure, kept whole (an `io::Error` only carries its text).
    pub error: Option<AgeError>,
}

impl<'i, W: Write> Decryptor<'i, W> {
    /// Decrypt into `inner` with any of `identities`.
    pub fn new(identities: &'i [Identity], inner: W) -> Self {
        Decryptor { identities, inner, buf: Vec::new(), opened: None, counter: 0, error: None }
    }

    fn fail(&mut self, e: AgeError) -> io::Error {
        let io = io::Error::new(io::ErrorKind::InvalidData, e.0.clone());
        self.error.get_or_insert(e);
        io
    }

    fn drain(&mut self, last: bool) -> io::Result<()> {
        if self.opened.is_none() {
            match open_header(self.identities, &self.buf) {
                Ok(Some(o)) => {
                    self.buf.drain(..o.data_start);
                    self.opened = Some(o);
                }
                Ok(None) if last => return Err(self.fail(AgeError("the age file is truncated (in its header)".into()))),
                Ok(None) => return Ok(()),
                Err(e) => return Err(self.fail(e)),
            }
        }
        let mut start = 0;
        while self.buf.len() - start > CHUNK_CT
            || (last && start < self.buf.len())
            || (last && self.counter == 0 && start == 0)
        {
            let end = (start + CHUNK_CT).min(self.buf.len());
            let is_last = end == self.buf.len() && last;
            let opened = self.opened.as_ref().expect("opened above");
            match opened.open_chunk(self.counter, is_last, &mut self.buf[start..end]) {
                Ok(p) => {
                    let n = p.len();
                    self.inner.write_all(&self.buf[start..start + n])?;
                }
                Err(e) => return Err(self.fail(e)),
            }
            self.counter += 1;
            start = end;
            if is_last {
                break;
            }
        }
        self.buf.drain(..start);
        Ok(())
    }

    /// Decrypt the last chunk and return the inner writer.
    pub fn finish(mut self) -> Result<W, AgeError> {
        if let Err(e) = self.drain(true) {
            return Err(self.error.take().unwrap_or_else(|| AgeError(e.to_string())));
        }
        if self.counter == 0 {
            return err("the age file is truncated (no payload)");
        }
        Ok(self.inner)
    }
}

impl<W: Write> Write for Decryptor<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.drain(false)?;
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Streaming encryption as an `io::Write`: the header goes to `inner` at once, then each full
/// chunk as soon as more bytes follow it; [`finish`](Encryptor::finish) writes the last one.
pub struct Encryptor<W: Write> {
    inner: W,
    key: LessSafeKey,
    buf: Vec<u8>,
    counter: u64,
}

impl<W: Write> Encryptor<W> {
    /// Start an age file for `recipients` in `inner`.
    pub fn new(recipients: &[Recipient], mut inner: W) -> io::Result<Self> {
        let file_key: [u8; 16] = random().map_err(io::Error::other)?;
        let header = write_header(recipients, &file_key).map_err(io::Error::other)?;
        let nonce: [u8; 16] = random().map_err(io::Error::other)?;
        inner.write_all(&header)?;
        inner.write_all(&nonce)?;
        let key = aead(&hkdf32(&nonce, &file_key, b"payload"));
        Ok(Encryptor { inner, key, buf: Vec::with_capacity(CHUNK_CT), counter: 0 })
    }

    fn emit(&mut self, last: bool) -> io::Result<()> {
        let n = self.buf.len().min(CHUNK);
        let mut chunk: Vec<u8> = self.buf.drain(..n).collect();
        let tag = self
            .key
            .seal_in_place_separate_tag(chunk_nonce(self.counter, last), Aad::empty(), &mut chunk)
            .map_err(|_| io::Error::other("encryption failed"))?;
        chunk.extend_from_slice(tag.as_ref());
        self.counter += 1;
        self.inner.write_all(&chunk)
    }

    /// Write the last chunk; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.emit(true)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        while self.buf.len() > CHUNK {
            self.emit(false)?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Plaintext length of an age payload of `payload_len` bytes (chunks after the nonce), or
/// `None` when no valid file has that length.
pub fn plain_len(payload_len: u64) -> Option<u64> {
    let ct = CHUNK_CT as u64;
    if payload_len < TAG as u64 {
        return None;
    }
    let chunks = payload_len.div_ceil(ct);
    let last = payload_len - (chunks - 1) * ct;
    if last == TAG as u64 && chunks > 1 {
        return None; // an empty last chunk is only allowed for an empty file
    }
    Some(payload_len - chunks * TAG as u64)
}

// ---- bech32 (BIP 173), the encoding of age keys ----

const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn polymod(values: &[u8]) -> u32 {
    const GEN: [u32; 5] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3];
    let mut chk: u32 = 1;
    for &v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

fn hrp_expand(hrp: &str) -> Vec<u8> {
    let mut v: Vec<u8> = hrp.bytes().map(|b| b >> 5).collect();
    v.push(0);
    v.extend(hrp.bytes().map(|b| b & 31));
    v
}

fn convert_bits(data: &[u8], from: u32, to: u32, pad: bool) -> Option<Vec<u8>> {
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
    let maxv = (1u32 << to) - 1;
    for &v in data {
        acc = (acc << from) | u32::from(v);
        bits += from;
        while bits >= to {
            bits -= to;
            out.push(((acc >> bits) & maxv) as u8);
        }
    }
    if pad {
        if bits > 0 {
            out.push(((acc << (to - bits)) & maxv) as u8);
        }
    } else if bits >= from || ((acc << (to - bits)) & maxv) != 0 {
        return None;
    }
    Some(out)
}

fn bech32_encode(hrp: &str, data: &[u8]) -> String {
    let values = convert_bits(data, 8, 5, true).expect("padding always converts");
    let mut chk = hrp_expand(hrp);
    chk.extend_from_slice(&values);
    chk.extend_from_slice(&[0; 6]);
    let m = polymod(&chk) ^ 1;
    let mut s = format!("{hrp}1");
    for v in values.iter().copied().chain((0..6).map(|i| ((m >> (5 * (5 - i))) & 31) as u8)) {
        s.push(CHARSET[v as usize] as char);
    }
    s
}

/// (lowercased hrp, data) of a bech32 string (either case, not mixed), checksum verified.
fn bech32_decode(s: &str) -> Option<(String, Vec<u8>)> {
    if s.bytes().any(|b| b.is_ascii_lowercase()) && s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let s = s.to_ascii_lowercase();
    let sep = s.rfind('1')?;
    let (hrp, data) = (&s[..sep], &s[sep + 1..]);
    if hrp.is_empty() || data.len() < 6 || !hrp.bytes().all(|b| (33..=126).contains(&b)) {
        return None;
    }
    let values: Vec<u8> =
        data.bytes().map(|c| CHARSET.iter().position(|&x| x == c).map(|p| p as u8)).collect::<Option<_>>()?;
    let mut chk = hrp_expand(hrp);
    chk.extend_from_slice(&values);
    if polymod(&chk) != 1 {
        return None;
    }
    let bytes = convert_bits(&values[..values.len() - 6], 5, 8, false)?;
    Some((hrp.to_string(), bytes))
}

fn preview(s: &str) -> String {
    let mut p: String = s.chars().take(12).collect();
    if p.len() < s.len() {
        p.push('…');
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7748_x25519_vector() {
        // RFC 7748 section 6.1 (Alice's keys).
        let a = hex_arr("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let a_pub = hex_arr("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        let b_pub = hex_arr("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let shared = hex_arr("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        assert_eq!(Identity(a).recipient().0, a_pub);
        assert_eq!(x25519(a, &b_pub).unwrap(), shared);
    }

    fn hex_arr(s: &str) -> [u8; 32] {
        let v: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect();
        v.try_into().unwrap()
    }

    #[test]
    fn keys_round_trip_through_bech32() {
        let id = Identity::generate().unwrap();
        let s = id.to_secret_string();
        assert!(s.starts_with("AGE-SECRET-KEY-1") && s.len() == 74, "{s}");
        let back = Identity::parse(&s).unwrap();
        assert_eq!(back.recipient(), id.recipient());
        let r = id.recipient().to_string();
        assert!(r.starts_with("age1") && r.len() == 62, "{r}");
        assert_eq!(Recipient::parse(&r).unwrap(), id.recipient());
        // One changed character breaks the checksum; mixed case and wrong kinds are refused.
        let mut bad = r.clone().into_bytes();
        bad[10] = if bad[10] == b'q' { b'p' } else { b'q' };
        assert!(Recipient::parse(std::str::from_utf8(&bad).unwrap()).is_err());
        assert!(Recipient::parse(&r.to_ascii_uppercase()).is_err());
        assert!(Recipient::parse(&s).is_err());
        assert!(Identity::parse(&r).is_err());
        assert!(!format!("{id:?}").contains(&s[16..]), "Debug must not show the secret");
    }

    #[test]
    fn round_trips_at_chunk_boundaries_and_streams() {
        let id = Identity::generate().unwrap();
        let other = Identity::generate().unwrap();
        let rs = [other.recipient(), id.recipient()];
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let ct = encrypt(&rs, &plain).unwrap();
            let payload = ct.len() - open_header(std::slice::from_ref(&id), &ct).unwrap().unwrap().data_start;
            assert_eq!(plain_len(payload as u64), Some(len as u64), "len {len}");
            assert_eq!(decrypt(std::slice::from_ref(&id), &ct).unwrap(), plain, "len {len}");
            // Streaming both ways, in odd pieces.
            let mut e = Encryptor::new(&rs, Vec::new()).unwrap();
            for piece in plain.chunks(7777) {
                e.write_all(piece).unwrap();
            }
            let ct2 = e.finish().unwrap();
            assert_eq!(ct2.len(), ct.len());
            let mut d = Decryptor::new(std::slice::from_ref(&other), Vec::new());
            for piece in ct2.chunks(5000) {
                d.write_all(piece).unwrap();
            }
            assert_eq!(d.finish().unwrap(), plain);
            // Truncation at a chunk boundary is caught.
            if len > CHUNK {
                let start = open_header(std::slice::from_ref(&id), &ct).unwrap().unwrap().data_start;
                assert!(decrypt(std::slice::from_ref(&id), &ct[..start + CHUNK_CT]).is_err(), "len {len}");
            }
        }
    }

    #[test]
    fn wrong_key_and_tampering_fail_cleanly() {
        let id = Identity::generate().unwrap();
        let ct = encrypt(&[id.recipient()], b"secret prompt").unwrap();
        let stranger = Identity::generate().unwrap();
        let e = decrypt(&[stranger], &ct).unwrap_err();
        assert!(e.0.contains("no identity"), "{e}");
        let mut t = ct.clone();
        let n = t.len();
        t[n - 1] ^= 1;
        assert!(decrypt(std::slice::from_ref(&id), &t).unwrap_err().0.contains("authenticate"));
        let mut t = ct.clone();
        t[30] ^= 1; // inside the stanza line
        assert!(decrypt(std::slice::from_ref(&id), &t).is_err());
        assert!(decrypt(std::slice::from_ref(&id), b"{\"not\": \"age\"}").unwrap_err().0.contains("not an age file"));
        assert!(decrypt(&[id], &ct[..40]).unwrap_err().0.contains("truncated"));
    }

    #[test]
    fn identity_files_as_age_keygen_writes_them() {
        let id = Identity::generate().unwrap();
        let text =
            format!("# created: 2026-11-21T19:15:12Z\n# public key: {}\n{}\n", id.recipient(), id.to_secret_string());
        let ids = parse_identities(&text).unwrap();
        assert_eq!(ids[0].recipient(), id.recipient());
        let e = parse_identities("# nothing\n").unwrap_err();
        assert!(e.0.contains("no AGE-SECRET-KEY"));
        let secret = id.to_secret_string();
        let e = parse_identities(&format!("{secret}x\n")).unwrap_err();
        assert!(e.0.starts_with("line 1") && !e.0.contains(&secret[16..40]), "{e}");
    }
}
