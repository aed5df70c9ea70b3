//! The `:certs` view's state: every certificate of every node read so far,
//! worst first, narrowed by the view's own filter and scrolled.

use crossterm::event::KeyCode;

use super::certs_walk::{AutoRotateForm, FixKcmForm, RotateNodeForm, RotateNowForm};
use super::{App, Effect, Flash, NodeSweep};
use crate::creds::certs::{CertAssessment, sort_with_nodes};

/// The view's own state: the first row on screen and its own filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertsView {
    pub offset: usize,
    pub filter: String,
}

impl App {
    /// The rows the view shows (filtered, worst first) and how many there are in all.
    pub fn cert_rows(&self) -> (Vec<(String, CertAssessment)>, usize) {
        let mut all: Vec<(String, CertAssessment)> = Vec::new();
        for (node, s) in &self.sweeps {
            if let NodeSweep::Done(r) = s {
                all.extend(r.certs.iter().map(|c| (node.clone(), c.clone())));
            }
        }
        if let Some(c) = &self.cluster {
            all.extend(c.certs.iter().map(|c| ("cluster".to_string(), c.clone())));
        }
        let total = all.len();
        let f = self.certs.filter.to_lowercase();
        if !f.is_empty() {
            all.retain(|(node, a)| {
                node.to_lowercase().contains(&f)
                    || a.cert.path.to_lowercase().contains(&f)
                    || a.cert.subject.to_lowercase().contains(&f)
                    || a.level.as_str().contains(&f)
            });
        }
        sort_with_nodes(&mut all);
        (all, total)
    }

    /// Rows of the list on screen: the body between header and status line,
    /// less the borders and the column header.
    fn certs_page(&self) -> usize {
        crate::ui::full_body_rows(self.size.0, self.size.1).max(1)
    }

    /// Scrolling keys of the view; false when the key is not one of them.
    pub(super) fn key_certs(&mut self, code: KeyCode, ctrl: bool) -> bool {
        let page = self.certs_page();
        let lines = self.cert_rows().0.len();
        super::scroll(&mut self.certs.offset, code, ctrl, page, lines)
    }

    /// A certificate change's form, by its key in `:certs` (`a` auto-rotation,
    /// `R` rotate now, `N` rotate nodes by hand, `F` the controller-manager/
    /// scheduler fix), also the target of `:autorotate`, `:rotate`,
    /// `:rotate-node` and `:fix-kcm`. Closing it comes back to `:certs`.
    pub(super) fn open_certs_form(&mut self, key: char) -> Vec<Effect> {
        if self.read_only {
            self.flash = Some(Flash {
                error: true,
                text: "certificate changes change the cluster: refused in read-only mode".into(),
            });
            return Vec::new();
        }
        if self.form.as_ref().is_none_or(|f| f.finished()) {
            self.views.truncate(1);
            self.views.push(super::View::Certs);
        }
        match key {
            'a' => self.open_form(AutoRotateForm),
            'R' => self.open_form(RotateNowForm),
            'N' => self.open_form(RotateNodeForm::default()),
            _ => self.open_form(FixKcmForm::default()),
        }
    }

    /// `N` (rotate by hand) or `F` (the controller-manager/scheduler fix) in
    /// a node's details: for that node alone; closing comes back to it.
    pub(super) fn open_node_certs_form(&mut self, key: char, node: String) -> Vec<Effect> {
        if self.read_only {
            self.flash = Some(Flash {
                error: true,
                text: "certificate changes change the cluster: refused in read-only mode".into(),
            });
            return Vec::new();
        }
        let node = Some(node);
        match key {
            'N' => self.open_form(RotateNodeForm { node }),
            _ => self.open_form(FixKcmForm { node }),
        }
    }
}
