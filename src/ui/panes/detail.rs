//! The selected node: every fact the table abbreviates, in words.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::{cred_cell, ssh_cell};
use crate::app::{NodeRow, SshProblemKind, SshState};
use crate::ui::Theme;
use crate::ui::sanitize::escape;

pub fn draw(f: &mut Frame, area: Rect, row: Option<&NodeRow>, t: &Theme, focused: bool) {
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
    if long {
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
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}
