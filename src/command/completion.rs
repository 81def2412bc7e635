//! `completion bash|zsh|fish`: scripts generated from the clap tree (an
//! addition; etcdctl 3.5 has no such command). The one command above the
//! tree ([`crate::cli`], which holds its `CompletionCmd`): `run` is called
//! by [`crate::run`], not by [`super::dispatch`].

use super::Ctx;
use crate::error::{CtlError, Result};

/// The script for `shell`, as checked in under `completions/`.
pub fn script(shell: &str) -> Option<Vec<u8>> {
    let sh = match shell {
        "bash" => clap_complete::Shell::Bash,
        "zsh" => clap_complete::Shell::Zsh,
        "fish" => clap_complete::Shell::Fish,
        _ => return None,
    };
    let mut out = Vec::new();
    clap_complete::generate(sh, &mut crate::cli::cli(), "oxctl", &mut out);
    Some(out)
}

pub fn run(ctx: &mut Ctx, shell: &str) -> Result<()> {
    let s = script(shell).ok_or_else(|| CtlError::BadArgs(format!("unsupported shell {shell}")))?;
    ctx.w.print_bytes(&s);
    Ok(())
}
