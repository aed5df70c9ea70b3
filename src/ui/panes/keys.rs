//! `:keys`: the key x node matrix of the nodes read so far. Per node `R` is
//! runtime (~rancher/.ssh/authorized_keys), `P` persisted (/oem), `*` the key
//! harvcred logged in with; drift is named in the last column. Comments and
//! sources are remote text: escaped before the terminal.

use std::collections::BTreeSet;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::app::App;
use crate::creds::keys::{KeyMatrix, KeyRow};
use crate::ui::Theme;
use crate::ui::sanitize::escape;

const LEGEND: &str =
    "R runtime (~rancher/.ssh/authorized_keys)  P persisted (/oem)  * harvcred logged in with it";

/// Lines the view has (header, keys, legend, sources), for scrolling.
pub fn line_count(m: &KeyMatrix) -> usize {
    lines(m, None, &Default::default(), &Theme::default_theme()).len()
}

fn cell(k: &KeyRow, node: &str) -> String {
    let c = &k.nodes[node];
    let mut s = String::new();
    if c.runtime {
        s.push('R');
    }
    if !c.sources.is_empty() {
        s.push('P');
    }
    if c.login {
        s.push('*');
    }
    if s.is_empty() {
        s.push('-');
    }
    s
}

fn pad(s: &str, w: usize) -> String {
    crate::ui::sanitize::pad_to(s, w) + " "
}

/// `cursor`: the key row shown as selected; `marked`: fingerprints marked
/// with `space` (a `✓` after them), what `d` removes.
fn lines(
    m: &KeyMatrix,
    cursor: Option<usize>,
    marked: &BTreeSet<String>,
    t: &Theme,
) -> Vec<Line<'static>> {
    let fp_w = m
        .keys
        .iter()
        .map(|k| escape(&k.fingerprint).chars().count() + if marked.is_empty() { 0 } else { 2 })
        .max()
        .unwrap_or(3)
        .max(3);
    let ty_w = m
        .keys
        .iter()
        .map(|k| escape(&k.key_type).chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    // The comment goes last: drift must not be cut off by a long one.
    let comments: Vec<String> = m
        .keys
        .iter()
        .map(|k| escape(&k.comment).chars().take(60).collect())
        .collect();
    let drifts: Vec<String> = m
        .keys
        .iter()
        .map(|k| {
            let mut marks = k.drift.clone();
            if k.some_nodes_only {
                marks.push("(on some nodes only)".into());
            }
            if marks.is_empty() {
                "-".into()
            } else {
                marks.join(", ")
            }
        })
        .collect();
    let drift_w = drifts
        .iter()
        .map(|d| d.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    // Names are shown escaped: their columns are as wide as the escape.
    let node_w: Vec<usize> = m
        .nodes
        .iter()
        .map(|n| escape(n).chars().count().max(3))
        .collect();
    let mut header = pad("KEY", fp_w) + &pad("TYPE", ty_w);
    for (n, w) in m.nodes.iter().zip(&node_w) {
        header += &pad(&escape(n), *w);
    }
    header += &pad("DRIFT", drift_w);
    header += "COMMENT";
    let mut out = vec![Line::from(Span::styled(header, t.table_header))];
    for (i, ((k, comment), drift)) in m.keys.iter().zip(&comments).zip(&drifts).enumerate() {
        // A `github:USER` entry's fingerprint and an unknown key type are
        // the file's words: escaped like the comment.
        let fp = if marked.contains(&k.fingerprint) {
            format!("{} ✓", escape(&k.fingerprint))
        } else {
            escape(&k.fingerprint).into_owned()
        };
        let mut spans = vec![Span::raw(pad(&fp, fp_w) + &pad(&escape(&k.key_type), ty_w))];
        for (n, w) in m.nodes.iter().zip(&node_w) {
            let c = cell(k, n);
            let style = if c.contains('*') {
                t.accent
            } else if c == "R" || c == "P" {
                t.warn
            } else {
                t.base
            };
            spans.push(Span::styled(pad(&c, *w), style));
        }
        let style = if k.drift.is_empty() { t.dim } else { t.warn };
        spans.push(Span::styled(pad(drift, drift_w), style));
        spans.push(Span::raw(comment.clone()));
        let mut line = Line::from(spans);
        if cursor == Some(i) {
            line = line.patch_style(t.selected);
        }
        out.push(line);
    }
    out.push(Line::from(Span::styled(LEGEND, t.dim)));
    for k in &m.keys {
        for n in &m.nodes {
            for src in &k.nodes[n].sources {
                out.push(Line::from(Span::styled(
                    format!(
                        "{} on {}: {}",
                        escape(&k.fingerprint),
                        escape(n),
                        escape(src)
                    ),
                    t.dim,
                )));
            }
        }
    }
    out
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, t: &Theme) {
    let m = app.key_matrix();
    let mut title = vec![Span::styled(
        format!(" SSH keys ({} on {} nodes) ", m.keys.len(), m.nodes.len()),
        t.title,
    )];
    if m.has_drift() {
        title.push(Span::styled("drift ", t.warn));
    }
    let mut block = Block::bordered()
        .border_style(t.border_focus)
        .title(Line::from(title));
    if !app.read_only {
        block = block.title_bottom(Span::styled(
            "j/k a key · space mark · a add keys · d remove the marked keys, else this one",
            t.dim,
        ));
    }
    if m.nodes.is_empty() {
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
    let cursor = app.keys_view.cursor.min(m.keys.len().saturating_sub(1));
    let all = lines(&m, Some(cursor), &app.keys_view.marked, t);
    let fit = area.height.saturating_sub(2) as usize;
    let start = app.keys_view.offset.min(all.len().saturating_sub(fit));
    f.render_widget(
        Paragraph::new(all.into_iter().skip(start).take(fit).collect::<Vec<_>>()).block(block),
        area,
    );
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::app::keys_view::tests::{K1_FP, K2_FP, K3_FP, with_drift};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    pub fn screen(app: &App) -> Vec<String> {
        let theme = Theme::default_theme();
        let mut term = Terminal::new(TestBackend::new(140, 14)).unwrap();
        term.draw(|f| crate::ui::draw(f, app, &theme)).unwrap();
        let buf = term.backend().buffer();
        crate::ui::buffer_lines(buf)
    }

    fn line_of<'a>(s: &'a [String], fp: &str) -> &'a str {
        s.iter()
            .find(|l| l.contains(fp))
            .unwrap_or_else(|| panic!("{fp} not on screen:\n{}", s.join("\n")))
    }

    #[test]
    fn the_matrix_shows_drift_and_the_login_key_with_comments_escaped() {
        let s = screen(&with_drift());
        let all = s.join("\n");
        assert!(all.contains("SSH keys (3 on 2 nodes) drift"), "{all}");
        let header = s.iter().find(|l| l.contains("KEY")).unwrap();
        assert!(
            header.contains("TYPE") && header.contains("COMMENT"),
            "{header}"
        );
        assert!(header.contains("node1") && header.contains("node2"));
        assert!(!header.contains("node3"), "node3 is not read yet");
        let cells = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        // Logged in with on node1, in both places on both nodes, no drift.
        let k1 = cells(line_of(&s, K1_FP));
        assert_eq!(k1[1..], ["ssh-ed25519", "RP*", "RP", "-", "admin@ops", "│"]);
        let k2 = line_of(&s, K2_FP);
        assert!(k2.contains("runtime only"), "{k2}");
        // The escape is shown, not sent to the terminal.
        assert!(k2.contains("evil\\e[2Jx"), "{k2}");
        assert!(!all.contains('\x1b'));
        let k3 = cells(line_of(&s, K3_FP));
        assert_eq!(k3[2..4], ["-", "P"]);
        assert!(line_of(&s, K3_FP).contains("persisted only"));
        assert!(all.contains("* harvcred logged in with it"));
    }
}
