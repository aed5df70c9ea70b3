//! `:certs`: every certificate of every node read so far, worst first, with
//! kubeadm's columns (file, subject, expires, residual time, CA).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};

use super::detail::{level_style, short_level};
use crate::app::App;
use crate::creds::certs::table_rows;
use crate::ui::Theme;
use crate::ui::sanitize::escape;

pub fn draw(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let (all, total) = app.cert_rows();
    let mut title = vec![Span::styled(
        if all.len() == total {
            format!(" certificates ({total}) ")
        } else {
            format!(" certificates ({}/{total}) ", all.len())
        },
        t.title,
    )];
    if !app.certs.filter.is_empty() {
        title.push(Span::styled(
            format!("</{}> ", escape(&app.certs.filter)),
            t.accent,
        ));
    }
    let fit = area.height.saturating_sub(3) as usize;
    let start = app.certs.offset.min(all.len().saturating_sub(fit));
    if all.len() > fit {
        title.push(Span::styled(
            format!("{}-{} ", start + 1, (start + fit).min(all.len())),
            t.dim,
        ));
    }
    let block = Block::bordered()
        .border_style(t.border_focus)
        .title(ratatui::text::Line::from(title));
    if all.is_empty() {
        let why = if total == 0 {
            "no certificate read yet (r reads every node)"
        } else {
            "no certificate matches the filter (esc clears it)"
        };
        f.render_widget(
            Paragraph::new(Span::styled(why, t.unknown)).block(block),
            area,
        );
        return;
    }
    let now = time::OffsetDateTime::now_utc();
    let wide = area.width >= 110;
    let body = all.iter().skip(start).take(fit).map(|(node, a)| {
        let r = &table_rows(std::slice::from_ref(a), now)[0];
        let file = if a.cert.index > 0 {
            format!("{}#{}", a.cert.path, a.cert.index + 1)
        } else {
            a.cert.path.clone()
        };
        // The tree prefix is the same for nearly every file; the tail tells them apart.
        let file = file
            .trim_start_matches("/var/lib/rancher/rke2/")
            .to_string();
        let mut cells = vec![
            Cell::from(escape(node).into_owned()),
            Cell::from(escape(&file).into_owned()),
        ];
        if wide {
            cells.push(Cell::from(escape(&r.subject).into_owned()));
            cells.push(Cell::from(r.expires.clone()));
        }
        cells.push(Cell::from(r.residual.clone()));
        if wide {
            cells.push(Cell::from(escape(&r.authority).into_owned()));
        }
        cells.push(Cell::from(if r.is_ca { "CA" } else { "" }));
        cells.push(Cell::from(short_level(a.level)).style(level_style(a.level, t)));
        Row::new(cells)
    });
    let (header, widths): (Vec<&str>, Vec<Constraint>) = if wide {
        (
            vec![
                "NODE",
                "FILE",
                "SUBJECT",
                "EXPIRES",
                "RESIDUAL",
                "AUTHORITY",
                "CA",
                "LEVEL",
            ],
            vec![
                Constraint::Length(8),
                Constraint::Min(20),
                Constraint::Length(22),
                Constraint::Length(22),
                Constraint::Length(9),
                Constraint::Length(20),
                Constraint::Length(2),
                Constraint::Length(8),
            ],
        )
    } else {
        (
            vec!["NODE", "FILE", "RESIDUAL", "CA", "LEVEL"],
            vec![
                Constraint::Length(8),
                Constraint::Min(20),
                Constraint::Length(9),
                Constraint::Length(2),
                Constraint::Length(8),
            ],
        )
    };
    let table = Table::new(body, widths)
        .header(Row::new(header).style(t.table_header))
        .block(block)
        .column_spacing(1);
    f.render_widget(table, area);
}
