//! Two lines: where we are connected and how things stand, then the API's
//! server or why it cannot be reached.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{ApiState, App, CredCell, Source};
use crate::ui::Theme;
use crate::ui::sanitize::escape;

pub fn draw(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let sep = || Span::styled(" │ ", t.dim);
    let ctx = app.context.as_deref().unwrap_or(match app.api {
        ApiState::NotConfigured(_) => "inventory",
        _ => "…",
    });
    let (api_text, api_style) = match &app.api {
        ApiState::Connecting => ("API connecting".to_string(), t.unknown),
        ApiState::Up => ("API ok".to_string(), t.ok),
        ApiState::Down(p) => (format!("API down: {}", p.short()), t.critical),
        ApiState::NotConfigured(_) => ("API not configured".to_string(), t.warn),
    };
    let (up, total) = app.nodes_up();
    let nodes_style = if total == 0 {
        t.unknown
    } else if up == total {
        t.ok
    } else {
        t.critical
    };
    let (cred, cred_style) = match app.worst_cred() {
        None => ("unknown", t.unknown),
        Some(CredCell::Ok(_)) => ("ok", t.ok),
        Some(CredCell::Warn(_)) => ("warn", t.warn),
        Some(CredCell::Critical(_)) => ("critical", t.critical),
        Some(_) => ("unknown", t.unknown),
    };
    let mut l1 = vec![
        Span::styled(" harvcred", t.accent),
        sep(),
        Span::styled(escape(ctx).into_owned(), t.header),
        sep(),
        Span::styled(api_text, api_style),
        sep(),
        Span::styled(format!("nodes {up}/{total} up"), nodes_style),
        sep(),
        Span::styled(format!("creds {cred}"), cred_style),
    ];
    if app.read_only {
        l1.push(Span::raw(" "));
        l1.push(Span::styled(" READ-ONLY ", t.badge));
    }
    let from = |s: Source| app.rows.iter().any(|r| r.source == s);
    // When the API is out, say first where the rows come from, then why.
    let source = match (
        from(Source::Api),
        from(Source::Inventory),
        from(Source::Cache),
    ) {
        (_, _, true) => " nodes from the cached list ·",
        (false, true, _) => " nodes from the inventory ·",
        _ => "",
    };
    let l2 = match &app.api {
        ApiState::Down(p) => Line::from(vec![
            Span::styled(source, t.warn),
            Span::styled(" API unreachable: ", t.dim),
            Span::styled(escape(&p.detail).into_owned(), t.critical),
        ]),
        ApiState::NotConfigured(why) => Line::from(vec![
            Span::styled(source, t.warn),
            Span::styled(" no API: ", t.dim),
            Span::styled(escape(why).into_owned(), t.warn),
        ]),
        _ => Line::from(vec![
            Span::styled(" server ", t.dim),
            Span::styled(
                escape(app.server.as_deref().unwrap_or("…")).into_owned(),
                t.base,
            ),
            Span::styled(format!("   theme {}", app.theme), t.dim),
        ]),
    };
    f.render_widget(Paragraph::new(vec![Line::from(l1), l2]), area);
}
