//! `:proxy`: the guided change of the http-proxy setting (an engine walk).
//! Draws from `App::walk` only; takes whatever area the layout gives it (the
//! log pane, when there is one, goes beside it).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::App;
use crate::audit::MaskedProxy;
use crate::flows::proxy::{Field, consequences};
use crate::flows::{Severity, Step};
use crate::ui::Theme;
use crate::ui::forms::{FieldNote, FieldView, draw_field};
use crate::ui::sanitize::escape;

fn hints(step: Step) -> &'static str {
    match step {
        Step::Loading => "reading the setting and the node IPs…   ctrl-x cancel",
        Step::Edit => {
            "tab/shift-tab field · ctrl-r reveal credentials · enter preview · esc cancel"
        }
        Step::Preview => "enter dry run on the server · esc back to the form · ctrl-x cancel",
        Step::DryRun => "dry run on the server…   esc back · ctrl-x cancel",
        Step::Confirm => "dry run passed.  y apply now · n/esc back · ctrl-x cancel",
        Step::Apply => "writing the change…",
        Step::Verify => {
            "applied; following status.conditions until configured…   ctrl-x stop following"
        }
        Step::Done => {
            "enter/esc close · u roll back to the value before this change · r retry a failed apply"
        }
        Step::Cancelled => "enter/esc close",
    }
}

/// Node-local proxy drift from the last sweep, and why the console leaves it alone.
fn node_local_drift<'a>(app: &App, t: &Theme) -> Vec<Line<'a>> {
    use crate::app::NodeSweep;
    use crate::creds::Level;
    use crate::creds::report::Area;
    let mut out = Vec::new();
    for (node, sweep) in &app.sweeps {
        let NodeSweep::Done(r) = sweep else { continue };
        let Some(area) = r.areas.get(&Area::Proxy) else {
            continue;
        };
        for fnd in area
            .findings
            .iter()
            .filter(|f| f.level != Level::Ok && f.subject.contains("/etc/environment"))
        {
            out.push(Line::from(Span::styled(
                format!("  {}: {}", escape(node), escape(&fnd.message)),
                t.warn,
            )));
        }
    }
    if !out.is_empty() {
        out.insert(
            0,
            Line::from(Span::styled(
                "Node-local proxy (/etc/environment) differs:",
                t.dim,
            )),
        );
        out.push(Line::from(Span::styled(
            "  harvcred does not edit /oem for it: it is per node, not copied to new nodes, bypasses the webhook, and its layout may change (Harvester's security guide)",
            t.dim,
        )));
        out.push(Line::from(""));
    }
    out
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let Some(form) = crate::app::flow::proxy_form(&app.walk) else {
        return;
    };
    let walk = &form.walk;
    let step = form.shown_step();
    let block = Block::bordered()
        .border_style(t.border_focus)
        .title(Span::styled(
            format!(" http-proxy · {} ", step.label()),
            t.title,
        ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let bottom = inner.y + inner.height;
    let mut y = inner.y;
    let mut lines_after: Vec<Line> = Vec::new();
    match step {
        Step::Edit => {
            for (i, field) in Field::ALL.iter().enumerate() {
                let notes: Vec<FieldNote> = form
                    .problems_at(*field)
                    .map(|p| FieldNote {
                        error: p.severity == Severity::Error,
                        text: &p.message,
                    })
                    .collect();
                // A note may wrap: give each two lines when there is room.
                let want = 1 + notes.len() as u16 * 2;
                let h = want.min(bottom.saturating_sub(y));
                let r = Rect::new(inner.x, y, inner.width, h);
                let shown = form.shown(i);
                let view = FieldView {
                    label: field.label(),
                    shown: &shown,
                    cursor: Some(form.inputs[i].cursor()),
                    focused: form.focus == i,
                    notes: &notes,
                };
                draw_field(f, r, &view, t);
                y += h;
            }
            y += 1;
            lines_after.extend(node_local_drift(app, t));
        }
        Step::Loading => {}
        _ => {
            let (o, n) = (
                MaskedProxy::from(&form.before()),
                MaskedProxy::from(&form.after()),
            );
            let dash = |s: &str| {
                if s.is_empty() {
                    "-".to_string()
                } else {
                    escape(s).into_owned()
                }
            };
            let half = (inner.width.saturating_sub(14) / 2) as usize;
            lines_after.push(Line::from(vec![
                Span::styled(format!("{:<12}", ""), t.dim),
                Span::styled(format!("{:<half$} ", "current"), t.table_header),
                Span::styled("new", t.table_header),
            ]));
            for (label, a, b) in [
                ("httpProxy", &o.http_proxy, &n.http_proxy),
                ("httpsProxy", &o.https_proxy, &n.https_proxy),
                ("noProxy", &o.no_proxy, &n.no_proxy),
            ] {
                let changed = a != b;
                lines_after.push(Line::from(vec![
                    Span::styled(format!("{label:<12}"), t.dim),
                    Span::styled(format!("{:<half$} ", dash(a)), t.base),
                    Span::styled(dash(b), if changed { t.accent } else { t.base }),
                ]));
            }
            lines_after.push(Line::from(""));
            lines_after.push(Line::from(Span::styled("What the change does:", t.dim)));
            let nodes = walk.facts.as_ref().map_or(0, |f| f.cluster.node_ips.len());
            for c in consequences(nodes) {
                lines_after.push(Line::from(Span::styled(format!("  • {c}"), t.base)));
            }
            lines_after.push(Line::from(""));
        }
    }
    if walk.conflicted() {
        lines_after.push(Line::from(Span::styled(
            "Changed by someone else since it was read (409). What changed meanwhile:",
            t.warn,
        )));
        for c in &walk.conflict {
            lines_after.push(Line::from(Span::styled(format!("  {}", escape(c)), t.warn)));
        }
        lines_after.push(Line::from(Span::styled(
            "Look again and confirm with the new current value.",
            t.warn,
        )));
    } else if let Some(m) = &walk.notice {
        // At the form after a dry run or apply: the cluster's refusal, verbatim.
        let denied = step == Step::Edit && m.contains("denied the request");
        lines_after.push(if denied {
            Line::from(Span::styled(
                format!("The cluster refused it: {}", escape(m)),
                t.critical,
            ))
        } else {
            Line::from(Span::styled(escape(m).into_owned(), t.warn))
        });
    }
    if step == Step::Verify
        && let Some(p) = walk.progress.get(crate::flows::proxy::CLUSTER)
    {
        lines_after.push(Line::from(Span::styled(
            format!("status.conditions: {}", escape(p)),
            t.accent,
        )));
    }
    if let Some(r) = &walk.result {
        lines_after.push(match r {
            Ok(m) => Line::from(Span::styled(escape(m).into_owned(), t.ok)),
            Err(m) => Line::from(Span::styled(escape(m).into_owned(), t.critical)),
        });
    }
    if step == Step::Cancelled {
        lines_after.push(Line::from(Span::styled(
            "cancelled: nothing was changed",
            t.dim,
        )));
    }
    if y < bottom {
        let hint_row = bottom - 1;
        let r = Rect::new(inner.x, y, inner.width, hint_row.saturating_sub(y));
        f.render_widget(Paragraph::new(lines_after).wrap(Wrap { trim: false }), r);
        f.render_widget(
            Paragraph::new(Line::from(Span::styled(hints(step), t.key))),
            Rect::new(inner.x, hint_row, inner.width, 1),
        );
    }
}
