//! A multi-node change (`flows::engine`) as a form: what it is for, the
//! checks, the per-node preview, each node's state live while it applies,
//! and the per-node summary at the end. Generic over the change; its
//! fields are drawn by the flow above this (`forms`), this draws the walk.
//! Takes whatever area the layout gives it (the log pane of the node being
//! changed goes beside it).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::flows::engine::{Change, TargetState, Walk};
use crate::flows::{Severity, Step};
use crate::ui::Theme;
use crate::ui::sanitize::escape;

fn hints(step: Step) -> &'static str {
    match step {
        Step::Loading => "reading…   ctrl-x cancel",
        Step::Edit => "t targets · enter preview · esc cancel",
        Step::Preview => "enter dry run · esc back to the form · ctrl-x cancel",
        Step::DryRun => "dry run on every node…   esc back · ctrl-x cancel",
        Step::Confirm => "dry run passed.  y apply now · n/esc back · ctrl-x cancel",
        Step::Apply => "applying node by node…   ctrl-x start no further node",
        Step::Verify => "verifying…   ctrl-x stop following (what is applied stays)",
        Step::Done => "r retry the failed nodes · enter/esc close",
        Step::Cancelled => "enter/esc close",
    }
}

fn state_style(s: &TargetState, t: &Theme) -> Style {
    match s {
        TargetState::Pending | TargetState::Skipped(_) => t.dim,
        TargetState::Applying | TargetState::Verifying { .. } => t.accent,
        TargetState::Verified { .. } => t.ok,
        TargetState::Failed(_) => t.critical,
    }
}

/// The lines of the walk (without the flow's own fields), for `width`.
pub fn lines<C: Change>(walk: &Walk<C>, targets_label: &str, t: &Theme) -> Vec<Line<'static>> {
    lines_with(walk, targets_label, true, t)
}

/// `lines`, leaving the problems out when the form shows them at their
/// fields.
pub fn lines_with<C: Change>(
    walk: &Walk<C>,
    targets_label: &str,
    problems: bool,
    t: &Theme,
) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let names = if walk.targets.is_empty() {
        "none".to_string()
    } else {
        escape(&walk.targets.join(" ")).into_owned()
    };
    out.push(Line::from(vec![
        Span::styled("targets  ", t.dim),
        Span::styled(format!("{targets_label}: {names}"), t.base),
    ]));
    for p in walk.problems.iter().filter(|_| problems) {
        let (mark, style) = match p.severity {
            Severity::Error => ("✗", t.critical),
            Severity::Warning => ("!", t.warn),
        };
        out.push(Line::from(Span::styled(
            format!("{mark} {}: {}", p.field, escape(&p.message)),
            style,
        )));
    }
    if !walk.conflict.is_empty() {
        out.push(Line::from(Span::styled(
            "changed meanwhile by someone else:",
            t.warn,
        )));
        for c in &walk.conflict {
            out.push(Line::from(Span::styled(format!("  {}", escape(c)), t.warn)));
        }
    }
    match walk.step {
        Step::Preview | Step::DryRun | Step::Confirm => {
            for p in &walk.plan {
                out.push(Line::from(Span::styled(
                    escape(&p.target).into_owned(),
                    t.accent,
                )));
                for l in &p.preview {
                    out.push(Line::from(Span::styled(format!("  {}", escape(l)), t.base)));
                }
            }
            if let Some(f) = &walk.facts {
                for c in walk.change.consequences(f) {
                    out.push(Line::from(Span::styled(format!("• {}", escape(&c)), t.dim)));
                }
            }
        }
        Step::Apply | Step::Verify | Step::Done => {
            let w = walk
                .states
                .keys()
                .map(|k| escape(k).chars().count())
                .max()
                .unwrap_or(4);
            for (node, s) in &walk.states {
                let mut spans = vec![
                    Span::styled(crate::ui::sanitize::pad_to(&escape(node), w) + "  ", t.base),
                    Span::styled(format!("{:<11}", s.label()), state_style(s, t)),
                ];
                let why = match s {
                    TargetState::Failed(e) | TargetState::Skipped(e) => Some(e.as_str()),
                    TargetState::Verifying { .. } => walk.progress.get(node).map(String::as_str),
                    _ => None,
                };
                if let Some(why) = why {
                    spans.push(Span::styled(format!(" {}", escape(why)), t.dim));
                }
                out.push(Line::from(spans));
            }
        }
        _ => {}
    }
    if let Some(n) = &walk.notice {
        out.push(Line::from(Span::styled(escape(n).into_owned(), t.warn)));
    }
    if let Some(r) = &walk.result {
        out.push(match r {
            Ok(m) => Line::from(Span::styled(format!("done: {}", escape(m)), t.ok)),
            Err(m) => Line::from(Span::styled(escape(m).into_owned(), t.critical)),
        });
    }
    out
}

/// Draws the walk in a bordered box titled with its action and step.
pub fn draw<C: Change>(f: &mut Frame, area: Rect, walk: &Walk<C>, targets_label: &str, t: &Theme) {
    let labels = Labels {
        targets: targets_label,
        ..Labels::default()
    };
    draw_with(f, area, walk, &labels, true, t)
}

/// What a form says about its walk's box.
#[derive(Default)]
pub struct Labels<'a> {
    /// What the targets are called (`marked nodes`).
    pub targets: &'a str,
    /// The title instead of the change's audit action.
    pub name: Option<&'a str>,
    /// A key of the form's own, before the walk's keys in the footer.
    pub hint: Option<&'a str>,
    /// The targets are the form's own (`t` does not choose them).
    pub fixed: bool,
}

/// `draw`, leaving the problems to the fields that show them.
pub fn draw_with<C: Change>(
    f: &mut Frame,
    area: Rect,
    walk: &Walk<C>,
    labels: &Labels,
    problems: bool,
    t: &Theme,
) {
    let name = labels.name.unwrap_or(walk.change.action());
    let title = format!(" {name} · {} ", step_word(walk));
    let mut keys = hints(shown_step(walk));
    if labels.fixed {
        keys = keys.trim_start_matches("t targets · ");
    }
    // `r` only when there is something to retry.
    let retry = walk
        .states
        .values()
        .any(|s| matches!(s, TargetState::Failed(_) | TargetState::Skipped(_)));
    if walk.step == Step::Done && !retry {
        keys = keys.trim_start_matches("r retry the failed nodes · ");
    }
    let hints = match labels.hint {
        Some(h) => format!("{h} · {keys}"),
        None => keys.to_string(),
    };
    let block = Block::bordered()
        .border_style(t.border_focus)
        .title(Span::styled(title, t.title))
        .title_bottom(Span::styled(hints, t.dim))
        .style(t.base);
    f.render_widget(
        Paragraph::new(lines_with(walk, labels.targets, problems, t))
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}

/// The step whose keys apply: an apply whose targets are all applied and
/// some still followed is a verification (ctrl-x stops following).
fn shown_step<C: Change>(walk: &Walk<C>) -> Step {
    let states = || walk.states.values();
    if walk.step == Step::Apply
        && !states().any(|s| matches!(s, TargetState::Applying | TargetState::Pending))
        && states().any(|s| matches!(s, TargetState::Verifying { .. }))
    {
        return Step::Verify;
    }
    walk.step
}

fn step_word<C: Change>(walk: &Walk<C>) -> &'static str {
    match walk.step {
        Step::Loading => "loading",
        Step::Edit => "edit",
        Step::Preview => "preview",
        Step::DryRun => "dry run",
        Step::Confirm => "confirm",
        Step::Apply | Step::Verify => "applying",
        Step::Done => "done",
        Step::Cancelled => "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::engine::{ApplyOptions, Event, Planned, Problem};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    /// Appends a line to /etc/demo on each node.
    struct Demo;

    impl Change for Demo {
        type Draft = String;
        type Facts = ();
        type Work = ();
        fn action(&self) -> &'static str {
            "demo.append"
        }
        fn validate(&self, _: &String, _: &()) -> Vec<Problem> {
            Vec::new()
        }
        fn plan(&self, d: &String, _: &(), ts: &[String]) -> Result<Vec<Planned<()>>, String> {
            Ok(ts
                .iter()
                .map(|t| Planned {
                    target: t.clone(),
                    preview: vec![format!("/etc/demo: append {d:?}")],
                    work: (),
                })
                .collect())
        }
    }

    fn screen(walk: &Walk<Demo>) -> Vec<String> {
        let theme = Theme::default_theme();
        let mut term = Terminal::new(TestBackend::new(60, 9)).unwrap();
        term.draw(|f| draw(f, f.area(), walk, "marked nodes", &theme))
            .unwrap();
        let buf = term.backend().buffer();
        crate::ui::buffer_lines(buf)
    }

    /// What the operator sees: per-node states live, then a per-node summary
    /// that says what to retry.
    #[test]
    fn per_node_states_live_then_a_summary_with_retry() {
        let nodes: Vec<String> = ["node1", "node2", "node3"].map(String::from).into();
        let (mut w, _) = Walk::new(
            Demo,
            nodes,
            "x".into(),
            ApplyOptions {
                keep_going: true,
                ..Default::default()
            },
            "c".into(),
        );
        w.handle(Event::Loaded(()));
        w.handle(Event::Next);
        let preview: Vec<String> = screen(&w)[2..4]
            .iter()
            .map(|l| l.trim_end_matches(['│', ' ']).to_string())
            .collect();
        assert_eq!(preview, ["│node1", "│  /etc/demo: append \"x\""]);
        let dry = w.handle(Event::Next);
        let ticket = match &dry[0] {
            crate::flows::engine::Action::DryRun { ticket, .. } => *ticket,
            a => panic!("{a:?}"),
        };
        for n in ["node1", "node2", "node3"] {
            w.handle(Event::DryRunDone {
                ticket,
                target: n.into(),
                result: Ok(()),
            });
        }
        let a = w.handle(Event::Next);
        let crate::flows::engine::Action::Apply { ticket, .. } = &a[0] else {
            panic!("{a:?}")
        };
        let ticket = *ticket;
        w.handle(Event::Applied {
            ticket,
            target: "node1".into(),
            result: Ok(true),
        });
        w.handle(Event::Progress {
            ticket,
            target: "node1".into(),
            text: "reading it back".into(),
        });
        assert_eq!(
            screen(&w),
            [
                "┌ demo.append · applying ──────────────────────────────────┐",
                "│targets  marked nodes: node1 node2 node3                  │",
                "│node1  verifying   reading it back                        │",
                "│node2  pending                                            │",
                "│node3  pending                                            │",
                "│                                                          │",
                "│                                                          │",
                "│                                                          │",
                "└applying node by node…   ctrl-x start no further node─────┘",
            ]
            .map(String::from)
        );
        w.handle(Event::Verified {
            ticket,
            target: "node1".into(),
            result: Ok(()),
        });
        w.handle(Event::Applied {
            ticket,
            target: "node2".into(),
            result: Err("connection lost".into()),
        });
        w.handle(Event::Applied {
            ticket,
            target: "node3".into(),
            result: Ok(false),
        });
        w.handle(Event::Verified {
            ticket,
            target: "node3".into(),
            result: Ok(()),
        });
        let s = screen(&w);
        assert_eq!(
            s[0],
            "┌ demo.append · done ──────────────────────────────────────┐"
        );
        assert_eq!(
            s[2],
            "│node1  verified                                           │"
        );
        assert_eq!(
            s[3],
            "│node2  failed      apply: connection lost                 │"
        );
        assert_eq!(
            s[4],
            "│node3  already so                                         │"
        );
        assert!(
            s[5].contains("1 changed, 1 already so, failed: node2"),
            "{s:#?}"
        );
        assert!(s[8].contains("r retry the failed nodes"), "{s:#?}");

        // node2 retried and verified: nothing is left to retry, so `r` is
        // no longer offered.
        let again = w.handle(Event::Retry(None));
        let ticket = match again
            .iter()
            .find(|a| matches!(a, crate::flows::engine::Action::Apply { .. }))
        {
            Some(crate::flows::engine::Action::Apply { ticket, .. }) => *ticket,
            _ => panic!("no apply: {again:?}"),
        };
        w.handle(Event::Applied {
            ticket,
            target: "node2".into(),
            result: Ok(true),
        });
        w.handle(Event::Verified {
            ticket,
            target: "node2".into(),
            result: Ok(()),
        });
        let s = screen(&w).join("\n");
        assert!(s.contains("demo.append · done"), "{s}");
        assert!(s.contains("enter/esc close"), "{s}");
        assert!(!s.contains("r retry"), "{s}");
    }
}
