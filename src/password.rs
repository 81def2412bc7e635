//! Reading passwords as etcdctl does: the prompt (speakeasy's `Ask`) for
//! `--user name` and the interactive `user add`/`user passwd`, and
//! `fmt.Scanf("%s")` for `--interactive=false`.
//!
//! Both read standard input, as etcdctl does (not `/dev/tty`), and the
//! prompt goes to standard output. Echo is turned off with `stty` around
//! the prompt, as speakeasy does: on a standard input that is not a
//! terminal, `stty` complains on stderr, as it does under etcdctl.

use std::io::{Read, Write};

fn stty(arg: &str) {
    let _ = std::io::stdout().flush();
    let _ = std::process::Command::new("stty")
        .arg(arg)
        .stdin(std::process::Stdio::inherit())
        .status();
}

/// One byte of standard input (unbuffered, so that nothing after what is
/// read is consumed), `None` at the end.
fn byte() -> Option<u8> {
    let mut b = [0u8; 1];
    match std::io::stdin().lock().read(&mut b) {
        Ok(1) => Some(b[0]),
        _ => None,
    }
}

/// Prints `prompt`, reads one line without echo (the line ending and a
/// carriage return dropped), then ends the prompt's line.
pub fn ask(prompt: &str) -> String {
    let mut out = std::io::stdout();
    let _ = out.write_all(prompt.as_bytes());
    let _ = out.flush();
    stty("-echo");
    let mut line = Vec::new();
    while let Some(b) = byte() {
        if b == b'\n' {
            break;
        }
        line.push(b);
    }
    stty("echo");
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// Go's `fmt.Scanf("%s")` on standard input: spaces and tabs skipped, then
/// one word up to the next white space; a line that starts empty gives
/// an empty word.
pub fn scan_word() -> String {
    let mut word = Vec::new();
    let mut c = byte();
    while matches!(c, Some(b' ' | b'\t')) {
        c = byte();
    }
    while let Some(b) = c {
        if b.is_ascii_whitespace() {
            break;
        }
        word.push(b);
        c = byte();
    }
    String::from_utf8_lossy(&word).into_owned()
}
