//! Signed (SigV4 presigned-URL) requests for harness self-tests and experiments,
//! built with rusty-s3 (already a dependency of the crate) and sent with the std-only
//! client in [`super::http`]. Product tests should read back through `Env::get` /
//! `Env::list_keys` instead, which do not sign at all.

use std::net::SocketAddr;
use std::time::Duration;

use rusty_s3::actions::{GetObject, ListObjectsV2, PutObject};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::http;
use super::servers::{access_key, endpoint_addr, secret_key, BUCKET, REGION};

/// A presigned URL for `method` (`GET`, `PUT` or `LIST`, the latter a ListObjectsV2
/// with `key` as prefix) on bucket `tc-test` at `endpoint` (which may carry a path
/// prefix such as `http://127.0.0.1:PORT/ns`), signed with the test credentials.
pub fn presign(endpoint: &str, method: &str, key: &str) -> String {
    let url = endpoint.parse().expect("endpoint URL");
    let bucket = Bucket::new(url, UrlStyle::Path, BUCKET, REGION).expect("bucket");
    let creds = Credentials::new(access_key(), secret_key());
    let ttl = Duration::from_secs(600);
    match method {
        "GET" => GetObject::new(&bucket, Some(&creds), key).sign(ttl),
        "PUT" => PutObject::new(&bucket, Some(&creds), key).sign(ttl),
        "LIST" => {
            let mut list = ListObjectsV2::new(&bucket, Some(&creds));
            list.with_prefix(key);
            list.sign(ttl)
        }
        other => panic!("presign: unsupported method {other}"),
    }
    .to_string()
}

/// Send a presigned request: connects to the URL's host and port, or to `via` if
/// given. `method` as for [`presign`].
pub fn signed_request(endpoint: &str, method: &str, key: &str, body: &[u8], via: Option<SocketAddr>) -> http::Response {
    let url = presign(endpoint, method, key);
    let after_scheme = url.strip_prefix("http://").expect("http URL");
    let target = &after_scheme[after_scheme.find('/').unwrap_or(after_scheme.len())..];
    let addr = via.unwrap_or_else(|| endpoint_addr(endpoint));
    let http_method = if method == "LIST" { "GET" } else { method };
    http::request(addr, http_method, target, &[], body, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}
