//! `trust` / `untrust`: approve (or withdraw the approval of) a project's config file, so
//! the hook honours it. See `crate::base::trust` for why a project file needs approval.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{emit, project_dir};
use crate::base::error::{Error, Result};
use crate::base::trust::{self, Status};
use crate::base::util::sha256_hex;
use crate::config::{self, from_parts, needs_approval, parse_object};

/// Approve a project's config file (.tracecraft.json) so the hook honours it.
///
/// A config file outside ~/.tracecraft decides where your sessions go and whether they are
/// redacted, and a cloned repository can ship one; the hook ignores it until you approve
/// its exact content. This records the file's path and sha256 in ~/.tracecraft/trusted.json;
/// a later change needs a new approval. Check the destination this prints before you approve.
/// `init` approves the file it writes. ~/.tracecraft/config.json and a TRACECRAFT_CONFIG file
/// are yours and need no approval.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// The project directory holding .tracecraft.json, or the config file itself
    /// [default: current directory].
    #[arg(value_name = "DIR|FILE")]
    pub target: Option<PathBuf>,
    /// List the approved files (and whether each still matches its approval).
    #[arg(long, conflicts_with = "target")]
    pub list: bool,
}

/// Withdraw the approval of a project's config file; the hook ignores it again.
#[derive(Debug, Args)]
pub struct UntrustArgs {
    /// The project directory holding .tracecraft.json, or the config file itself
    /// [default: current directory].
    #[arg(value_name = "DIR|FILE")]
    pub target: Option<PathBuf>,
}

/// `DIR` -> `DIR/.tracecraft.json`; a file stays itself; made absolute.
fn config_path(target: Option<&Path>) -> Result<PathBuf> {
    let p = project_dir(target)?;
    Ok(if p.is_dir() { p.join(".tracecraft.json") } else { p })
}

/// Run `trust`.
pub fn trust(a: &TrustArgs) -> Result<()> {
    if a.list {
        return list();
    }
    let file = config_path(a.target.as_deref())?;
    let bytes = std::fs::read(&file).map_err(|e| Error::io("read", &file, e))?;
    if !needs_approval(&file)? {
        return emit(&crate::base::printable::escape(&format!(
            "{} is your own config (~/.tracecraft/config.json or TRACECRAFT_CONFIG): always honoured",
            file.display()
        )));
    }
    // Refuse what would not work anyway, and show what is being approved.
    let obj = parse_object(&file, &bytes)?;
    let cfg = from_parts(Some(file.clone()), Some(&obj), &|_| None)?;
    let key = trust::approve(&file, &bytes)?;
    emit(&crate::base::printable::escape(&format!(
        "approved {key} (sha256 {}): sessions in this project go to {}, redaction {}",
        &sha256_hex(&bytes)[..12],
        cfg.describe(),
        if cfg.redact { "on" } else { "OFF" }
    )))
}

/// Run `untrust`.
pub fn untrust(a: &UntrustArgs) -> Result<()> {
    let file = config_path(a.target.as_deref())?;
    if trust::revoke(&file)? {
        emit(&crate::base::printable::escape(&format!(
            "withdrew the approval of {}; the hook ignores it from now on",
            trust::key_of(&file)
        )))
    } else {
        Err(Error::NotFound(
            crate::base::printable::escape(&format!("{} was not approved", file.display())).into_owned(),
        ))
    }
}

fn list() -> Result<()> {
    let t = trust::load()?;
    if t.files.is_empty() {
        return emit("no approved config files");
    }
    for (path, e) in &t.files {
        let state = match std::fs::read(path) {
            Ok(b) => match t.status(Path::new(path), &b) {
                Status::Approved => "approved",
                _ => "CHANGED since approval (ignored)",
            },
            Err(_) => "missing",
        };
        let when = e.approved_at.as_deref().unwrap_or("?");
        emit(&crate::base::printable::escape(&format!("{state:<9} {path} (approved {when})")))?;
    }
    Ok(())
}

/// For `doctor`: every file in the approval record, and the project's own file when it needs
/// approval, as (path, status).
pub fn overview(project_dir: &Path) -> Vec<(PathBuf, Option<Status>)> {
    let mut out: Vec<(PathBuf, Option<Status>)> = Vec::new();
    if let Ok(t) = trust::load() {
        for path in t.files.keys() {
            let st = std::fs::read(path).ok().map(|b| t.status(Path::new(path), &b));
            out.push((PathBuf::from(path), st));
        }
    }
    let local = project_dir.join(".tracecraft.json");
    if let Ok(Some(found)) = config::config_file(project_dir) {
        if found == local && needs_approval(&local).unwrap_or(true) {
            if let Ok(b) = std::fs::read(&local) {
                let st = trust::status(&local, &b);
                if st != Status::Approved {
                    out.push((local, Some(st)));
                }
            }
        }
    }
    out
}
