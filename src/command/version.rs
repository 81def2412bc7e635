//! `version`: no client, no environment processing, writer ignored.

use super::Ctx;
use crate::error::Result;
use crate::etcdctl::{API_VERSION, VERSION};

pub fn run(ctx: &mut Ctx) -> Result<()> {
    ctx.w.print(&format!(
        "etcdctl version: {VERSION}\nAPI version: {API_VERSION}\n"
    ));
    Ok(())
}
