//! A minimal HTTP/1.1 toolkit over `std::net`, shared by the harness (unsigned reads
//! from moto, readiness probes) and the proxies. It only does what those need:
//! request/status line + headers, bodies framed by `Content-Length` or `chunked`, or
//! read until the peer closes. No TLS, no pipelining beyond sequential keep-alive.

use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Largest head (start line + headers) we accept, to fail fast on garbage.
const MAX_HEAD: usize = 64 * 1024;

/// The start line and headers of a request or a response.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// `GET /b/k HTTP/1.1` or `HTTP/1.1 200 OK`, without the line ending.
    pub start_line: String,
    /// Headers in arrival order, names as received.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether header `name` holds the comma-separated token `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The parts of a request line: (method, target, version).
    pub fn request_parts(&self) -> (&str, &str, &str) {
        let mut it = self.start_line.splitn(3, ' ');
        (it.next().unwrap_or(""), it.next().unwrap_or(""), it.next().unwrap_or(""))
    }

    /// The status code of a status line (0 if unparsable).
    pub fn status(&self) -> u16 {
        self.start_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    /// Serialise start line + headers + blank line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(self.start_line.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, v) in &self.headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Drop every header called `name` (case-insensitive).
    pub fn remove(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }
}

/// Read one head. `Ok(None)` if the peer closed cleanly before sending anything
/// (the normal end of a keep-alive connection).
pub fn read_head<R: BufRead>(r: &mut R) -> io::Result<Option<Head>> {
    let mut lines = Vec::new();
    let mut total = 0usize;
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            if lines.is_empty() && total == 0 {
                return Ok(None);
            }
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside an HTTP head"));
        }
        total += n;
        if total > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "HTTP head too large"));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if lines.is_empty() {
                // Tolerate stray blank lines between messages (RFC 9112 §2.2).
                continue;
            }
            break;
        }
        lines.push(text.to_string());
    }
    let mut it = lines.into_iter();
    let start_line = it.next().unwrap_or_default();
    let headers = it
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            Some((n.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Ok(Some(Head { start_line, headers }))
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

/// Framing of a request body (requests without length or chunking have no body).
pub fn request_framing(head: &Head) -> io::Result<Framing> {
    if head.has_token("transfer-encoding", "chunked") {
        return Ok(Framing::Chunked);
    }
    match head.header("content-length") {
        Some(v) => {
            v.parse().map(Framing::Length).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))
        }
        None => Ok(Framing::None),
    }
}

/// Framing of a response body, given the request method (HEAD responses have none).
pub fn response_framing(head: &Head, request_method: &str) -> io::Result<Framing> {
    let status = head.status();
    if request_method.eq_ignore_ascii_case("HEAD") || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::None);
    }
    if head.has_token("transfer-encoding", "chunked") {
        return Ok(Framing::Chunked);
    }
    match head.header("content-length") {
        Some(v) => {
            v.parse().map(Framing::Length).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))
        }
        None => Ok(Framing::UntilClose),
    }
}

/// A body as it travelled on the wire (`raw`, framing included) and decoded (`data`).
#[derive(Debug, Clone, Default)]
pub struct Body {
    pub raw: Vec<u8>,
    pub data: Vec<u8>,
}

/// Read a body with the given framing.
pub fn read_body<R: BufRead>(r: &mut R, framing: Framing) -> io::Result<Body> {
    match framing {
        Framing::None => Ok(Body::default()),
        Framing::Length(n) => {
            let mut data = vec![0; n];
            r.read_exact(&mut data)?;
            Ok(Body { raw: data.clone(), data })
        }
        Framing::UntilClose => {
            let mut data = Vec::new();
            r.read_to_end(&mut data)?;
            Ok(Body { raw: data.clone(), data })
        }
        Framing::Chunked => {
            let mut body = Body::default();
            loop {
                let mut line = Vec::new();
                if r.read_until(b'\n', &mut line)? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                body.raw.extend_from_slice(&line);
                let text = String::from_utf8_lossy(&line);
                let size_text = text.trim().split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_text, 16)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size line"))?;
                if size == 0 {
                    // Trailers, then the final blank line.
                    loop {
                        let mut t = Vec::new();
                        if r.read_until(b'\n', &mut t)? == 0 {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                        body.raw.extend_from_slice(&t);
                        if t == b"\r\n" || t == b"\n" {
                            return Ok(body);
                        }
                    }
                }
                let mut chunk = vec![0; size];
                r.read_exact(&mut chunk)?;
                body.raw.extend_from_slice(&chunk);
                body.data.extend_from_slice(&chunk);
                let mut crlf = Vec::new();
                r.read_until(b'\n', &mut crlf)?;
                body.raw.extend_from_slice(&crlf);
            }
        }
    }
}

/// A complete response, as returned by [`request`].
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub head: Head,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Send one request on a fresh connection (`Connection: close`) and read the answer.
/// `target` is the request target (`/bucket/key?query`); `Host` and `Content-Length`
/// are added. Times out after `timeout` on connect and on each read/write.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut head =
        Head { start_line: format!("{method} {target} HTTP/1.1"), headers: vec![("Host".into(), addr.to_string())] };
    for (n, v) in headers {
        head.headers.push((n.to_string(), v.to_string()));
    }
    if !body.is_empty() || matches!(method, "PUT" | "POST") {
        head.headers.push(("Content-Length".into(), body.len().to_string()));
    }
    head.headers.push(("Connection".into(), "close".into()));
    let mut out = head.to_bytes();
    out.extend_from_slice(body);
    stream.write_all(&out)?;
    stream.flush()?;
    let mut reader = io::BufReader::new(stream);
    loop {
        let head =
            read_head(&mut reader)?.ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no HTTP response"))?;
        let status = head.status();
        if (100..200).contains(&status) {
            continue; // interim response (100 Continue)
        }
        let framing = response_framing(&head, method)?;
        let body = read_body(&mut reader, framing)?.data;
        return Ok(Response { status, head, body });
    }
}

/// Percent-encode for a URL path (keeps `/` and RFC 3986 unreserved characters).
pub fn encode_path(s: &str) -> String {
    encode(s, true)
}

/// Percent-encode a query-string value (encodes `/` too).
pub fn encode_query(s: &str) -> String {
    encode(s, false)
}

fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        if unreserved || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undo the five predefined XML entities (enough for S3 listing keys).
pub fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// Escape text for an XML element body.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Every text between `<tag>` and `</tag>`, in order (tiny scan, no nesting).
pub fn xml_all(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        match rest.find(&close) {
            Some(j) => {
                out.push(xml_unescape(&rest[..j]));
                rest = &rest[j + close.len()..];
            }
            None => break,
        }
    }
    out
}

/// First text between `<tag>` and `</tag>`.
pub fn xml_first(xml: &str, tag: &str) -> Option<String> {
    xml_all(xml, tag).into_iter().next()
}
