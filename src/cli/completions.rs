//! `harvcred completions SHELL` and `harvcred man`: generated from the same
//! clap definition the binary parses, so they cannot drift from the flags.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;

/// `harvcred completions SHELL`
#[derive(Debug, Clone, Args)]
#[command(after_help = "Install, for example:\n  \
    harvcred completions bash > /etc/bash_completion.d/harvcred\n  \
    harvcred completions zsh > \"${fpath[1]}/_harvcred\"\n  \
    harvcred completions fish > ~/.config/fish/completions/harvcred.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `harvcred man`
#[derive(Debug, Clone, Args)]
#[command(after_help = "Read it with: harvcred man | man -l -\n\
    Install every page with: harvcred man --dir /usr/local/share/man/man1")]
pub struct ManArgs {
    /// Write harvcred.1 and one page per command (harvcred-status.1, ...) into DIR
    /// instead of printing harvcred.1 on stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn completions(args: CompletionsArgs) -> Result<i32> {
    let mut out = std::io::stdout().lock();
    write_completions(args.shell, &mut out)?;
    out.flush()?;
    Ok(0)
}

pub fn write_completions(shell: Shell, out: &mut dyn Write) -> Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "harvcred", out);
    Ok(())
}

pub fn man(args: ManArgs) -> Result<i32> {
    match args.dir {
        Some(dir) => {
            let written = write_man_pages(&dir)?;
            for page in written {
                println!("{}", page.display());
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            out.flush()?;
        }
    }
    Ok(0)
}

/// Every page (the top one and one per visible command, recursively), as
/// `man` expects them in a man1 folder; returns the files written.
pub fn write_man_pages(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let before: std::collections::BTreeSet<PathBuf> = man_files(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("writing man pages into {}", dir.display()))?;
    let after = man_files(dir)?;
    // Pages that existed already were rewritten too: report every page of ours.
    let ours = after
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("harvcred"))
                || !before.contains(p)
        })
        .collect();
    Ok(ours)
}

fn man_files(dir: &Path) -> Result<std::collections::BTreeSet<PathBuf>> {
    let mut files = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "1") {
            files.insert(path);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(shell: Shell) -> String {
        let mut buf = Vec::new();
        write_completions(shell, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn completions_know_every_command_and_connection_flag() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let s = script(shell);
            for word in [
                "status",
                "certs",
                "logs",
                "proxy",
                "rollback",
                "--kubeconfig",
                "--ssh-config",
                "--read-only",
            ] {
                // fish names long flags as `-l name`.
                let fish_flag = format!("-l {}", word.trim_start_matches("--"));
                assert!(
                    s.contains(word) || s.contains(&fish_flag),
                    "{shell:?} completion lacks {word}"
                );
            }
        }
    }

    #[test]
    fn bash_completion_is_valid_bash() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("harvcred.bash");
        std::fs::write(&file, script(Shell::Bash)).unwrap();
        let out = std::process::Command::new("bash")
            .arg("-n")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn man_pages_cover_each_visible_command() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_man_pages(dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for page in [
            "harvcred.1",
            "harvcred-status.1",
            "harvcred-proxy-set.1",
            "harvcred-lab-up.1",
        ] {
            assert!(names.contains(&page.to_string()), "no {page} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("standin")));
        let top = std::fs::read_to_string(dir.path().join("harvcred.1")).unwrap();
        assert!(
            top.starts_with(".ie") || top.contains(".TH harvcred"),
            "{top}"
        );
        let set = std::fs::read_to_string(dir.path().join("harvcred-proxy-set.1")).unwrap();
        assert!(set.contains("dry\\-run"), "proxy set page lacks --dry-run");
    }
}
