//! Which store a config's backend means. Apart from `mod.rs` (the interface, which the
//! stores implement) so that the interface does not import its implementations.

use super::{local, s3, Limits, Store};
use crate::base::error::Result;
use crate::config::{Backend, Config};

/// Open the store a config points at.
pub fn open(cfg: &Config, limits: Limits) -> Result<Box<dyn Store>> {
    match &cfg.backend {
        Backend::S3(s) => Ok(Box::new(s3::S3Store::new(s, limits)?)),
        Backend::Local { root } => Ok(Box::new(local::LocalStore::new(root.clone()))),
    }
}
