//! Package assets generated from the CLI definition (`finesse_sso::cli::Cli`): man pages and shell completions.
//!
//! `cargo run --release --example gen-assets -- OUT_DIR` writes
//! `OUT_DIR/man/finesse-sso.1` (plus one `finesse-sso-<verb>.1` per visible verb) and
//! `OUT_DIR/completions/{finesse-sso.bash,_finesse-sso,finesse-sso.fish}`.
//! An example rather than a verb: the shipped binary carries no generator code, and new verbs
//! appear in the pages and completions without anyone editing them.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use finesse_sso::cli::Cli;
use finesse_sso::error::exit_codes;

const BIN: &str = "finesse-sso";

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: gen-assets OUT_DIR");
        std::process::exit(2);
    };
    if let Err(e) = generate(Path::new(&out)) {
        eprintln!("gen-assets: {e}");
        std::process::exit(1);
    }
}

fn generate(out: &Path) -> std::io::Result<()> {
    let man = out.join("man");
    let completions = out.join("completions");
    for dir in [&man, &completions] {
        // Stale pages of removed verbs must not be packaged.
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::create_dir_all(dir)?;
    }
    // One page per visible verb (finesse-sso-login.1, ...), then the main page with the extra
    // sections that only make sense once.
    clap_mangen::generate_to(Cli::command(), &man)?;
    let main_page = man.join(format!("{BIN}.1"));
    let mut page = std::fs::OpenOptions::new().append(true).open(&main_page)?;
    page.write_all(extra_sections().as_bytes())?;

    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let path: PathBuf =
            clap_complete::generate_to(shell, &mut Cli::command(), BIN, &completions)?;
        eprintln!("wrote {}", path.display());
    }
    for entry in std::fs::read_dir(&man)? {
        eprintln!("wrote {}", entry?.path().display());
    }
    Ok(())
}

/// EXIT STATUS from the crate's own table, and FILES: the paths documented in docs/packaging.md.
fn extra_sections() -> String {
    let mut s = String::from(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in exit_codes() {
        s.push_str(&format!(".TP\n\\fB{code}\\fR\n{}\n", roff_escape(meaning)));
    }
    s.push_str(
        ".SH FILES\n\
         .TP\n\\fI/etc/finesse\\-sso/config.toml\\fR\n\
         Defaults set by the administrator (server, CA file, proxy). The user's config file and \
         command-line flags override them.\n\
         .TP\n\\fI$XDG_CONFIG_HOME/finesse\\-sso/config.toml\\fR\n\
         The user's config file (default \\fI~/.config/finesse\\-sso/config.toml\\fR).\n\
         .TP\n\\fI$XDG_STATE_HOME/finesse\\-sso/\\fR\n\
         Profiles: saved web sessions and the browser engine's data (private, 0700).\n\
         .TP\n\\fI/usr/lib/systemd/user/finesse\\-sso\\-agent.service\\fR\n\
         The agent as a systemd user service: \\fBsystemctl \\-\\-user enable \\-\\-now \
         finesse\\-sso\\-agent.service\\fR.\n\
         .SH ENVIRONMENT\n\
         .TP\n\\fBFINESSE_SSO_HOME\\fR\n\
         Keep config and state under this one directory instead.\n",
    );
    s
}

/// Escapes roff's special characters in a line of plain text.
fn roff_escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('-', "\\-");
    match escaped.chars().next() {
        Some('.') | Some('\'') => format!("\\&{escaped}"),
        _ => escaped,
    }
}
