//! Where sessions go: the tracecraft config file (`TRACECRAFT_CONFIG`, else `.tracecraft.json`
//! in the project directory, else `~/.tracecraft/config.json`), environment overrides, and
//! the embedded local store when nothing is configured. Precedence: flag, environment,
//! file, default. Credentials are wrapped in [`Secret`] so they never print.
//!
//! Trust: `~/.tracecraft/config.json` and a `TRACECRAFT_CONFIG` file are the user's own
//! (their path comes from the user's home or environment). Any other file, i.e. a
//! project's `.tracecraft.json`, is honoured only when its exact content was approved
//! (`trust`); until then it is ignored as a whole, every key included (endpoint, bucket,
//! credentials, redact, path, redact_patterns, ca_file, addressing, and keys added
//! later), and the session goes where the user's own configuration says. Credentials from
//! the environment are therefore only ever sent to an endpoint from a trusted source.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::base::error::{Error, Result};
use crate::base::paths;
use crate::base::redact::ExtraPattern;
use crate::base::util::{hex, truncate_for_display};

/// A credential. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a credential.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The credential itself; only the signer should call this.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// An access key id as people may see it: the first 4 and last 4 characters of a long
/// one (`AKIA…XYZW`, as AWS keys are 20), the first 4 of a shorter one, at most a quarter
/// of a short one. Never the whole id.
pub fn mask_key_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    let head = |n: usize| chars.iter().take(n).collect::<String>();
    let s: String = if chars.len() >= 16 {
        format!("{}…{}", head(4), chars[chars.len() - 4..].iter().collect::<String>())
    } else if chars.len() >= 8 {
        format!("{}…", head(4))
    } else {
        format!("{}…", head(chars.len() / 4))
    };
    crate::base::printable::escape(&s).into_owned()
}

/// An S3-compatible destination.
#[derive(Debug, Clone)]
pub struct S3Config {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: Secret,
    pub session_token: Option<Secret>,
    /// Path-style addressing (`endpoint/bucket/key`); virtual-host style when false.
    pub path_style: bool,
    /// Extra CA certificates (PEM) to trust for https.
    pub ca_file: Option<PathBuf>,
}

/// Which store a session goes to.
#[derive(Debug, Clone)]
pub enum Backend {
    S3(S3Config),
    /// The embedded local directory store (same layout, keys become paths under `root`).
    Local {
        root: PathBuf,
    },
}

/// The resolved configuration for one project directory.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from, if any.
    pub source: Option<PathBuf>,
    pub backend: Backend,
    pub project: String,
    pub agent_id: Option<String>,
    pub redact: bool,
    pub extra_patterns: Vec<ExtraPattern>,
    /// Problems worth a log line that do not stop mirroring (e.g. world-readable file).
    pub warnings: Vec<String>,
    /// A project config file that was ignored because it is not approved.
    pub untrusted: Option<Untrusted>,
    /// Client-side encryption (`"encrypt"`; see `session::seal`).
    pub encrypt: Encrypt,
    /// `"pricing"`: USD per million tokens by model, over the built-in table
    /// (`session::pricing`): `{"model": {"input": 3, "output": 15, "cache_write": 3.75,
    /// "cache_read": 0.3}}`.
    pub pricing: std::collections::BTreeMap<String, Price>,
}

/// USD per million tokens of one model (`session::pricing`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cache_write: f64,
    pub cache_read: f64,
}

/// A config file that needs approval and does not have it (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted {
    pub path: PathBuf,
    /// It was approved once, and changed since.
    pub changed: bool,
}

impl Untrusted {
    /// The one line that says so and how to approve it.
    pub fn message(&self) -> String {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        format!(
            "ignoring {}: {} (it decides where sessions go and whether they are redacted); \
             review it, then approve it with: tracecraft-hook trust {}",
            self.path.display(),
            if self.changed { "it changed since you approved it" } else { "not approved" },
            shell_quote(&dir.to_string_lossy())
        )
    }
}

/// Quote a path for a command line a person may paste.
fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `"encrypt": {"recipients": ["age1..."], "identity": "~/.tracecraft/age.key"}`: seal what
/// is uploaded for these recipients (none: plain), open sealed objects with this identity
/// file (`TRACECRAFT_AGE_IDENTITY` first; default `~/.tracecraft/age.key`).
#[derive(Debug, Clone, Default)]
pub struct Encrypt {
    pub recipients: Vec<crate::base::age::Recipient>,
    pub identity: PathBuf,
}

/// The identity file when the config names none: `TRACECRAFT_AGE_IDENTITY`, else
/// `~/.tracecraft/age.key`.
pub fn default_identity_file(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    match env("TRACECRAFT_AGE_IDENTITY").filter(|v| !v.is_empty()) {
        Some(p) => expand_home(&p, env),
        None => expand_home("~/.tracecraft/age.key", env),
    }
}

fn expand_home(p: &str, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    match (p.strip_prefix("~/"), env("HOME").filter(|h| !h.is_empty())) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// `"encrypt"`: recipients are checked here (a typo fails at load, naming the file).
fn parse_encrypt(path: Option<&Path>, v: Option<&Value>, env: &dyn Fn(&str) -> Option<String>) -> Result<Encrypt> {
    let mut out = Encrypt { recipients: Vec::new(), identity: default_identity_file(env) };
    let shape = || Error::config(path, "\"encrypt\" must be {\"recipients\": [\"age1...\"], \"identity\": \"PATH\"}");
    let obj = match v {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(shape()),
    };
    let list: Vec<&Value> = match obj.get("recipients") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::String(_)) => vec![s],
        Some(_) => return Err(shape()),
    };
    for r in list {
        let s = r.as_str().ok_or_else(shape)?;
        out.recipients.push(
            crate::base::age::Recipient::parse(s)
                .map_err(|e| Error::config(path, format!("\"encrypt\".\"recipients\": {e}")))?,
        );
    }
    if out.recipients.is_empty() {
        return Err(Error::config(
            path,
            "\"encrypt\" needs at least one recipient (age1...; `tracecraft-hook keygen` makes one)",
        ));
    }
    match obj.get("identity") {
        Some(Value::String(p)) if !p.is_empty() && env("TRACECRAFT_AGE_IDENTITY").is_none_or(|v| v.is_empty()) => {
            out.identity = expand_home(p, env)
        }
        None | Some(Value::Null | Value::String(_)) => {}
        Some(_) => return Err(shape()),
    }
    Ok(out)
}

/// Project name used by the embedded store when none is configured.
pub const DEFAULT_PROJECT: &str = "default";

impl Config {
    /// Resolve the configuration for a project directory. A project file that is not
    /// approved is skipped (the user's global config or the embedded store applies) and
    /// reported in `untrusted`; the hook logs it, [`Config::load_manual`] refuses it.
    pub fn load(project_dir: &Path) -> Result<Config> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut file = config_file(project_dir)?;
        let mut untrusted = None;
        let mut bytes = None;
        if let Some(p) = &file {
            let read = std::fs::read(p);
            if needs_approval(p)? {
                // An unreadable project file is not approved either (and cannot stop mirroring).
                let st =
                    read.as_ref().map_or(crate::base::trust::Status::Unapproved, |b| crate::base::trust::status(p, b));
                match (st, read) {
                    (crate::base::trust::Status::Approved, Ok(b)) => bytes = Some(b),
                    (st, _) => {
                        untrusted =
                            Some(Untrusted { path: p.clone(), changed: st == crate::base::trust::Status::Changed });
                        file = global_file()?;
                    }
                }
            } else {
                bytes = Some(read.map_err(|e| Error::io("read", p, e))?);
            }
        }
        if let (Some(p), None) = (&file, &bytes) {
            bytes = Some(std::fs::read(p).map_err(|e| Error::io("read", p, e))?);
        }
        let obj = match (&file, &bytes) {
            (Some(p), Some(b)) => Some(parse_object(p, b)?),
            _ => None,
        };
        let mut cfg = from_parts(file, obj.as_ref(), &env)?;
        cfg.untrusted = untrusted;
        Ok(cfg)
    }

    /// [`Config::load`] for commands a person runs: an unapproved project file is said in
    /// one line on stderr when the user's own config applies instead, and is an error
    /// (naming the file and the command to approve it) when it is the only config. A file
    /// that would not even parse says that instead.
    pub fn load_manual(project_dir: &Path) -> Result<Config> {
        let cfg = Config::load(project_dir)?;
        let Some(u) = &cfg.untrusted else { return Ok(cfg) };
        if cfg.source.is_some() || env_configures_destination() {
            eprintln!("warning: {}", crate::base::printable::escape(&u.message()));
            return Ok(cfg);
        }
        // The only config: it is what the person meant. Broken? Say what is wrong with it
        // (parsing and checking it sends nothing anywhere).
        if let Ok(b) = std::fs::read(&u.path) {
            let obj = parse_object(&u.path, &b)?;
            from_parts(Some(u.path.clone()), Some(&obj), &|k| std::env::var(k).ok().filter(|v| !v.is_empty()))?;
        }
        Err(Error::config(None, u.message()))
    }

    /// A short, stable id of the destination (backend + endpoint + bucket + project):
    /// local state is bound to it, so switching destinations never skips data.
    pub fn dest_id(&self) -> String {
        self.dest_id_for(&self.project)
    }

    /// [`Config::dest_id`] of another project in the same store.
    pub fn dest_id_for(&self, project: &str) -> String {
        let desc = match &self.backend {
            Backend::S3(s) => format!("s3\n{}\n{}\n{}", s.endpoint.trim_end_matches('/'), s.bucket, project),
            Backend::Local { root } => format!("local\n{}\n{}", root.display(), project),
        };
        hex(&Sha256::digest(desc.as_bytes())[..8])
    }

    /// Human description of the destination, for messages (never credentials).
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::S3(s) => {
                format!("s3 {} bucket {} project {}", display_endpoint(&s.endpoint), s.bucket, self.project)
            }
            Backend::Local { root } => format!("local store {} project {}", root.display(), self.project),
        }
    }
}

/// Which config file applies to `project_dir`, if any.
pub fn config_file(project_dir: &Path) -> Result<Option<PathBuf>> {
    if let Some(p) = std::env::var_os("TRACECRAFT_CONFIG").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            return Err(Error::config(Some(&p), "TRACECRAFT_CONFIG points at a file that does not exist"));
        }
        return Ok(Some(p));
    }
    let local = project_dir.join(".tracecraft.json");
    if local.is_file() {
        return Ok(Some(local));
    }
    global_file()
}

/// `~/.tracecraft/config.json` when it exists.
pub fn global_file() -> Result<Option<PathBuf>> {
    let global = paths::tracecraft_dir()?.join("config.json");
    Ok(global.is_file().then_some(global))
}

/// Whether `file` (as [`config_file`] found it) needs the user's approval: everything but
/// `~/.tracecraft/config.json` and the `TRACECRAFT_CONFIG` file (named by the user's own
/// environment, so it is theirs, wherever it lives).
pub fn needs_approval(file: &Path) -> Result<bool> {
    if std::env::var_os("TRACECRAFT_CONFIG").is_some_and(|v| !v.is_empty() && Path::new(&v) == file) {
        return Ok(false);
    }
    Ok(file != paths::tracecraft_dir()?.join("config.json"))
}

/// Whether the environment alone names an S3 destination (then an ignored project file
/// is not the only config).
fn env_configures_destination() -> bool {
    std::env::var_os("TRACECRAFT_ENDPOINT").is_some_and(|v| !v.is_empty())
}

/// Parse a config file's bytes: a JSON object, or an error naming the file.
pub fn parse_object(path: &Path, bytes: &[u8]) -> Result<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::config(Some(path), "expected a JSON object")),
        Err(e) => Err(Error::config(Some(path), format!("not valid JSON: {e}"))),
    }
}

/// Build a config from an optional file object and an environment lookup (testable).
pub fn from_parts(
    file: Option<PathBuf>,
    obj: Option<&Map<String, Value>>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config> {
    let path = file.as_deref();
    let empty = Map::new();
    let obj = obj.unwrap_or(&empty);
    let get = |k: &str| -> Result<Option<String>> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Error::config(path, format!("\"{k}\" must be a string"))),
        }
    };
    let get_bool = |k: &str| -> Result<Option<bool>> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Error::config(path, format!("\"{k}\" must be true or false"))),
        }
    };
    let pick = |env_key: &str, file_key: &str| -> Result<Option<String>> {
        match env(env_key) {
            Some(v) => Ok(Some(v)),
            None => get(file_key),
        }
    };

    let mut warnings = Vec::new();
    let backend_name = get("backend")?.unwrap_or_else(|| "s3".into());
    let endpoint = pick("TRACECRAFT_ENDPOINT", "endpoint")?;
    let bucket = pick("TRACECRAFT_BUCKET", "bucket")?;
    let project = pick("TRACECRAFT_PROJECT", "project")?;
    let agent_id = pick("TRACECRAFT_AGENT", "agent_id")?;

    let backend = match backend_name.as_str() {
        "local" => {
            let root = match get("path")? {
                Some(p) => PathBuf::from(p),
                None => paths::tracecraft_dir()?.join("store"),
            };
            Backend::Local { root }
        }
        "s3" if endpoint.is_none() && bucket.is_none() && obj.is_empty() => {
            Backend::Local { root: paths::tracecraft_dir()?.join("store") }
        }
        "s3" => {
            let endpoint = endpoint.ok_or_else(|| Error::config(path, "missing \"endpoint\" (or TRACECRAFT_ENDPOINT)"))?;
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(Error::config(path, format!("endpoint {endpoint:?} must start with http:// or https://")));
            }
            let bucket = bucket.ok_or_else(|| Error::config(path, "missing \"bucket\" (or TRACECRAFT_BUCKET)"))?;
            let access_key = pick("AWS_ACCESS_KEY_ID", "access_key")?
                .ok_or_else(|| Error::config(path, "missing \"access_key\" (or AWS_ACCESS_KEY_ID)"))?;
            let secret_key = pick("AWS_SECRET_ACCESS_KEY", "secret_key")?
                .ok_or_else(|| Error::config(path, "missing \"secret_key\" (or AWS_SECRET_ACCESS_KEY)"))?;
            let session_token = pick("AWS_SESSION_TOKEN", "session_token")?;
            let region = match env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
                Some(r) => r,
                None => get("region")?.unwrap_or_else(|| "us-east-1".into()),
            };
            let path_style = match get("addressing_style")?.as_deref() {
                None | Some("path") => get_bool("path_style")?.unwrap_or(true),
                Some("virtual") => false,
                Some(other) => {
                    return Err(Error::config(path, format!("\"addressing_style\" must be \"path\" or \"virtual\", not {other:?}")))
                }
            };
            let ca_file = get("ca_file")?.map(PathBuf::from);
            if let Some(p) = path {
                if let Ok(md) = std::fs::metadata(p) {
                    if md.permissions().mode() & 0o077 != 0 {
                        warnings.push(format!(
                            "{} holds credentials but is readable by others (mode {:o}); run: chmod 600 {}",
                            p.display(),
                            md.permissions().mode() & 0o777,
                            p.display()
                        ));
                    }
                }
            }
            Backend::S3(S3Config {
                endpoint,
                bucket,
                region,
                access_key,
                secret_key: Secret::new(secret_key),
                session_token: session_token.map(Secret::new),
                path_style,
                ca_file,
            })
        }
        "hf" => {
            return Err(Error::config(
                path,
                "backend \"hf\" (Hugging Face API) is not supported by tracecraft-hook; use the S3 gateway: \
                 \"backend\": \"s3\", \"endpoint\": \"https://s3.hf.co/<namespace>\", \"region\": \"us-east-1\" with HFAK... keys",
            ))
        }
        other => return Err(Error::config(path, format!("unknown backend {other:?} (expected \"s3\" or \"local\")"))),
    };

    let project = match (&backend, project) {
        (_, Some(p)) => p,
        (Backend::Local { .. }, None) => DEFAULT_PROJECT.to_string(),
        (Backend::S3(_), None) => return Err(Error::config(path, "missing \"project\" (or TRACECRAFT_PROJECT)")),
    };
    validate_project(&project).map_err(|e| Error::config(path, e.to_string()))?;

    let redact = match env("TRACECRAFT_REDACT").as_deref() {
        Some("0" | "false" | "no" | "off") => false,
        Some(_) => true,
        None => get_bool("redact")?.unwrap_or(true),
    };
    let extra_patterns = parse_patterns(path, obj.get("redact_patterns"))?;
    let encrypt = parse_encrypt(path, obj.get("encrypt"), env)?;
    let pricing = parse_pricing(path, obj.get("pricing"))?;

    Ok(Config {
        source: file,
        backend,
        project,
        agent_id,
        redact,
        extra_patterns,
        warnings,
        untrusted: None,
        encrypt,
        pricing,
    })
}

/// `"pricing"`: `{model: {input, output, cache_write, cache_read}}`, USD per million tokens,
/// every field a non-negative number.
fn parse_pricing(path: Option<&Path>, v: Option<&Value>) -> Result<std::collections::BTreeMap<String, Price>> {
    let bad = |m: &str, why: String| {
        Error::config(
            path,
            format!(
                "\"pricing\".{m:?}: {why} (expected {{\"input\": 3, \"output\": 15, \"cache_write\": 3.75, \"cache_read\": 0.3}}, USD per million tokens)"
            ),
        )
    };
    match v {
        None | Some(Value::Null) => Ok(Default::default()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(model, p)| {
                let price: Price = serde_json::from_value(p.clone()).map_err(|e| bad(model, e.to_string()))?;
                let fields = [price.input, price.output, price.cache_write, price.cache_read];
                if fields.iter().any(|x| !x.is_finite() || *x < 0.0) {
                    return Err(bad(model, "prices must be non-negative numbers".into()));
                }
                Ok((model.clone(), price))
            })
            .collect(),
        Some(_) => {
            Err(Error::config(path, "\"pricing\" must be an object {model: {input, output, cache_write, cache_read}}"))
        }
    }
}

/// `"redact_patterns"`: either `{"name": "regex", ...}` or `["regex", ...]` (named `custom`).
fn parse_patterns(path: Option<&Path>, v: Option<&Value>) -> Result<Vec<ExtraPattern>> {
    let bad = || Error::config(path, "\"redact_patterns\" must be an object {name: regex} or a list of regex strings");
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(name, re)| match re {
                Value::String(re) => Ok(ExtraPattern { name: name.clone(), regex: re.clone() }),
                _ => Err(bad()),
            })
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|re| match re {
                Value::String(re) => Ok(ExtraPattern { name: "custom".into(), regex: re.clone() }),
                _ => Err(bad()),
            })
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// Drop any `user:password@` from an endpoint before it appears in a message.
pub fn display_endpoint(endpoint: &str) -> String {
    match (endpoint.find("://"), endpoint.find('@')) {
        (Some(s), Some(at)) if at > s && !endpoint[s + 3..at].contains('/') => {
            format!("{}{}", &endpoint[..s + 3], &endpoint[at + 1..])
        }
        _ => endpoint.to_string(),
    }
}

/// Check a project name: non-empty path segments of `[A-Za-z0-9._-]`, no `.`/`..` segments.
pub fn validate_project(project: &str) -> Result<()> {
    let ok = !project.is_empty()
        && project.len() <= 256
        && project.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid project name {:?}: use letters, digits, '.', '_', '-' (and '/' between segments)",
            truncate_for_display(project)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projects() {
        validate_project("team/proj-1").unwrap();
        for bad in ["", "/x", "x/", "a/../b", "a//b", "a b"] {
            assert!(validate_project(bad).is_err(), "{bad:?}");
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }
    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn tracecraft_file_shape() {
        let o = obj(json!({"backend":"s3","endpoint":"http://127.0.0.1:9000","bucket":"b","project":"p",
            "agent_id":"me","access_key":"AK","secret_key":"SK"}));
        let c = from_parts(None, Some(&o), &no_env).unwrap();
        let Backend::S3(s) = &c.backend else { panic!() };
        assert_eq!((s.bucket.as_str(), c.project.as_str(), s.region.as_str()), ("b", "p", "us-east-1"));
        assert!(s.path_style);
        assert!(c.redact);
        assert!(!format!("{c:?}").contains("SK"), "secret must not appear in Debug");
    }

    #[test]
    fn key_ids_are_masked() {
        assert_eq!(mask_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(mask_key_id("tc-access1"), "tc-a…");
        assert_eq!(mask_key_id("AKID"), "A…");
        assert_eq!(mask_key_id(""), "…");
        assert_eq!(mask_key_id("AK\u{1b}IDxxxxxxxxxxxxxxx"), "AK\\eI…xxxx");
    }

    #[test]
    fn env_overrides_file() {
        let o = obj(json!({"endpoint":"http://a","bucket":"b","project":"p","access_key":"AK","secret_key":"SK"}));
        let env = |k: &str| match k {
            "TRACECRAFT_BUCKET" => Some("other".to_string()),
            "AWS_REGION" => Some("eu-west-1".to_string()),
            _ => None,
        };
        let c = from_parts(None, Some(&o), &env).unwrap();
        let Backend::S3(s) = &c.backend else { panic!() };
        assert_eq!((s.bucket.as_str(), s.region.as_str()), ("other", "eu-west-1"));
    }

    #[test]
    fn no_config_means_local_store() {
        let c = from_parts(None, None, &no_env).unwrap();
        assert!(matches!(c.backend, Backend::Local { .. }));
        assert_eq!(c.project, "default");
    }

    #[test]
    fn errors_name_the_field_and_file() {
        let p = PathBuf::from("/x/.tracecraft.json");
        let o = obj(json!({"endpoint":"http://a","bucket":7,"project":"p"}));
        let e = from_parts(Some(p.clone()), Some(&o), &no_env).unwrap_err().to_string();
        assert!(e.contains("/x/.tracecraft.json") && e.contains("\"bucket\" must be a string"), "{e}");
        let o = obj(json!({"endpoint":"http://a","bucket":"b","project":"p","access_key":"a"}));
        let e = from_parts(Some(p), Some(&o), &no_env).unwrap_err().to_string();
        assert!(e.contains("secret_key"), "{e}");
    }

    #[test]
    fn dest_id_changes_with_bucket_or_project() {
        let mk = |b: &str, p: &str| {
            let o = obj(json!({"endpoint":"http://a","bucket":b,"project":p,"access_key":"a","secret_key":"s"}));
            from_parts(None, Some(&o), &no_env).unwrap().dest_id()
        };
        assert_eq!(mk("b", "p"), mk("b", "p"));
        assert_ne!(mk("b", "p"), mk("b2", "p"));
        assert_ne!(mk("b", "p"), mk("b", "p2"));
    }

    #[test]
    fn encrypt_recipients_identity_and_env() {
        let id = crate::base::age::Identity::generate().unwrap();
        let r = id.recipient().to_string();
        let env = |k: &str| (k == "HOME").then(|| "/home/u".to_string());
        let o = obj(json!({"backend":"local","encrypt":{"recipients":[r.clone()],"identity":"~/keys/me.txt"}}));
        let c = from_parts(None, Some(&o), &env).unwrap();
        assert_eq!((c.encrypt.recipients.len(), c.encrypt.identity.clone()), (1, PathBuf::from("/home/u/keys/me.txt")));
        let env2 = |k: &str| match k {
            "HOME" => Some("/home/u".to_string()),
            "TRACECRAFT_AGE_IDENTITY" => Some("/k/id".to_string()),
            _ => None,
        };
        assert_eq!(from_parts(None, Some(&o), &env2).unwrap().encrypt.identity, PathBuf::from("/k/id"));
        let plain = from_parts(None, None, &env).unwrap();
        assert!(plain.encrypt.recipients.is_empty());
        assert_eq!(plain.encrypt.identity, PathBuf::from("/home/u/.tracecraft/age.key"));
        let p = PathBuf::from("/x/.tracecraft.json");
        let bad = obj(json!({"backend":"local","encrypt":{"recipients":["age1nope"]}}));
        let e = from_parts(Some(p.clone()), Some(&bad), &env).unwrap_err().to_string();
        assert!(e.contains("/x/.tracecraft.json") && e.contains("recipients"), "{e}");
        let none = obj(json!({"backend":"local","encrypt":{"recipients":[]}}));
        assert!(from_parts(Some(p), Some(&none), &env).unwrap_err().to_string().contains("at least one recipient"));
    }

    #[test]
    fn extra_patterns_both_shapes() {
        let o = obj(json!({"redact_patterns": {"ticket": "TICK-[0-9]+"}}));
        let c = from_parts(None, Some(&o), &no_env);
        // an object with only redact_patterns is an s3 config without endpoint: error names endpoint
        assert!(c.unwrap_err().to_string().contains("endpoint"));
        let o = obj(json!({"backend":"local","redact_patterns": ["TICK-[0-9]+"], "redact": false}));
        let c = from_parts(None, Some(&o), &no_env).unwrap();
        assert_eq!(c.extra_patterns, vec![ExtraPattern { name: "custom".into(), regex: "TICK-[0-9]+".into() }]);
        assert!(!c.redact);
    }
}
