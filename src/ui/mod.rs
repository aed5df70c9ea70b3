//! Drawing only: every frame is made from `App`'s state, nothing here changes it.

pub mod forms;
pub mod panes;
pub mod sanitize;
pub mod terminal;
pub mod theme;

/// The rows of a drawn test buffer as text, trailing blanks trimmed.
#[cfg(test)]
pub fn buffer_lines(buf: &ratatui::buffer::Buffer) -> Vec<String> {
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect()
}

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

use crate::app::{App, View};
pub use theme::Theme;

/// Where each pane goes on a screen of the given size.
pub struct Areas {
    pub header: Rect,
    pub main: Rect,
    pub detail: Rect,
    /// The log pane's place; only on screens tall enough for it.
    pub logs: Option<Rect>,
    pub status: Rect,
}

const HEADER: u16 = 2;
const STATUS: u16 = 1;
/// Below this height the log slot is left out so the table keeps its rows.
const LOG_SLOT_MIN_HEIGHT: u16 = 36;

pub fn areas(area: Rect) -> Areas {
    let detail = if area.height >= 30 { 10 } else { 7 };
    let logs = if area.height >= LOG_SLOT_MIN_HEIGHT {
        8
    } else {
        0
    };
    let [header, main, detail, logs, status] = Layout::vertical([
        Constraint::Length(HEADER),
        Constraint::Min(3),
        Constraint::Length(detail),
        Constraint::Length(logs),
        Constraint::Length(STATUS),
    ])
    .areas(area);
    Areas {
        header,
        main,
        detail,
        logs: (logs.height > 0).then_some(logs),
        status,
    }
}

/// How many node rows the table shows at this screen size (for paging).
pub fn table_body_rows(width: u16, height: u16) -> usize {
    let a = areas(Rect::new(0, 0, width, height));
    // Borders and the column header take three lines.
    a.main.height.saturating_sub(3) as usize
}

/// How many rows a list filling the screen below the header shows (`:certs`).
pub fn full_body_rows(width: u16, height: u16) -> usize {
    let a = areas(Rect::new(0, 0, width, height));
    // Borders and the column header take three lines.
    (a.status.y - a.main.y).saturating_sub(3) as usize
}

pub fn draw(f: &mut Frame, app: &App, theme: &Theme) {
    let area = f.area();
    f.render_widget(ratatui::widgets::Block::new().style(theme.base), area);
    let a = areas(area);
    panes::header::draw(f, a.header, app, theme);
    match app.view() {
        View::Nodes => {
            panes::nodes::draw(f, a.main, app, theme);
            let row = app.selected_row();
            let sweep = row.and_then(|r| app.sweeps.get(&r.info.name));
            let how = panes::detail::Shown {
                tab: app.detail.tab,
                focused: false,
                scroll: 0,
            };
            panes::detail::draw(f, a.detail, row, sweep, theme, how);
            if let Some(l) = a.logs {
                panes::logs::draw(f, l, theme);
            }
        }
        View::NodeDetail(name) => {
            let body = Rect {
                height: a.status.y - a.main.y,
                ..a.main
            };
            panes::detail::draw(
                f,
                body,
                app.row(name),
                app.sweeps.get(name),
                theme,
                panes::detail::Shown {
                    tab: app.detail.tab,
                    focused: true,
                    scroll: app.detail.scroll,
                },
            );
        }
        View::Certs => {
            let body = Rect {
                height: a.status.y - a.main.y,
                ..a.main
            };
            panes::certs::draw(f, body, app, theme);
        }
        View::Keys => {
            let body = Rect {
                height: a.status.y - a.main.y,
                ..a.main
            };
            panes::keys::draw(f, body, app, theme);
        }
        View::Token => {
            let body = Rect {
                height: a.status.y - a.main.y,
                ..a.main
            };
            panes::token::draw(f, body, app, theme);
        }
        View::Settings => {
            let body = Rect {
                height: a.status.y - a.main.y,
                ..a.main
            };
            panes::settings::draw(f, body, app, theme);
        }
        View::Walk(_) if app.form.is_some() => {
            let body = Rect {
                height: a.status.y - a.main.y,
                ..a.main
            };
            let form = app.form.as_ref().expect("checked by the guard");
            match &app.logs.pane {
                // The node being changed, beside the form that changes it.
                Some(p) => {
                    let (area, log) = panes::logs::split(body, panes::logs::LogPlace::Beside);
                    form.draw(f, area, theme);
                    panes::logs::draw_pane(f, log, p, theme);
                }
                None => form.draw(f, body, theme),
            }
        }
        View::Logs if app.logs.pane.is_some() => {
            let body = Rect {
                height: a.status.y - a.main.y,
                ..a.main
            };
            panes::logs::draw_view(f, body, app, theme);
        }
        v => {
            let body = Rect {
                height: a.status.y - a.main.y,
                ..a.main
            };
            panes::placeholder::draw(f, body, v, theme);
        }
    }
    panes::status::draw(f, a.status, app, theme);
    if app.help {
        panes::help::draw(f, area, app, theme);
    }
}
