//! `tracecraft-hook reindex`: rebuild the team index (`session::index`) of a project from
//! every session's meta.json. For buckets written by the Python CLI or an older version
//! (no entries), after a damaged index object, or after sessions were deleted. The entries
//! go into this machine's own index objects (one writer per object), where they win over
//! older entries of the same sessions; entries of sessions no longer in the store get a
//! tombstone. Cost: one listing of the sessions, one GET per meta.json, one PUT per month.

use std::path::PathBuf;

use clap::Args;

use super::{emit, open, project_dir, thousands};
use crate::base::error::Result;
use crate::session::catalog::Catalog;
use crate::session::index::{self, Writer};

/// Rebuild the team index that makes `list` and `stats` fast, from every session's
/// meta.json (one GET each). Run it once on a bucket the Python CLI or an older version
/// filled, or when `doctor` says the index is missing, damaged or incomplete.
#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// Every project in the bucket, not only this directory's.
    #[arg(long)]
    pub all_projects: bool,
    /// Project directory whose configuration selects the store (default: current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
}

/// Run `reindex`.
pub fn run(a: &ReindexArgs) -> Result<()> {
    let dir = project_dir(a.cwd.as_deref())?;
    let ctx = open(&dir)?;
    let store = crate::store::counting::Counting::wrap(ctx.store.as_ref());
    let projects = if a.all_projects { index::projects(&store)? } else { vec![ctx.cfg.project.clone()] };
    let state = crate::base::paths::state_dir()?;
    let agent = index::this_agent(ctx.cfg.agent_id.as_deref());
    let keys = crate::session::seal::Keys::for_config(&ctx.cfg);
    let seal = keys.sealing();
    for project in &projects {
        let cat = Catalog::new(&store, project, format!("{} (project {project})", ctx.cfg.describe()))
            .with_keys(crate::session::seal::Keys::for_config(&ctx.cfg));
        let w = Writer::new(&store, project, &ctx.cfg.dest_id_for(project), agent.clone(), &state);
        let (n, gone, objects) = index::reindex(&cat, &w, seal)?;
        let gone = if gone > 0 {
            format!(", {gone} entr{} of deleted sessions retired", if gone == 1 { "y" } else { "ies" })
        } else {
            String::new()
        };
        emit(&format!(
            "reindexed {} session{} of project {project}{gone}: {objects} index object{} written as agent {agent}",
            thousands(n as u64),
            if n == 1 { "" } else { "s" },
            if objects == 1 { "" } else { "s" }
        ))?;
    }
    store.report("reindex");
    Ok(())
}
