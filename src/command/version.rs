//! `version`: no client, no environment processing, writer ignored.

use super::Ctx;
use crate::cli::{API_VERSION, VERSION};
use crate::error::Result;

pub fn run(ctx: &mut Ctx) -> Result<()> {
    ctx.w.print(&format!(
        "etcdctl version: {VERSION}\nAPI version: {API_VERSION}\n"
    ));
    Ok(())
}
