//! `:token`: every copy of the cluster token on the nodes read so far and in
//! the cluster, as `harvcred token show` prints it: a short keyed hash (never
//! the value), the format, the CA check, whether it is the servers' own
//! token; the node whose rancherd loops on 502 `cacerts` marked with its
//! line. Sources and log lines are remote text: escaped before the terminal.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::app::App;
use crate::flows::token::{CopyView, TokenView};
use crate::ui::Theme;
use crate::ui::sanitize::escape;

/// Lines the view has, for scrolling.
pub fn line_count(v: &TokenView) -> usize {
    lines(v, &Theme::default_theme()).len()
}

fn level_style(level: &str, t: &Theme) -> Style {
    match level {
        "ok" => t.ok,
        "warn" => t.warn,
        "unknown" => t.unknown,
        _ => t.critical,
    }
}

/// The end of rancherd's line, where its words are: the message without
/// logrus' time and level, its last 72 characters (escaped).
fn loop_tail(line: &str) -> String {
    let msg = line.split_once("msg=\"").map_or(line, |(_, m)| m);
    let msg = escape(msg).into_owned();
    let n = msg.chars().count();
    if n > 72 {
        format!("…{}", msg.chars().skip(n - 71).collect::<String>())
    } else {
        msg
    }
}

/// One copy: the columns that decide first, the (long) source last.
fn copy_line(c: &CopyView, src_w: usize, t: &Theme) -> Line<'static> {
    let (agree, style) = match c.agrees_with_servers {
        Some(true) => ("agrees", t.ok),
        Some(false) => ("DIFFERS", t.critical),
        None => ("?", t.unknown),
    };
    let _ = src_w;
    Line::from(vec![
        Span::styled(format!("  {:<11} ", c.short_hash), t.accent),
        Span::styled(format!("{agree:<8} "), style),
        Span::styled(
            format!("{:<11} ", c.ca),
            if c.ca == "differs" { t.critical } else { t.dim },
        ),
        Span::raw(format!("{:<16} ", c.format)),
        Span::raw(escape(&c.source).into_owned()),
    ])
}

fn lines(v: &TokenView, t: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    out.push(Line::from(Span::styled(
        match &v.servers_token {
            Some(h) => format!("the servers' own server/token: {h}"),
            None => "the servers' own server/token: none read yet, or the servers disagree".into(),
        },
        t.base,
    )));
    let src_w = v
        .nodes
        .iter()
        .flat_map(|n| n.copies.iter())
        .chain(v.cluster.iter())
        .map(|c| escape(&c.source).chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 60);
    out.push(Line::from(Span::styled(
        format!(
            "  {:<11} {:<8} {:<11} {:<16} SOURCE",
            "HASH", "SERVERS", "CA", "FORMAT"
        ),
        t.table_header,
    )));
    for n in &v.nodes {
        let mut head = vec![
            Span::styled(format!("{} ", escape(&n.node)), t.title),
            Span::styled(format!("({}) ", n.role), t.dim),
            Span::styled(n.level.clone(), level_style(&n.level, t)),
        ];
        if n.bootstrap_data == Some(false) {
            head.push(Span::styled("  not joined", t.warn));
        }
        out.push(Line::from(head));
        if let Some(e) = &n.error {
            out.push(Line::from(Span::styled(
                format!("  {}", escape(e)),
                t.unknown,
            )));
            continue;
        }
        if let Some(l) = &n.rancherd_loop {
            out.push(Line::from(Span::styled(
                format!(
                    "  rancherd 502 cacerts loop ({}x), fix: harvcred token fix --node {}",
                    l.repeats,
                    escape(&n.node)
                ),
                t.critical,
            )));
            out.push(Line::from(Span::raw(format!("    {}", loop_tail(&l.line)))));
        }
        for c in &n.copies {
            out.push(copy_line(c, src_w, t));
        }
    }
    out.push(Line::from(Span::styled("cluster", t.title)));
    if v.cluster.is_empty() {
        out.push(Line::from(Span::styled(
            "  the secret fleet-local/local-rke-state was not read",
            t.unknown,
        )));
    }
    for c in &v.cluster {
        out.push(copy_line(c, src_w, t));
    }
    out.push(Line::from(Span::styled(
        "hashes are keyed for this run only; the token is never rotated (rke2-server would fail: \"bootstrap data already found and encrypted with different token\"); a node that cannot join: harvcred token fix --node NODE",
        t.dim,
    )));
    out
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let v = app.token_view();
    let title = vec![
        Span::styled(
            format!(" cluster token ({} nodes) ", v.nodes.len()),
            t.title,
        ),
        Span::styled(
            match v.exit_code {
                0 => "ok ",
                1 => "warn ",
                3 => "unknown ",
                _ => "critical ",
            },
            match v.exit_code {
                0 => t.ok,
                1 => t.warn,
                3 => t.unknown,
                _ => t.critical,
            },
        ),
    ];
    let block = Block::bordered()
        .border_style(t.border_focus)
        .title(Line::from(title));
    if v.nodes.is_empty() {
        f.render_widget(
            Paragraph::new(Span::styled(
                "no node read yet (r reads every node)",
                t.unknown,
            ))
            .block(block),
            area,
        );
        return;
    }
    let all = lines(&v, t);
    let fit = area.height.saturating_sub(2) as usize;
    let start = app.token_view.offset.min(all.len().saturating_sub(fit));
    f.render_widget(
        Paragraph::new(all.into_iter().skip(start).take(fit).collect::<Vec<_>>()).block(block),
        area,
    );
}
