//! The selected node: every fact the table abbreviates, in words.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::{cred_cell, ssh_cell};
use crate::app::{NodeRow, NodeSweep, SshProblemKind, SshState};
use crate::creds::Level;
use crate::creds::report::Area;
use crate::ui::Theme;
use crate::ui::sanitize::escape;

/// The style of a level.
pub fn level_style(l: Level, t: &Theme) -> ratatui::style::Style {
    match l {
        Level::Ok | Level::RenewsAtRestart => t.ok,
        Level::Warn => t.warn,
        Level::Critical | Level::Expired => t.critical,
        Level::Unknown => t.unknown,
    }
}

/// The node's credentials in the detail view: a tab per area, its findings
/// worst first, each with what to do.
fn area_lines(sweep: Option<&NodeSweep>, tab: Area, t: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut bar = vec![];
    for (i, a) in Area::ALL.iter().enumerate() {
        let level = match sweep {
            Some(NodeSweep::Done(r)) => Some(r.level(*a)),
            _ => None,
        };
        let st = if *a == tab {
            t.selected
        } else {
            level.map_or(t.unknown, |l| level_style(l, t))
        };
        bar.push(Span::styled(format!(" {} {} ", i + 1, a.title()), st));
        bar.push(Span::styled("│", t.dim));
    }
    lines.push(Line::from(bar));
    match sweep {
        None => lines.push(Line::from(Span::styled(
            "not read yet (r reads every node)",
            t.unknown,
        ))),
        Some(NodeSweep::Loading) => lines.push(Line::from(Span::styled(
            "reading the node's credential files…",
            t.unknown,
        ))),
        Some(NodeSweep::Failed(u)) => lines.push(Line::from(vec![
            Span::styled(
                format!("could not read ({}): ", u.reason.label()),
                t.critical,
            ),
            Span::styled(escape(&u.detail).into_owned(), t.critical),
        ])),
        Some(NodeSweep::Done(r)) => {
            if let Some(ar) = r.areas.get(&tab) {
                lines.extend(finding_lines(&ar.findings, t));
            }
            lines.extend(area_facts(r, tab, t));
        }
    }
    lines
}

/// What was read for the tab's area, item by item, under its findings:
/// every certificate block, every key with where it is kept, every token copy.
fn area_facts(r: &crate::creds::report::NodeReport, tab: Area, t: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let heading = |text: String| Line::from(Span::styled(text, t.accent));
    match tab {
        Area::Certificates if !r.certs.is_empty() => {
            lines.push(heading(format!(
                "{} certificate blocks, worst first",
                r.certs.len()
            )));
            for c in &r.certs {
                let file = c.cert.path.trim_start_matches("/var/lib/rancher/rke2/");
                let block = if c.cert.index > 0 {
                    format!("#{}", c.cert.index + 1)
                } else {
                    String::new()
                };
                let name = c.cert.subject_cn.as_deref().unwrap_or(&c.cert.subject);
                lines.push(Line::from(vec![
                    Span::styled(
                        format!("{:<8} ", short_level(c.level)),
                        level_style(c.level, t),
                    ),
                    Span::styled(
                        format!(
                            "{:>6}  ",
                            crate::creds::certs::short_duration(c.remaining_secs)
                        ),
                        t.base,
                    ),
                    Span::styled(escape(&format!("{file}{block}")).into_owned(), t.base),
                    Span::styled(
                        format!(
                            "  {}{}",
                            escape(name),
                            if c.cert.is_ca { "  CA" } else { "" }
                        ),
                        t.dim,
                    ),
                ]));
            }
        }
        Area::Keys => {
            let key_line = |k: &crate::creds::keys::AuthorizedKey| {
                let mut l = vec![
                    Span::styled(format!("  {} ", escape(&k.key_type)), t.dim),
                    Span::styled(escape(&k.fingerprint).into_owned(), t.base),
                    Span::styled(format!(" {}", escape(&k.comment)), t.dim),
                ];
                if r.login_fingerprint.as_ref() == Some(&k.fingerprint) {
                    l.push(Span::styled("  ← harvcred logged in with it", t.accent));
                }
                Line::from(l)
            };
            lines.push(heading(format!(
                "runtime ~rancher/.ssh/authorized_keys: {} keys",
                r.runtime_keys.len()
            )));
            lines.extend(r.runtime_keys.iter().map(key_line));
            let mut sources: Vec<&str> =
                r.persisted_keys.iter().map(|k| k.source.as_str()).collect();
            sources.dedup();
            for src in sources {
                lines.push(heading(format!("persisted in {}", escape(src))));
                lines.extend(
                    r.persisted_keys
                        .iter()
                        .filter(|k| k.source == src)
                        .map(|k| key_line(&k.key)),
                );
            }
        }
        Area::Token if !r.tokens.is_empty() => {
            lines.push(heading(
                "token copies (short keyed hash, never the value)".into(),
            ));
            for c in &r.tokens {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {} ", escape(&c.short_hash)), t.base),
                    Span::styled(format!("{:<7} ", escape(&c.format)), t.dim),
                    Span::styled(escape(&c.source).into_owned(), t.dim),
                ]));
            }
        }
        _ => {}
    }
    lines
}

/// Findings worst first as shown everywhere: level and subject, then what to
/// do, indented under them.
pub fn finding_lines(findings: &[crate::creds::level::Finding], t: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for fnd in findings {
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<8} ", short_level(fnd.level)),
                level_style(fnd.level, t),
            ),
            Span::styled(escape(&fnd.subject).into_owned(), t.base),
        ]));
        lines.push(Line::from(Span::styled(
            format!("         {}", escape(&fnd.message)),
            t.dim,
        )));
    }
    lines
}

/// Level names that fit a column of eight.
pub fn short_level(l: Level) -> &'static str {
    match l {
        Level::RenewsAtRestart => "renews",
        l => l.as_str(),
    }
}

/// How the pane is shown: the tab, whether it is the page in front (then it
/// lists everything and scrolls), and how far it is scrolled.
#[derive(Debug, Clone, Copy)]
pub struct Shown {
    pub tab: Area,
    pub focused: bool,
    pub scroll: u16,
}

pub fn draw(
    f: &mut Frame,
    area: Rect,
    row: Option<&NodeRow>,
    sweep: Option<&NodeSweep>,
    t: &Theme,
    how: Shown,
) {
    let Shown {
        tab,
        focused,
        scroll,
    } = how;
    let title = match row {
        Some(r) => format!(" {} ", escape(&r.info.name)),
        None => " no node selected ".into(),
    };
    let block = Block::bordered()
        .border_style(if focused { t.border_focus } else { t.border })
        .title(Span::styled(title, t.title));
    let Some(r) = row else {
        f.render_widget(Paragraph::new("").block(block), area);
        return;
    };
    let label = |s: &'static str| Span::styled(format!("{s:<13}"), t.dim);
    let ready = match r.info.ready {
        Some(true) => Span::styled("Ready", t.ok),
        Some(false) => Span::styled("NotReady", t.critical),
        None => Span::styled("unknown (not from the API)", t.unknown),
    };
    let mut lines = vec![Line::from(vec![
        label("role"),
        Span::styled(r.info.role.label(), t.base),
        Span::styled("   address ", t.dim),
        Span::styled(
            escape(r.info.address.as_deref().unwrap_or("none")).into_owned(),
            t.base,
        ),
        Span::styled("   from ", t.dim),
        Span::styled(r.source.label(), t.base),
    ])];
    lines.push(Line::from(vec![label("kubernetes"), ready]));
    let (ssh, ssh_style) = ssh_cell(&r.ssh, t);
    let mut ssh_line = vec![label("ssh"), Span::styled(ssh, ssh_style)];
    if let SshState::Down(p) = &r.ssh {
        ssh_line.push(Span::styled(": ", t.dim));
        ssh_line.push(Span::styled(escape(&p.detail).into_owned(), t.critical));
    }
    lines.push(Line::from(ssh_line));
    if let SshState::Down(p) = &r.ssh {
        match &p.kind {
            SshProblemKind::HostKeyUnknown(fps) => {
                for fp in fps {
                    lines.push(Line::from(vec![
                        label("  host key"),
                        Span::styled(escape(fp).into_owned(), t.warn),
                    ]));
                }
                lines.push(Line::from(Span::styled(
                    "  not in known_hosts: check the fingerprint on the node, then add it yourself",
                    t.warn,
                )));
            }
            SshProblemKind::HostKeyChanged(fp) => {
                lines.push(Line::from(vec![
                    label("  host key"),
                    Span::styled(
                        escape(fp.as_deref().unwrap_or("(not shown by ssh)")).into_owned(),
                        t.critical,
                    ),
                ]));
                lines.push(Line::from(Span::styled(
                    "  differs from known_hosts: possible impersonation; not connecting",
                    t.critical,
                )));
            }
            _ => {}
        }
    }
    let long = focused || area.width >= 100;
    if focused {
        lines.extend(area_lines(sweep, tab, t));
    } else if long {
        for (name, c) in r.creds.cells() {
            let (s, st) = cred_cell(c, t, true);
            lines.push(Line::from(vec![
                Span::styled(format!("{name:<13}"), t.dim),
                Span::styled(s, st),
            ]));
        }
    } else {
        let mut l = vec![label("credentials")];
        for (name, c) in r.creds.cells() {
            let (s, st) = cred_cell(c, t, false);
            l.push(Span::styled(format!("{name} "), t.dim));
            l.push(Span::styled(format!("{s}  "), st));
        }
        lines.push(Line::from(l));
    }
    // Wrapped lines are not counted here; the last line can still be reached.
    let scroll = scroll.min(lines.len().saturating_sub(1) as u16);
    let mut title_more = None;
    if focused && lines.len() > area.height.saturating_sub(2) as usize {
        title_more = Some(Span::styled(" pgdn/pgup scroll ", t.dim));
    }
    let block = match title_more {
        Some(m) => block.title_bottom(m),
        None => block,
    };
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}
