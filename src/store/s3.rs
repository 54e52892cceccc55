//! S3 client: every request is a presigned URL from `rusty-s3` (SigV4 in the query string,
//! conditional headers signed too), sent with a `ureq` agent that has short timeouts and no
//! automatic status errors. Transient failures are retried with jittered backoff inside a
//! bounded time budget. Credentials stay inside the signer; errors name the endpoint, the key
//! and the server's error code, never a secret.
//!
//! The endpoint is not trusted to behave: every request has a deadline covering connect,
//! headers and the whole body (`timeout_global`; uploads get extra time for their size,
//! streamed downloads a minimum rate), bodies read into memory are capped
//! ([`MAX_SMALL_BODY`] for meta.json and listing pages, [`MAX_ERROR_BODY`] for error
//! answers), listings are bounded ([`ListBound`]: keys, memory, pages; a page must advance,
//! keys must lie under the prefix asked for), and redirects are never followed (a 3xx is an
//! error: our signature is for this host only).

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusty_s3::actions::{CompleteMultipartUploadResponse, CreateMultipartUpload, ListObjectsV2, S3Action};
use rusty_s3::{Bucket, Credentials, UrlStyle};

use super::{Cond, Limits, ListBound, ObjectInfo, Store, Upload, COPY_MIN};
use crate::base::error::{Error, Result};
use crate::config::{display_endpoint, S3Config};

/// How long a presigned URL stays valid. Only needs to cover one request.
const SIGN_TTL: Duration = Duration::from_secs(15 * 60);
/// Largest body read into memory whole: meta.json, a listing page, a multipart answer.
pub const MAX_SMALL_BODY: u64 = 16 << 20;
/// Largest error answer read (enough for `<Code>` and `<Message>`).
pub const MAX_ERROR_BODY: u64 = 8 << 10;
/// Listing pages accepted for one listing (1,000 keys each on S3).
const MAX_LIST_PAGES: usize = 20_000;
/// The slowest transfer we wait for: an upload's deadline grows by its size at this rate,
/// and a streamed download must keep up with it.
const MIN_RATE: u64 = 128 << 10;

/// A bucket on an S3-compatible server.
pub struct S3Store {
    bucket: Bucket,
    creds: Credentials,
    agent: ureq::Agent,
    endpoint: String,
    limits: Limits,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket.name())
            .field("access_key", &crate::config::mask_key_id(self.creds.key()))
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// Build the client. Fails on a malformed endpoint or an unreadable CA file.
    pub fn new(cfg: &S3Config, limits: Limits) -> Result<Self> {
        let endpoint = display_endpoint(&cfg.endpoint);
        let url = cfg
            .endpoint
            .parse()
            .map_err(|e| Error::config(None, format!("endpoint {endpoint:?} is not a valid URL: {e}")))?;
        let style = if cfg.path_style { UrlStyle::Path } else { UrlStyle::VirtualHost };
        let bucket = Bucket::new(url, style, cfg.bucket.clone(), cfg.region.clone())
            .map_err(|e| Error::config(None, format!("endpoint {endpoint:?} / bucket {:?}: {e}", cfg.bucket)))?;
        let creds = match &cfg.session_token {
            Some(t) => Credentials::new_with_token(&cfg.access_key, cfg.secret_key.expose(), t.expose()),
            None => Credentials::new(&cfg.access_key, cfg.secret_key.expose()),
        };
        let mut builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(limits.connect))
            .timeout_recv_response(Some(limits.response))
            // One deadline for the whole exchange, body included (a server dripping a byte
            // every few seconds never trips a per-read timeout); uploads extend it.
            .timeout_global(Some(limits.connect + limits.response))
            .timeout_per_read(Some(limits.response))
            .max_response_header_size(64 * 1024)
            .max_redirects(0)
            .user_agent(concat!("tracecraft-hook/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &cfg.ca_file {
            builder = builder.tls_config(tls_with_ca(ca)?);
        }
        let agent = builder.build().into();
        Ok(S3Store { bucket, creds, agent, endpoint, limits })
    }

    /// The server's `Date` header from one signed HEAD of the bucket, whatever the status
    /// (for `doctor`'s clock-skew check: a server answers even a request it rejects).
    /// No retry; a request that gets no answer is an `Error::Network`.
    pub fn server_date(&self) -> Result<Option<String>> {
        let action = self.bucket.head_bucket(Some(&self.creds));
        let url = self.sign(&action);
        let resp = self.agent.head(&url).call().map_err(|e| self.net_err("HEAD bucket", self.bucket.name(), e))?;
        Ok(header(&resp, "date"))
    }

    fn net_err(&self, op: &'static str, key: &str, e: ureq::Error) -> Error {
        let protocol = |msg: String| Error::Protocol { endpoint: self.endpoint.clone(), key: key.to_string(), op, msg };
        match &e {
            ureq::Error::BodyExceedsLimit(n) => {
                return protocol(format!("the answer is larger than {n} bytes; refusing it (is this an S3 server?)"))
            }
            ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => {
                return protocol("the server redirected; redirects are not followed".into())
            }
            ureq::Error::LargeResponseHeader(..) => return protocol("the answer's headers are too large".into()),
            _ => {}
        }
        let msg = match &e {
            ureq::Error::Timeout(t) => format!("timed out ({t})"),
            ureq::Error::ConnectionFailed => "connection failed (is the server running?)".into(),
            ureq::Error::HostNotFound => "host not found".into(),
            ureq::Error::Io(io) => format!("{io}"),
            other => other.to_string(),
        };
        Error::Network { endpoint: self.endpoint.clone(), key: key.to_string(), op, msg }
    }

    fn http_err(&self, op: &'static str, key: &str, status: u16, body: &[u8]) -> Error {
        let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
        let tag = |t: &str| -> String {
            let open = format!("<{t}>");
            let close = format!("</{t}>");
            text.find(&open)
                .and_then(|s| {
                    text[s + open.len()..].find(&close).map(|e| text[s + open.len()..s + open.len() + e].to_string())
                })
                .unwrap_or_default()
        };
        let code = tag("Code");
        let mut msg = tag("Message");
        if msg.len() > 200 {
            msg.truncate(200);
        }
        if (300..400).contains(&status) {
            return Error::Protocol {
                endpoint: self.endpoint.clone(),
                key: key.to_string(),
                op,
                msg: format!("HTTP {status}: the server redirected; redirects are not followed (check \"endpoint\")"),
            };
        }
        let hint = match (status, code.as_str()) {
            (403, _) | (_, "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied") => {
                " (check access_key/secret_key and the bucket policy)"
            }
            _ => "",
        };
        if status == 404 && code == "NoSuchBucket" {
            // Not "object not found": the destination itself is missing.
            let bucket = self.bucket.name().to_string();
            return Error::NoSuchBucket { endpoint: self.endpoint.clone(), bucket, key: key.to_string(), op };
        }
        let msg = format!("{msg}{hint}").trim().to_string();
        Error::Http { endpoint: self.endpoint.clone(), key: key.to_string(), op, status, code, msg }
    }

    /// A failed GET: `Ok(None)` when the object does not exist (a 404 other than NoSuchBucket),
    /// else the server's error.
    fn absent_or_error<T>(
        &self,
        op: &'static str,
        key: &str,
        status: u16,
        resp: &mut ureq::http::Response<ureq::Body>,
    ) -> Result<Option<T>> {
        let body = read_capped(resp, MAX_ERROR_BODY).unwrap_or_default();
        match self.http_err(op, key, status, &body) {
            Error::Http { status: 404, .. } => Ok(None),
            e => Err(e),
        }
    }

    /// Run `f` until it succeeds, fails for good, or the retry budget is spent; what may
    /// succeed later ([`Error::is_transient`]) is retried.
    fn retry<T>(&self, f: impl FnMut() -> Result<T>) -> Result<T> {
        self.retry_if(transient, f)
    }

    /// Run `f` until it succeeds, `decide` says [`Next::Stop`] for its error, or the retry
    /// budget is spent. The caller decides; the error stays what happened.
    fn retry_if<T>(&self, decide: impl Fn(&Error) -> Next, mut f: impl FnMut() -> Result<T>) -> Result<T> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            match f() {
                Err(e)
                    if decide(&e) == Next::Retry
                        && start.elapsed() + delay + self.limits.response < self.limits.retry_budget =>
                {
                    std::thread::sleep(jitter(delay));
                    delay = (delay * 3).min(Duration::from_secs(3));
                }
                other => return other,
            }
        }
    }

    /// The deadline of one upload attempt: the usual one plus the time `len` bytes take at
    /// [`MIN_RATE`].
    fn upload_deadline(&self, len: usize) -> Duration {
        self.limits.connect + self.limits.response + Duration::from_secs_f64(len as f64 / MIN_RATE as f64)
    }

    /// PUT with an optional signed `Content-Type`.
    fn put_with(&self, key: &str, body: &[u8], cond: &Cond, content_type: Option<&str>) -> Result<Option<String>> {
        self.retry(|| {
            let mut action = self.bucket.put_object(Some(&self.creds), key);
            let (hname, hval) = match cond {
                Cond::None => ("", String::new()),
                Cond::IfMatch(etag) => ("if-match", etag.clone()),
            };
            if !hname.is_empty() {
                action.headers_mut().insert(hname, hval.clone());
            }
            if let Some(ct) = content_type {
                action.headers_mut().insert("content-type", ct.to_string());
            }
            let url = self.sign(&action);
            let mut req = self.agent.put(&url).config().timeout_global(Some(self.upload_deadline(body.len()))).build();
            if !hname.is_empty() {
                req = req.header(hname, &hval);
            }
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            let mut resp = req.send(body).map_err(|e| self.net_err("PUT", key, e))?;
            let status = resp.status().as_u16();
            match status {
                200..=299 => Ok(header(&resp, "etag")),
                412 | 409 => Err(Error::Precondition { key: key.to_string() }),
                _ => {
                    let b = read_capped(&mut resp, MAX_ERROR_BODY).unwrap_or_default();
                    Err(self.http_err("PUT", key, status, &b))
                }
            }
        })
    }

    fn sign<'x>(&self, action: &impl S3Action<'x>) -> String {
        action.sign(SIGN_TTL).to_string()
    }
}

/// What the retry loop does after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Retry,
    Stop,
}

/// The usual decision: retry network trouble, 5xx and throttling; stop on anything else.
fn transient(e: &Error) -> Next {
    if e.is_transient() {
        Next::Retry
    } else {
        Next::Stop
    }
}

/// A delay between 50% and 100% of `d`, so concurrent retries spread out.
fn jitter(d: Duration) -> Duration {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|t| t.subsec_nanos()).unwrap_or(0);
    d / 2 + d.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

fn tls_with_ca(path: &std::path::Path) -> Result<ureq::tls::TlsConfig> {
    let pem = std::fs::read(path).map_err(|e| Error::io("read CA file", path, e))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c.to_owned()),
            Ok(_) => {}
            Err(e) => return Err(Error::config(Some(path), format!("not a PEM certificate file: {e}"))),
        }
    }
    if certs.is_empty() {
        return Err(Error::config(Some(path), "no certificate found in ca_file"));
    }
    Ok(ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs))).build())
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// At most `max` bytes of a body (an error body: what does not fit is dropped).
fn read_capped(resp: &mut ureq::http::Response<ureq::Body>, max: u64) -> std::result::Result<Vec<u8>, ureq::Error> {
    let mut out = Vec::new();
    resp.body_mut().with_config().limit(u64::MAX).reader().take(max).read_to_end(&mut out)?;
    Ok(out)
}

/// The text of the first `<tag>...</tag>` of an XML answer.
fn xml_tag(text: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(&format!("</{tag}>"))?;
    Some(text[start..start + len].to_string())
}

/// A key as `x-amz-copy-source` wants it: percent-encoded, `/` kept.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A whole body we need (meta.json, a listing page...), refused past `max` bytes.
fn read_body(resp: &mut ureq::http::Response<ureq::Body>) -> std::result::Result<Vec<u8>, ureq::Error> {
    // An announced length over the cap is refused before a byte is read.
    if header(resp, "content-length").and_then(|v| v.parse::<u64>().ok()).is_some_and(|n| n > MAX_SMALL_BODY) {
        return Err(ureq::Error::BodyExceedsLimit(MAX_SMALL_BODY));
    }
    read_limited(resp, MAX_SMALL_BODY)
}

/// The whole body, or `BodyExceedsLimit` as soon as it goes past `max` bytes.
fn read_limited(resp: &mut ureq::http::Response<ureq::Body>, max: u64) -> std::result::Result<Vec<u8>, ureq::Error> {
    let mut out = Vec::new();
    resp.body_mut().with_config().limit(u64::MAX).reader().take(max.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(ureq::Error::BodyExceedsLimit(max));
    }
    Ok(out)
}

impl Store for S3Store {
    fn describe(&self) -> String {
        format!("s3 {} bucket {}", self.endpoint, self.bucket.name())
    }

    fn put(&self, key: &str, body: &[u8], cond: &Cond) -> Result<Option<String>> {
        self.put_with(key, body, cond, None)
    }

    /// Small objects only (meta.json, probes): over [`MAX_SMALL_BODY`] is an error.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.retry(|| {
            let action = self.bucket.get_object(Some(&self.creds), key);
            let url = self.sign(&action);
            let mut resp = self.agent.get(&url).call().map_err(|e| self.net_err("GET", key, e))?;
            let status = resp.status().as_u16();
            match status {
                200 => read_body(&mut resp).map(Some).map_err(|e| self.net_err("GET", key, e)),
                _ => self.absent_or_error("GET", key, status, &mut resp),
            }
        })
    }

    fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Option<Vec<u8>>> {
        if end <= start {
            return Ok(Some(Vec::new()));
        }
        self.retry(|| {
            let action = self.bucket.get_object(Some(&self.creds), key);
            let url = self.sign(&action);
            let range = format!("bytes={}-{}", start, end - 1);
            let mut resp =
                self.agent.get(&url).header("range", &range).call().map_err(|e| self.net_err("GET", key, e))?;
            let status = resp.status().as_u16();
            match status {
                206 => read_limited(&mut resp, end - start).map(Some).map_err(|e| self.net_err("GET", key, e)),
                200 => {
                    // Server ignored Range: read up to `end` only, cut locally.
                    let all = read_capped(&mut resp, end).map_err(|e| self.net_err("GET", key, e))?;
                    let s = (start as usize).min(all.len());
                    let e = (end as usize).min(all.len());
                    Ok(Some(all[s..e].to_vec()))
                }
                416 => Ok(Some(Vec::new())),
                _ => self.absent_or_error("GET", key, status, &mut resp),
            }
        })
    }

    fn get_to(&self, key: &str, out: &mut dyn Write) -> Result<Option<u64>> {
        // Retry only until the first byte reached `out`: after that a retry would repeat bytes.
        let sent = std::cell::Cell::new(0u64);
        let decide = |e: &Error| if sent.get() > 0 { Next::Stop } else { transient(e) };
        self.retry_if(decide, || {
            let action = self.bucket.get_object(Some(&self.creds), key);
            let url = self.sign(&action);
            // Streamed (parts of any size): no fixed deadline, but every read must come within
            // `response`, and the whole must keep up with MIN_RATE.
            let started = Instant::now();
            let mut resp = self
                .agent
                .get(&url)
                .config()
                .timeout_global(None)
                .timeout_recv_body(None)
                .build()
                .call()
                .map_err(|e| self.net_err("GET", key, e))?;
            let status = resp.status().as_u16();
            match status {
                200 => {
                    let len: u64 = header(&resp, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                    let budget = self.limits.connect
                        + self.limits.response
                        + Duration::from_secs_f64(len as f64 / MIN_RATE as f64);
                    let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
                    let mut buf = vec![0u8; 256 * 1024];
                    let mut n = 0u64;
                    loop {
                        let r = reader.read(&mut buf).map_err(|e| Error::Network {
                            endpoint: self.endpoint.clone(),
                            key: key.to_string(),
                            op: "GET",
                            // A failure mid-body is not retried (`decide`: bytes already went out).
                            msg: if n > 0 { format!("{e} (after {n} bytes)") } else { e.to_string() },
                        })?;
                        if r == 0 {
                            break;
                        }
                        if started.elapsed() > budget + Duration::from_secs_f64(n as f64 / MIN_RATE as f64) {
                            // A byte now and then never trips the per-read timeout: too slow is
                            // an error too (not retried: the same server does the same).
                            return Err(Error::Protocol {
                                endpoint: self.endpoint.clone(),
                                key: key.to_string(),
                                op: "GET",
                                msg: format!(
                                    "too slow: {n} bytes in {:.0}s (less than {} KiB/s); giving up",
                                    started.elapsed().as_secs_f64(),
                                    MIN_RATE >> 10
                                ),
                            });
                        }
                        out.write_all(&buf[..r]).map_err(|e| Error::io("write", "<output>", e))?;
                        n += r as u64;
                        sent.set(sent.get() + r as u64);
                    }
                    Ok(Some(n))
                }
                _ => self.absent_or_error("GET", key, status, &mut resp),
            }
        })
    }

    fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        self.retry(|| {
            let action = self.bucket.head_object(Some(&self.creds), key);
            let url = self.sign(&action);
            let resp = self.agent.head(&url).call().map_err(|e| self.net_err("HEAD", key, e))?;
            let status = resp.status().as_u16();
            match status {
                200 => Ok(Some(ObjectInfo {
                    key: key.to_string(),
                    size: header(&resp, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0),
                    last_modified: header(&resp, "last-modified"),
                    etag: header(&resp, "etag"),
                })),
                404 => Ok(None),
                _ => Err(self.http_err("HEAD", key, status, b"")),
            }
        })
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.retry(|| {
            let action = self.bucket.delete_object(Some(&self.creds), key);
            let url = self.sign(&action);
            let mut resp = self.agent.delete(&url).call().map_err(|e| self.net_err("DELETE", key, e))?;
            let status = resp.status().as_u16();
            match status {
                200..=299 | 404 => Ok(()),
                _ => {
                    let b = read_capped(&mut resp, MAX_ERROR_BODY).unwrap_or_default();
                    Err(self.http_err("DELETE", key, status, &b))
                }
            }
        })
    }

    fn list_bounded(&self, prefix: &str, bound: ListBound) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut held = 0usize;
        let mut pages = 0usize;
        let mut last_key: Option<String> = None;
        let broken =
            |msg: String| Error::Protocol { endpoint: self.endpoint.clone(), key: prefix.to_string(), op: "LIST", msg };
        loop {
            pages += 1;
            if pages > MAX_LIST_PAGES {
                return Err(broken(format!("more than {MAX_LIST_PAGES} listing pages; giving up")));
            }
            let page = self.retry(|| {
                let mut action = self.bucket.list_objects_v2(Some(&self.creds));
                action.with_prefix(prefix);
                if let Some(t) = &token {
                    action.with_continuation_token(t.as_str());
                }
                let url = self.sign(&action);
                let mut resp = self.agent.get(&url).call().map_err(|e| self.net_err("LIST", prefix, e))?;
                let status = resp.status().as_u16();
                let body = read_body(&mut resp).map_err(|e| self.net_err("LIST", prefix, e))?;
                if status != 200 {
                    return Err(self.http_err("LIST", prefix, status, &body));
                }
                let text = String::from_utf8_lossy(&body);
                ListObjectsV2::parse_response(&text).map_err(|e| Error::Network {
                    endpoint: self.endpoint.clone(),
                    key: prefix.to_string(),
                    op: "LIST",
                    msg: format!("unreadable listing: {e}"),
                })
            })?;
            let page_max = page.contents.iter().map(|c| c.key.as_str()).max().map(str::to_string);
            for c in page.contents {
                if !c.key.starts_with(prefix) {
                    continue; // not what we asked for: never act on it
                }
                held += c.key.len()
                    + c.etag.as_ref().map_or(0, String::len)
                    + c.last_modified.as_ref().map_or(0, String::len)
                    + 64;
                if out.len() >= bound.keys || held > bound.bytes {
                    return Err(broken(format!(
                        "the listing goes on past {} objects / {} MiB; refusing more (is the server looping?)",
                        out.len(),
                        held >> 20
                    )));
                }
                out.push(ObjectInfo {
                    key: c.key,
                    size: c.size.unwrap_or(0),
                    last_modified: c.last_modified,
                    etag: c.etag,
                });
            }
            match page.next_continuation_token {
                Some(t) if !t.is_empty() => {
                    // Another page must bring keys beyond the last page's: a server that
                    // repeats a page (or sends empty ones forever) is looping.
                    if token.as_deref() == Some(t.as_str())
                        || page_max.is_none()
                        || (last_key.is_some() && page_max <= last_key)
                    {
                        return Err(broken("the listing does not advance (same page again); giving up".into()));
                    }
                    last_key = page_max;
                    token = Some(t);
                }
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn check_bucket(&self) -> Result<()> {
        self.retry(|| {
            let action = self.bucket.head_bucket(Some(&self.creds));
            let url = self.sign(&action);
            let resp = self.agent.head(&url).call().map_err(|e| self.net_err("HEAD bucket", self.bucket.name(), e))?;
            match resp.status().as_u16() {
                200..=299 => Ok(()),
                404 => Err(Error::NotFound(format!(
                    "bucket {} does not exist at {} (create it, or run `tracecraft-hook init --create-bucket`)",
                    self.bucket.name(),
                    self.endpoint
                ))),
                s => Err(self.http_err("HEAD bucket", self.bucket.name(), s, b"")),
            }
        })
    }

    fn upload<'s>(&'s self, key: &str) -> Result<Box<dyn Upload + 's>> {
        Ok(Box::new(S3Upload {
            store: self,
            key: key.to_string(),
            buf: Vec::new(),
            upload_id: None,
            etags: Vec::new(),
            content_type: None,
            copy_refused: false,
            copies: 0,
        }))
    }

    fn upload_typed<'s>(&'s self, key: &str, content_type: &str) -> Result<Box<dyn Upload + 's>> {
        Ok(Box::new(S3Upload {
            store: self,
            key: key.to_string(),
            buf: Vec::new(),
            upload_id: None,
            etags: Vec::new(),
            content_type: Some(content_type.to_string()),
            copy_refused: false,
            copies: 0,
        }))
    }

    fn presign_get(&self, key: &str, ttl: Duration) -> Option<String> {
        Some(self.bucket.get_object(Some(&self.creds), key).sign(ttl).to_string())
    }

    fn create_bucket(&self) -> Result<()> {
        let action = self.bucket.create_bucket(&self.creds);
        let url = self.sign(&action);
        let mut resp =
            self.agent.put(&url).send_empty().map_err(|e| self.net_err("CREATE bucket", self.bucket.name(), e))?;
        match resp.status().as_u16() {
            200..=299 => Ok(()),
            s => {
                let b = read_capped(&mut resp, MAX_ERROR_BODY).unwrap_or_default();
                let e = self.http_err("CREATE bucket", self.bucket.name(), s, &b);
                match &e {
                    Error::Http { code, .. } if code == "BucketAlreadyOwnedByYou" => Ok(()),
                    _ => Err(e),
                }
            }
        }
    }
}

/// Size of one multipart part (S3 wants at least 5 MiB for all but the last part).
const MULTIPART_CHUNK: usize = 8 * 1024 * 1024;
/// S3 numbers parts 1 to 10000.
const MAX_MULTIPART_PARTS: usize = 10_000;

/// A streaming upload: objects up to one chunk are a plain PUT at `finish`; larger ones
/// become a multipart upload, holding at most about one chunk in memory. Dropped before
/// `finish`, the multipart upload is aborted so its parts are not kept (and billed).
struct S3Upload<'s> {
    store: &'s S3Store,
    key: String,
    buf: Vec<u8>,
    upload_id: Option<String>,
    etags: Vec<String>,
    content_type: Option<String>,
    /// The server refused an `UploadPartCopy`: every later byte goes through us.
    copy_refused: bool,
    /// Objects (or their ends) copied by `UploadPartCopy`.
    copies: usize,
}

/// The largest range one `UploadPartCopy` copies (S3 allows 5 GiB).
const COPY_MAX: u64 = 4 << 30;

impl S3Upload<'_> {
    fn start(&mut self) -> Result<String> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let (st, key) = (self.store, self.key.as_str());
        let id = st.retry(|| {
            let mut action = st.bucket.create_multipart_upload(Some(&st.creds), key);
            if let Some(ct) = &self.content_type {
                action.headers_mut().insert("content-type", ct.clone());
            }
            let url = st.sign(&action);
            let mut req = st.agent.post(&url);
            if let Some(ct) = &self.content_type {
                req = req.header("content-type", ct);
            }
            let mut resp = req.send_empty().map_err(|e| st.net_err("CREATE multipart", key, e))?;
            let status = resp.status().as_u16();
            let body = read_body(&mut resp).map_err(|e| st.net_err("CREATE multipart", key, e))?;
            if status != 200 {
                return Err(st.http_err("CREATE multipart", key, status, &body));
            }
            CreateMultipartUpload::parse_response(&String::from_utf8_lossy(&body))
                .map(|r| r.upload_id().to_string())
                .map_err(|e| Error::Network {
                    endpoint: st.endpoint.clone(),
                    key: key.to_string(),
                    op: "CREATE multipart",
                    msg: format!("unreadable answer: {e}"),
                })
        })?;
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    fn send_part(&mut self) -> Result<()> {
        let id = self.start()?;
        if self.etags.len() >= MAX_MULTIPART_PARTS {
            return Err(Error::Invalid(format!(
                "{} is too large for a multipart upload of {MAX_MULTIPART_PARTS} parts",
                self.key
            )));
        }
        let number = u16::try_from(self.etags.len() + 1).unwrap_or(u16::MAX);
        let (st, key, body) = (self.store, self.key.as_str(), &self.buf);
        let etag = st.retry(|| {
            let action = st.bucket.upload_part(Some(&st.creds), key, number, &id);
            let url = st.sign(&action);
            let mut resp = st
                .agent
                .put(&url)
                .config()
                .timeout_global(Some(st.upload_deadline(body.len())))
                .build()
                .send(&body[..])
                .map_err(|e| st.net_err("PUT part", key, e))?;
            let status = resp.status().as_u16();
            if !(200..300).contains(&status) {
                let b = read_capped(&mut resp, MAX_ERROR_BODY).unwrap_or_default();
                return Err(st.http_err("PUT part", key, status, &b));
            }
            header(&resp, "etag").ok_or_else(|| Error::Network {
                endpoint: st.endpoint.clone(),
                key: key.to_string(),
                op: "PUT part",
                msg: "the server returned no ETag for an uploaded part".into(),
            })
        })?;
        self.etags.push(etag);
        self.buf.clear();
        Ok(())
    }

    /// `UploadPartCopy` of `src`'s bytes `[start, end)` as the next part, conditional on the
    /// listed ETag. Its answer is an XML body holding the part's ETag (or, on S3, an error
    /// with status 200).
    fn copy_part(&mut self, src: &str, etag: Option<&str>, start: u64, end: u64) -> Result<()> {
        let id = self.start()?;
        if self.etags.len() >= MAX_MULTIPART_PARTS {
            return Err(Error::Invalid(format!(
                "{} is too large for a multipart upload of {MAX_MULTIPART_PARTS} parts",
                self.key
            )));
        }
        let number = u16::try_from(self.etags.len() + 1).unwrap_or(u16::MAX);
        let (st, key) = (self.store, self.key.as_str());
        let source = format!("/{}/{}", st.bucket.name(), encode_key(src));
        let range = format!("bytes={start}-{}", end - 1);
        // A refusal (4xx, 501, an error in a 200) is not retried: the caller falls back.
        let decide = |e: &Error| match e {
            Error::Http { status: 500 | 501, .. } => Next::Stop,
            e => transient(e),
        };
        let part_etag = st.retry_if(decide, || {
            let mut action = st.bucket.upload_part(Some(&st.creds), key, number, &id);
            let mut headers = vec![("x-amz-copy-source", source.clone()), ("x-amz-copy-source-range", range.clone())];
            if let Some(e) = etag {
                headers.push(("x-amz-copy-source-if-match", e.to_string()));
            }
            for (k, v) in &headers {
                action.headers_mut().insert(*k, v.clone());
            }
            let url = st.sign(&action);
            let mut req = st
                .agent
                .put(&url)
                .config()
                .timeout_global(Some(st.upload_deadline(usize::try_from(end - start).unwrap_or(usize::MAX))))
                .build();
            for (k, v) in &headers {
                req = req.header(*k, v);
            }
            let mut resp = req.send_empty().map_err(|e| st.net_err("COPY part", key, e))?;
            let status = resp.status().as_u16();
            let body = read_body(&mut resp).map_err(|e| st.net_err("COPY part", key, e))?;
            if !(200..300).contains(&status) {
                return Err(st.http_err("COPY part", key, status, &body));
            }
            let text = String::from_utf8_lossy(&body);
            match xml_tag(&text, "ETag") {
                Some(e) if !text.contains("<Error>") => Ok(e.replace("&quot;", "\"").replace("&#34;", "\"")),
                _ => Err(st.http_err("COPY part", key, 500, &body)),
            }
        })?;
        self.etags.push(part_etag);
        Ok(())
    }

    fn complete(&mut self, id: &str) -> Result<Option<String>> {
        let (st, key) = (self.store, self.key.as_str());
        st.retry(|| {
            let action =
                st.bucket.complete_multipart_upload(Some(&st.creds), key, id, self.etags.iter().map(String::as_str));
            let url = st.sign(&action);
            let body = action.body();
            let mut resp =
                st.agent.post(&url).send(body.as_bytes()).map_err(|e| st.net_err("COMPLETE multipart", key, e))?;
            let status = resp.status().as_u16();
            let answer = read_body(&mut resp).map_err(|e| st.net_err("COMPLETE multipart", key, e))?;
            if status != 200 {
                return Err(st.http_err("COMPLETE multipart", key, status, &answer));
            }
            // S3 may answer 200 and put an error in the body.
            let text = String::from_utf8_lossy(&answer);
            match CompleteMultipartUploadResponse::parse(&text) {
                Ok(r) => Ok(Some(r.etag().to_string())),
                Err(_) if text.contains("<Error>") => Err(st.http_err("COMPLETE multipart", key, 500, &answer)),
                Err(_) => Ok(None),
            }
        })
    }

    fn abort(&mut self) {
        if let Some(id) = self.upload_id.take() {
            let st = self.store;
            let action = st.bucket.abort_multipart_upload(Some(&st.creds), &self.key, &id);
            let url = st.sign(&action);
            let _ = st.agent.delete(&url).call();
        }
    }
}

impl Upload for S3Upload<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= MULTIPART_CHUNK {
            self.send_part()?;
        }
        Ok(())
    }

    /// Copies what can be copied (see `Upload::copy_from`): an object of at least
    /// [`COPY_MIN`] becomes parts of its own. Bytes waiting in the buffer go out first as a
    /// part; when they are fewer than [`COPY_MIN`] (small parts before this one), the
    /// object's first bytes top them up to [`COPY_MIN`] (a ranged GET) and the rest is
    /// copied, if the rest is large enough to be a part itself, else nothing is copied.
    fn copy_from(&mut self, src: &str, size: u64, etag: Option<&str>) -> Result<u64> {
        if self.copy_refused || size < COPY_MIN {
            return Ok(0);
        }
        let held = self.buf.len() as u64;
        let mut from = 0;
        if held > 0 && held < COPY_MIN {
            let need = COPY_MIN - held;
            if size - need < COPY_MIN {
                return Ok(0);
            }
            let head = self
                .store
                .get_range(src, 0, need)?
                .ok_or_else(|| Error::NotFound(format!("{src} disappeared from {}", self.store.describe())))?;
            if head.len() as u64 != need {
                return Err(Error::Invalid(format!(
                    "{src} in {}: asked for {need} bytes, got {}",
                    self.store.describe(),
                    head.len()
                )));
            }
            self.buf.extend_from_slice(&head);
            from = need;
        }
        if !self.buf.is_empty() {
            self.send_part()?;
        }
        while from < size {
            let mut to = size.min(from + COPY_MAX);
            if size - to > 0 && size - to < COPY_MIN {
                to = size - COPY_MIN;
            }
            match self.copy_part(src, etag, from, to) {
                Ok(()) => {
                    from = to;
                    self.copies += usize::from(to == size);
                }
                Err(Error::Http { .. } | Error::Protocol { .. }) => {
                    self.copy_refused = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(from)
    }

    fn store_copies(&self) -> usize {
        self.copies
    }

    fn finish(mut self: Box<Self>) -> Result<Option<String>> {
        let Some(id) = self.upload_id.clone() else {
            let body = std::mem::take(&mut self.buf);
            return self.store.put_with(&self.key, &body, &Cond::None, self.content_type.as_deref());
        };
        if !self.buf.is_empty() {
            self.send_part()?;
        }
        let etag = self.complete(&id)?;
        self.upload_id = None; // completed: nothing to abort on drop
        Ok(etag)
    }
}

impl Drop for S3Upload<'_> {
    fn drop(&mut self) {
        self.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(endpoint: &str, path_style: bool) -> S3Config {
        S3Config {
            endpoint: endpoint.into(),
            bucket: "tc-test".into(),
            region: "us-east-1".into(),
            access_key: "AKID".into(),
            secret_key: crate::config::Secret::new("s3cr3t"),
            session_token: Some(crate::config::Secret::new("tok3n")),
            path_style,
            ca_file: None,
        }
    }

    #[test]
    fn addressing_styles_prefix_and_token_in_presigned_urls() {
        let s = S3Store::new(&cfg("https://s3.example.com", false), Limits::MANUAL).unwrap();
        let url = s.sign(&s.bucket.put_object(Some(&s.creds), "p/sessions/claude-code/x/meta.json"));
        assert!(url.starts_with("https://tc-test.s3.example.com/p/sessions/claude-code/x/meta.json?"), "{url}");
        assert!(url.contains("X-Amz-Security-Token=tok3n"), "{url}");
        assert!(!url.contains("s3cr3t"), "the secret never appears in a URL");
        // HF-style endpoint with a path prefix, path style.
        let s = S3Store::new(&cfg("https://s3.hf.co/my-ns", true), Limits::MANUAL).unwrap();
        let url = s.sign(&s.bucket.get_object(Some(&s.creds), "k"));
        assert!(url.starts_with("https://s3.hf.co/my-ns/tc-test/k?"), "{url}");
        assert!(url.contains("us-east-1"), "{url}");
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn endpoint_userinfo_is_hidden() {
        assert_eq!(display_endpoint("https://u:p@host/x"), "https://host/x");
        assert_eq!(display_endpoint("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
    }

    #[test]
    fn no_such_bucket_is_its_own_error_not_a_missing_object() {
        let s = S3Store::new(&cfg("http://127.0.0.1:9", true), Limits::MANUAL).unwrap();
        let body = b"<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        let e = s.http_err("GET", "p/k", 404, body);
        assert!(matches!(&e, Error::NoSuchBucket { bucket, .. } if bucket == "tc-test"), "{e:?}");
        assert!(!e.is_not_found() && !e.is_transient());
        let shown = e.to_string();
        assert!(shown.contains("bucket tc-test does not exist") && shown.contains("init --create-bucket"), "{shown}");
        let body = b"<Error><Code>NoSuchKey</Code></Error>";
        assert!(s.http_err("GET", "p/k", 404, body).is_not_found());
    }

    #[test]
    fn the_caller_decides_whether_to_retry() {
        let limits = Limits {
            connect: Duration::from_millis(10),
            response: Duration::from_millis(10),
            retry_budget: Duration::from_secs(2),
        };
        let s = S3Store::new(&cfg("http://127.0.0.1:9", true), limits).unwrap();
        let net = || Error::Network { endpoint: "e".into(), key: "k".into(), op: "GET", msg: "reset".into() };
        let mut tries = 0;
        let r: Result<()> = s.retry(|| {
            tries += 1;
            Err(if tries < 3 { net() } else { Error::Invalid("stop".into()) })
        });
        assert!(matches!(r, Err(Error::Invalid(_))));
        assert_eq!(tries, 3, "transient errors are retried, others end the loop");
        let mut tries = 0;
        let r: Result<()> = s.retry_if(
            |_| Next::Stop,
            || {
                tries += 1;
                Err(net())
            },
        );
        assert!(matches!(r, Err(Error::Network { .. })), "the error stays what happened");
        assert_eq!(tries, 1);
    }

    /// A server that answers every GET with a 100-byte body but sends 10 bytes and hangs up.
    #[test]
    fn a_streamed_download_that_drips_is_cut_off() {
        use std::io::BufRead;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut r = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut w = stream;
                let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n");
                // One byte every 200 ms: no single read waits long, the whole never ends.
                for _ in 0..1000 {
                    if w.write_all(b"x").is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        });
        let limits = Limits {
            connect: Duration::from_millis(500),
            response: Duration::from_millis(1000),
            retry_budget: Duration::from_millis(100),
        };
        let s = S3Store::new(&cfg(&format!("http://{addr}"), true), limits).unwrap();
        let started = Instant::now();
        let e = s.get_to("p/k", &mut Vec::new()).unwrap_err();
        assert!(matches!(e, Error::Protocol { .. }) && e.to_string().contains("too slow"), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    }

    #[test]
    fn get_to_does_not_retry_once_bytes_went_out() {
        use std::io::BufRead;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = conns.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut r = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut w = stream;
                let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789");
            }
        });
        let s = S3Store::new(&cfg(&format!("http://{addr}"), true), Limits::MANUAL).unwrap();
        let mut out = Vec::new();
        let e = s.get_to("p/k", &mut out).unwrap_err();
        assert!(matches!(e, Error::Network { .. }), "{e:?}");
        assert!(e.to_string().contains("after 10 bytes"), "{e}");
        assert_eq!(out, b"0123456789");
        assert_eq!(conns.load(std::sync::atomic::Ordering::SeqCst), 1, "not retried");
    }
}
