//! The node table: one row a node, status cells coloured by state.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table, TableState};

use super::{cred_cell, ssh_cell};
use crate::app::{App, Mode, View};
use crate::ui::Theme;
use crate::ui::sanitize::escape;

pub fn draw(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let visible = app.visible();
    let wide = area.width >= 110;
    let mut title = vec![Span::styled(format!(" nodes ({}", visible.len()), t.title)];
    if visible.len() != app.rows.len() {
        title.push(Span::styled(format!("/{}", app.rows.len()), t.title));
    }
    title.push(Span::styled(") ", t.title));
    if let Some(order) = app.table.sort.describe() {
        title.push(Span::styled(format!("{order} "), t.accent));
    }
    if !app.table.marked.is_empty() {
        title.push(Span::styled(
            format!("{} marked ", app.table.marked.len()),
            t.accent,
        ));
    }
    if !app.table.filter.is_empty() {
        title.push(Span::styled(
            format!("</{}> ", escape(&app.table.filter)),
            t.accent,
        ));
    }
    // Under an open log pane the table is context, the pane has the keys.
    let focused = app.mode != Mode::Command && app.view() != &View::Logs;
    let block = Block::bordered()
        .border_style(if focused { t.border_focus } else { t.border })
        .title(Line::from(title));

    let headers: &[&str] = if wide {
        &[
            "NAME",
            "ROLE",
            "INTERNAL-IP",
            "SSH",
            "CERTS",
            "KEYS",
            "PASSWORD",
            "TOKEN",
            "PROXY",
        ]
    } else {
        &[
            "NAME",
            "ROLE",
            "INTERNAL-IP",
            "SSH",
            "CERT",
            "KEYS",
            "PASS",
            "TOKEN",
            "PROXY",
        ]
    };
    let sorted = crate::app::sort::SortColumn::ALL
        .iter()
        .position(|c| *c == app.table.sort.column);
    let header = Row::new(headers.iter().enumerate().map(|(i, h)| {
        if Some(i) == sorted && app.table.sort.describe().is_some() {
            Cell::from(*h).style(t.accent)
        } else {
            Cell::from(*h)
        }
    }))
    .style(t.table_header);
    // Only the rows on screen are built: drawing cost follows the window, not the cluster.
    let rows_on_screen = area.height.saturating_sub(3) as usize;
    let start = app.table.offset.min(visible.len());
    let end = (start + rows_on_screen).min(visible.len());
    let rows = visible[start..end].iter().map(|&i| {
        let r = &app.rows[i];
        let (ssh, ssh_style) = ssh_cell(&r.ssh, t);
        let marked = app.table.marked.contains(&r.info.name);
        let name = escape(&r.info.name);
        let mut cells = vec![
            if marked {
                Cell::from(format!("+{name}")).style(t.accent)
            } else {
                Cell::from(name.into_owned())
            },
            Cell::from(r.info.role.label()),
            Cell::from(escape(r.info.address.as_deref().unwrap_or("-")).into_owned()),
            Cell::from(ssh).style(ssh_style),
        ];
        for (_, c) in r.creds.cells() {
            let (s, st) = cred_cell(c, t, false);
            cells.push(Cell::from(s).style(st));
        }
        Row::new(cells)
    });
    let widths = if wide {
        vec![
            Constraint::Min(12),
            Constraint::Length(7),
            Constraint::Length(15),
            Constraint::Length(12),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(8),
        ]
    } else {
        vec![
            Constraint::Min(8),
            Constraint::Length(6),
            Constraint::Length(15),
            Constraint::Length(11),
            Constraint::Length(4),
            Constraint::Length(4),
            Constraint::Length(4),
            Constraint::Length(5),
            Constraint::Length(5),
        ]
    };
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(t.selected)
        .highlight_symbol("▌");
    let sel = app.selected_pos(&visible).map(|p| p - start);
    let mut state = TableState::default().with_selected(sel);
    f.render_stateful_widget(table, area, &mut state);
}
