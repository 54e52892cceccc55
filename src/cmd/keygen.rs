//! `tracecraft-hook keygen`: make the age identity that client-side encryption needs (the
//! file `age-keygen` would write, mode 0600) and print its recipient and the config to add.
//! It never overwrites a key: losing one makes every session sealed for it unreadable.

use std::path::PathBuf;

use clap::Args;

use super::emit;
use crate::base::age::Identity;
use crate::base::error::{Error, Result};
use crate::base::fsutil::{atomic_write, ensure_private_dir};

/// Create an age identity for client-side encryption and print its recipient.
///
/// Writes `AGE-SECRET-KEY-1...` (the age-keygen format; `age -d -i FILE` reads it) to
/// --output, else TRACECRAFT_AGE_IDENTITY, else ~/.tracecraft/age.key, mode 0600. An existing
/// file is kept and its recipient printed. Then add
/// `"encrypt": {"recipients": ["age1..."]}` to the config: sessions are encrypted before
/// upload, and reading them back (show, list, stats, restore, compact) needs this file.
/// Keep a copy somewhere safe: without it encrypted sessions cannot be read.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the identity.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Run `keygen`.
pub fn run(a: &KeygenArgs) -> Result<()> {
    let path = match &a.output {
        Some(p) => p.clone(),
        None => crate::config::default_identity_file(&|k| std::env::var(k).ok()),
    };
    let (id, verb) = match std::fs::read_to_string(&path) {
        Ok(text) => {
            let ids = crate::base::age::parse_identities(&text)
                .map_err(|e| Error::Crypt(format!("{} exists but is not an age identity file: {e}", path.display())))?;
            (ids.into_iter().next().expect("at least one identity"), "kept the existing identity")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = Identity::generate().map_err(|e| Error::Crypt(e.to_string()))?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                ensure_private_dir(dir)?;
            }
            let text = format!(
                "# created: {}\n# public key: {}\n{}\n",
                crate::base::util::now_rfc3339(),
                id.recipient(),
                id.to_secret_string()
            );
            atomic_write(&path, text.as_bytes(), 0o600)?;
            (id, "wrote a new identity")
        }
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let r = id.recipient();
    emit(&format!(
        "{verb}: {} (keep a copy somewhere safe: encrypted sessions cannot be read without it)",
        path.display()
    ))?;
    emit(&format!("recipient: {r}"))?;
    emit(&format!(
        "add to the config: \"encrypt\": {{\"recipients\": [\"{r}\"], \"identity\": \"{}\"}}",
        path.display()
    ))
}
