//! The console side of `:password` (flows::password on the engine): the new
//! password typed twice in zeroised, masked line editors, the nodes it is
//! for (`t`: marked / a role / all), and the engine walk's keys. The walk's
//! actions go to the runner as `Effect::Password`; their answers come back
//! as `Msg::Password`, so `update` never waits on a node.

use crossterm::event::{KeyCode, KeyEvent};

use super::walk::{TargetChoice, key_event};
use super::{App, Effect, View};
use crate::creds::password::Sensitive;
use crate::flows::Step;
use crate::flows::engine::{Action, ApplyOptions, Event, TargetState, Walk};
use crate::flows::password::{Draft, NodeWork, PasswordChange};
use crate::ui::forms::LineInput;

/// The open `:password` walk.
pub struct PasswordForm {
    pub walk: Walk<PasswordChange>,
    pub choice: TargetChoice,
    /// The new password, then the same again.
    pub inputs: [LineInput; 2],
    pub focus: usize,
    /// The log pane the walk opened beside itself, and whose node it shows.
    pub log_pane: Option<(u64, String)>,
}

impl std::fmt::Debug for PasswordForm {
    // The inputs mask themselves; the walk's draft and work hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordForm")
            .field("step", &self.walk.step)
            .field("targets", &self.walk.targets)
            .field("choice", &self.choice)
            .field("inputs", &self.inputs)
            .finish()
    }
}

pub const FIELDS: [&str; 2] = ["password", "again"];

fn effects(actions: Vec<Action<NodeWork>>) -> Vec<Effect> {
    actions
        .into_iter()
        .map(|a| Effect::Password(super::msg::Once::new(a)))
        .collect()
}

impl PasswordForm {
    fn draft(&self) -> Draft {
        Draft {
            password: Sensitive::new(self.inputs[0].text()),
            again: Sensitive::new(self.inputs[1].text()),
        }
    }
}

impl App {
    /// The nodes `choice` means today; marked falls back to the selected node.
    fn password_targets(&self, choice: TargetChoice) -> Vec<String> {
        let names = choice.pick(&self.rows, &self.table.marked);
        if names.is_empty() && choice == TargetChoice::Marked {
            return self
                .selected_row()
                .map(|r| vec![r.info.name.clone()])
                .unwrap_or_default();
        }
        names
    }

    /// `:password`: a new walk (an unfinished one is kept, not restarted).
    pub fn open_password_form(&mut self) -> Vec<Effect> {
        self.views.truncate(1);
        self.views.push(View::Password);
        if self.password.as_ref().is_some_and(|f| !f.walk.finished()) {
            return Vec::new();
        }
        let targets = self.password_targets(TargetChoice::Marked);
        let (walk, actions) = Walk::new(
            PasswordChange::default(),
            targets,
            Draft::default(),
            ApplyOptions::default(),
            crate::audit::correlation_id(),
        );
        self.password = Some(PasswordForm {
            walk,
            choice: TargetChoice::Marked,
            inputs: Default::default(),
            focus: 0,
            log_pane: None,
        });
        effects(actions)
    }

    /// A key while the `:password` walk is shown.
    pub fn password_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let Some(step) = self.password.as_ref().map(|f| f.walk.step) else {
            return Vec::new();
        };
        if step == Step::Edit {
            match k.code {
                KeyCode::Tab | KeyCode::Down | KeyCode::BackTab | KeyCode::Up => {
                    let f = self.password.as_mut().unwrap();
                    f.focus = 1 - f.focus;
                    return Vec::new();
                }
                KeyCode::Char('t')
                    if k.modifiers.is_empty()
                        || k.modifiers == crossterm::event::KeyModifiers::SHIFT =>
                {
                    // `t` would be typed into the password otherwise: it
                    // chooses targets only while both fields are empty.
                    let f = self.password.as_ref().unwrap();
                    if f.inputs.iter().all(|i| i.text().is_empty()) {
                        let choice = f.choice.next();
                        let targets = self.password_targets(choice);
                        let f = self.password.as_mut().unwrap();
                        f.choice = choice;
                        f.walk.targets = targets;
                        return Vec::new();
                    }
                }
                _ => {}
            }
            let f = self.password.as_mut().unwrap();
            let focus = f.focus;
            if f.inputs[focus].key(&k) {
                let draft = f.draft();
                return effects(f.walk.handle(Event::Edited(draft)));
            }
        }
        let f = self.password.as_mut().unwrap();
        if f.walk.finished() && matches!(k.code, KeyCode::Enter | KeyCode::Esc) {
            return self.close_password_form();
        }
        let Some(ev) = key_event(&f.walk, &k) else {
            self.dirty = false;
            return Vec::new();
        };
        let actions = f.walk.handle(ev);
        let mut fx = effects(actions);
        if f.walk.step == Step::Cancelled {
            // Cancelled before apply: nothing was sent; the form closes.
            self.flash = Some(super::Flash {
                error: false,
                text: "password: cancelled, nothing was changed".into(),
            });
            fx.extend(self.close_password_form());
            return fx;
        }
        fx.extend(self.password_log_follows());
        fx
    }

    fn close_password_form(&mut self) -> Vec<Effect> {
        let opened = self
            .password
            .take()
            .and_then(|f| f.log_pane)
            .map(|(id, _)| id);
        self.views.truncate(1);
        // The log the walk opened goes with it (its journalctl ends).
        if opened.is_some() && self.logs.pane.as_ref().map(|p| p.id) == opened {
            return super::logpane::close(self);
        }
        Vec::new()
    }

    /// The log pane beside the form shows the node being changed: opened
    /// when the first node applies, moved when the next one does (a pane
    /// the operator opened is left alone).
    fn password_log_follows(&mut self) -> Vec<Effect> {
        let Some(f) = self.password.as_ref() else {
            return Vec::new();
        };
        let Some(node) = f
            .walk
            .states
            .iter()
            .find(|(_, s)| matches!(s, TargetState::Applying | TargetState::Verifying { .. }))
            .map(|(n, _)| n.clone())
        else {
            return Vec::new();
        };
        let ours = f.log_pane.as_ref().map(|(id, _)| *id);
        if f.log_pane.as_ref().is_some_and(|(_, n)| *n == node) {
            return Vec::new();
        }
        match (&self.logs.pane, ours) {
            (None, _) => {}
            (Some(p), Some(id)) if p.id == id => {}
            _ => return Vec::new(),
        }
        let (id, fx) = super::logpane::open_beside(self, vec![node.clone()]);
        if let Some(f) = self.password.as_mut() {
            f.log_pane = Some((id, node));
        }
        fx
    }

    /// An answer for the walk from the runner (a stale one is ignored by the
    /// engine's tickets; one for a closed walk is dropped).
    pub fn password_event(&mut self, ev: Event<PasswordChange>) -> Vec<Effect> {
        let Some(f) = self.password.as_mut() else {
            return Vec::new();
        };
        let mut fx = effects(f.walk.handle(ev));
        fx.extend(self.password_log_follows());
        fx
    }
}
