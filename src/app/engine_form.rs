//! The console form of any engine walk (`flows::engine`): the change's
//! fields (zeroised masked lines, plain lines, pasted multi-line text, or
//! none), the nodes it is for (`t`: marked / a role / all), the walk's keys
//! (`app::walk`), and beside it the log pane of the node being changed. The
//! per-node states, preview, summary and retry are the engine's, drawn by
//! `ui::panes::walk`.
//!
//! A flow adds one [`FormSpec`] (its fields and how they make its draft)
//! and one `runner::ConsoleChange` (how its I/O connects). The walk's
//! actions go to the runner as `Effect::Walk` and its answers come back as
//! `Msg::Walk`, both type-erased, so `update` never waits on a node and no
//! flow adds a message, an effect or a field to `App`.

use std::any::Any;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use zeroize::Zeroizing;

use super::msg::Once;
use super::runner::{ConsoleChange, WalkAction, WalkRequest};
use super::walk::{TargetChoice, key_event};
use super::{App, Effect, Flash, View};
use crate::flows::Step;
use crate::flows::engine::{Action, ApplyOptions, Change, Event, TargetState, Walk};
use crate::ui::Theme;
use crate::ui::forms::{LineInput, MultiLineInput};

type Draft<S> = <<S as FormSpec>::Change as Change>::Draft;

/// How a one-line field shows what is typed.
#[derive(Clone, Copy)]
pub enum Shown {
    Typed,
    /// `•` instead of each character (a password).
    Dots,
    /// Through a mask that hides only the secret part (a URL's password);
    /// `ctrl-r` shows the focused field in clear until focus moves.
    Masked(fn(&str) -> String),
}

/// What a field holds and how it is edited.
pub enum FieldInput {
    /// One line, zeroised, shown as `shown` says.
    Line { input: LineInput, shown: Shown },
    /// Several lines (pasted public keys, PEM bundles), shown as typed.
    Text(Box<MultiLineInput>),
    /// Several lines that are a secret (a pasted private key): never shown,
    /// only what `summary` says of them (`3 lines, EC PRIVATE KEY`).
    SecretText {
        input: Box<MultiLineInput>,
        summary: fn(&str) -> String,
    },
}

/// One field of a form; `name` is also the `Problem::field` shown at it.
pub struct Field {
    pub name: &'static str,
    pub input: FieldInput,
}

impl std::fmt::Debug for Field {
    // The inputs never show their text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.input {
            FieldInput::Line { input, .. } => write!(f, "{}: {input:?}", self.name),
            FieldInput::Text(input) | FieldInput::SecretText { input, .. } => {
                write!(f, "{}: {input:?}", self.name)
            }
        }
    }
}

impl Field {
    /// A masked one-line field (a password).
    pub fn secret(name: &'static str) -> Field {
        Field {
            name,
            input: FieldInput::Line {
                input: LineInput::default(),
                shown: Shown::Dots,
            },
        }
    }

    /// A one-line field shown as typed (a file path).
    pub fn line(name: &'static str) -> Field {
        Field {
            name,
            input: FieldInput::Line {
                input: LineInput::default(),
                shown: Shown::Typed,
            },
        }
    }

    /// A one-line field shown through `mask` (a URL with credentials).
    pub fn masked_by(name: &'static str, mask: fn(&str) -> String) -> Field {
        Field {
            name,
            input: FieldInput::Line {
                input: LineInput::default(),
                shown: Shown::Masked(mask),
            },
        }
    }

    /// The field holding `text` (filled from what the walk read).
    pub fn set(&mut self, text: &str) {
        match &mut self.input {
            FieldInput::Line { input, .. } => *input = LineInput::new(text),
            FieldInput::Text(input) | FieldInput::SecretText { input, .. } => {
                **input = MultiLineInput::new(text)
            }
        }
    }

    /// A multi-line field holding a secret, shown only as `summary` says.
    pub fn secret_text(name: &'static str, summary: fn(&str) -> String) -> Field {
        Field {
            name,
            input: FieldInput::SecretText {
                input: Box::default(),
                summary,
            },
        }
    }

    /// A multi-line field (pasted text).
    pub fn text(name: &'static str) -> Field {
        Field {
            name,
            input: FieldInput::Text(Box::default()),
        }
    }

    pub fn is_empty(&self) -> bool {
        match &self.input {
            FieldInput::Line { input, .. } => input.text().is_empty(),
            FieldInput::Text(input) | FieldInput::SecretText { input, .. } => input.is_empty(),
        }
    }

    /// What was typed (lines joined with `\n`), wiped when dropped.
    pub fn value(&self) -> Zeroizing<String> {
        match &self.input {
            FieldInput::Line { input, .. } => Zeroizing::new(input.text().to_string()),
            FieldInput::Text(input) | FieldInput::SecretText { input, .. } => input.value(),
        }
    }

    /// Edits for a key; true when the key was an edit.
    fn key(&mut self, k: &KeyEvent) -> bool {
        match &mut self.input {
            FieldInput::Line { input, .. } => input.key(k),
            FieldInput::Text(input) | FieldInput::SecretText { input, .. } => input.key(k),
        }
    }

    fn paste(&mut self, text: &str) {
        match &mut self.input {
            FieldInput::Text(input) | FieldInput::SecretText { input, .. } => input.paste(text),
            // One line: what is pasted goes in as typed, line breaks dropped.
            FieldInput::Line { input, .. } => {
                for c in text.chars().filter(|c| !c.is_control()) {
                    input.key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
                }
            }
        }
    }
}

/// What a flow says about its console form. One impl per form.
pub trait FormSpec: 'static {
    type Change: ConsoleChange;
    /// The view's title and the first word of its flash lines (`password`).
    const NAME: &'static str;
    /// The title of the box around the fields.
    fn title(&self) -> String;
    /// The fields, empty, in the order they are shown.
    fn fields(&self) -> Vec<Field>;
    fn change(&self) -> Self::Change;
    /// The draft the fields and the chosen nodes make.
    fn draft(&self, fields: &[Field], choice: TargetChoice) -> Draft<Self>;
    /// Whether what the walk read depends on the draft and must be read
    /// again before this draft can be previewed (`loaded`: the draft the
    /// walk loaded with).
    fn reload(&self, _loaded: &Draft<Self>, _now: &Draft<Self>) -> bool {
        false
    }
    /// A change of one object the form does not choose (a setting, the
    /// provisioning Cluster, the node of a detail view): what to call it
    /// and its one target; `t` does not change it.
    fn fixed_target(&self) -> Option<(&'static str, String)> {
        None
    }
    /// What the walk's box is titled by instead of the change's audit
    /// action (the object a fixed-target change changes).
    fn walk_name(&self) -> Option<&'static str> {
        None
    }
    /// Once the walk has read its targets: fills `fields` from what it read
    /// (the value being changed), true if it did; the form then edits it.
    fn fill(&self, _fields: &mut [Field], _walk: &Walk<Self::Change>) -> bool {
        false
    }
    /// At Done: a walk that may follow this one (a rollback), on a key.
    fn follow_up(&self, _walk: &Walk<Self::Change>) -> Option<FollowUp<Self>>
    where
        Self: Sized,
    {
        None
    }
    /// A change of the whole cluster that names no node while it applies
    /// (RKE2 restarts everywhere): a management node's log goes beside it.
    fn logs_a_management_node(&self) -> bool {
        false
    }
    /// Lines shown under the fields (what the form leaves alone, and why).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// The lines under the fields as they are now (what was typed, listed);
    /// [`FormSpec::notes`] unless the form says more.
    fn notes_for(&self, _fields: &[Field]) -> Vec<String> {
        self.notes()
    }
}

/// A walk offered once one is done: `key` opens the form of `spec` over
/// the same targets (its fields as `spec` gives them).
pub struct FollowUp<S> {
    pub key: char,
    /// The footer's word for it (`u roll back …`).
    pub hint: &'static str,
    pub spec: S,
}

/// An open form of flow `S`.
pub struct EngineForm<S: FormSpec> {
    pub spec: S,
    pub walk: Walk<S::Change>,
    pub choice: TargetChoice,
    pub fields: Vec<Field>,
    pub focus: usize,
    /// The focused masked field is shown in clear (ctrl-r).
    pub reveal: bool,
    /// The log pane the walk opened beside itself, and whose node it shows.
    pub log_pane: Option<(u64, String)>,
    /// The draft the walk's nodes were read with.
    loaded_with: Draft<S>,
    /// `enter` was pressed while the nodes were read again: preview once read.
    next_when_loaded: bool,
    /// Everything the verifications said, in order (the walk keeps only
    /// each target's last word): a rotation followed node by node.
    pub followed: Vec<String>,
    /// How many lines `followed` is scrolled back from its newest (pgup/pgdn).
    pub followed_back: usize,
}

impl<S: FormSpec> std::fmt::Debug for EngineForm<S> {
    // The walk's draft and work may hold secrets; the fields mask themselves.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineForm")
            .field("name", &S::NAME)
            .field("step", &self.walk.step)
            .field("targets", &self.walk.targets)
            .field("choice", &self.choice)
            .field("fields", &self.fields)
            .finish()
    }
}

/// What a key did to an open form.
pub enum FormKey {
    Effects(Vec<Effect>),
    /// Not a key of the form at this step.
    Unused,
    /// The finished walk is closed.
    Close,
    /// Cancelled before apply: nothing was sent; the form closes.
    Cancelled(Vec<Effect>),
}

/// An open form whatever its flow: what `App` routes to.
pub trait OpenForm: std::fmt::Debug {
    fn name(&self) -> &'static str;
    fn walk_id(&self) -> &str;
    fn step(&self) -> Step;
    fn finished(&self) -> bool {
        matches!(self.step(), Step::Done | Step::Cancelled)
    }
    fn targets(&self) -> &[String];
    /// The node being applied or verified now.
    fn busy_node(&self) -> Option<String>;
    /// The nodes an apply was started on (changed, or maybe in part).
    fn applied_nodes(&self) -> Vec<String>;
    fn log_pane(&self) -> Option<&(u64, String)>;
    /// [`FormSpec::logs_a_management_node`].
    fn logs_a_management_node(&self) -> bool;
    fn set_log_pane(&mut self, pane: Option<(u64, String)>);
    /// A key; `pick` gives the nodes a target choice means now.
    fn key(&mut self, k: &KeyEvent, pick: &dyn Fn(TargetChoice) -> Vec<String>) -> FormKey;
    /// An answer from the runner (an `Event` of the form's change).
    fn answer(&mut self, ev: Box<dyn Any + Send>) -> Vec<Effect>;
    fn paste(&mut self, text: &str) -> Vec<Effect>;
    fn draw(&self, f: &mut Frame, area: Rect, t: &Theme);
    /// For tests: the `EngineForm<S>` underneath.
    fn as_any(&self) -> &dyn Any;
}

impl<S: FormSpec> EngineForm<S> {
    /// A new form over `targets`, and its walk's first actions (read the nodes).
    pub fn new(spec: S, choice: TargetChoice, targets: Vec<String>) -> (Self, Vec<Effect>) {
        let fields = spec.fields();
        let draft = spec.draft(&fields, choice);
        let (walk, actions) = new_walk(spec.change(), targets, draft.clone());
        let form = EngineForm {
            spec,
            walk,
            choice,
            fields,
            focus: 0,
            reveal: false,
            log_pane: None,
            loaded_with: draft,
            next_when_loaded: false,
            followed: Vec::new(),
            followed_back: 0,
        };
        let fx = form.effects(actions);
        (form, fx)
    }

    fn draft(&self) -> Draft<S> {
        self.spec.draft(&self.fields, self.choice)
    }

    /// What the targets are called on the form: the chosen nodes, or the
    /// cluster's object.
    pub fn targets_label(&self) -> String {
        match self.spec.fixed_target() {
            Some((label, _)) => label.to_string(),
            None => self.choice.label(),
        }
    }

    /// The walk's actions as effects for the runner; a `Load` carries the
    /// draft it reads with.
    fn effects(&self, actions: Vec<Action<<S::Change as Change>::Work>>) -> Vec<Effect> {
        actions
            .into_iter()
            .map(|action| {
                let draft = matches!(action, Action::Load).then(|| self.loaded_with.clone());
                let request: Box<dyn WalkAction> =
                    Box::new(WalkRequest::<S::Change> { action, draft });
                Effect::Walk {
                    walk: self.walk.correlation_id.clone(),
                    targets: self.walk.targets.clone(),
                    action: Once::new(request),
                }
            })
            .collect()
    }

    /// A new walk over `targets` from the draft as it is: its nodes are read
    /// afresh (answers for the walk before are dropped).
    fn restart(&mut self, targets: Vec<String>) -> Vec<Effect> {
        let draft = self.draft();
        let (walk, actions) = new_walk(self.spec.change(), targets, draft.clone());
        self.walk = walk;
        self.loaded_with = draft;
        self.effects(actions)
    }

    fn handle(&mut self, ev: Event<S::Change>) -> Vec<Effect> {
        if let Event::Progress { text, .. } = &ev {
            if self.followed.len() >= FOLLOWED_KEPT {
                self.followed.remove(0);
            }
            self.followed.push(text.clone());
        }
        let was_loading = self.walk.step == Step::Loading;
        let actions = self.walk.handle(ev);
        let mut fx = self.effects(actions);
        if was_loading
            && self.walk.step == Step::Edit
            && self.spec.fill(&mut self.fields, &self.walk)
        {
            // What is shown is what is sent.
            let draft = self.draft();
            let actions = self.walk.handle(Event::Edited(draft));
            fx.extend(self.effects(actions));
        }
        if self.next_when_loaded && self.walk.step != Step::Loading {
            self.next_when_loaded = false;
            if self.walk.step == Step::Edit {
                fx.extend(self.handle(Event::Next));
            }
        }
        fx
    }

    /// The walk `spec` offered once this one was done, over the same
    /// targets, beside the same log pane.
    fn follow(&mut self, spec: S) -> Vec<Effect> {
        self.fields = spec.fields();
        self.spec = spec;
        self.focus = 0;
        self.reveal = false;
        self.followed.clear();
        self.followed_back = 0;
        self.next_when_loaded = false;
        let targets = self.walk.targets.clone();
        self.restart(targets)
    }

    /// What a one-line field shows now (wiped when dropped: it may be
    /// revealed, or typed in a field shown as typed).
    pub fn shown(&self, i: usize) -> Zeroizing<String> {
        let Some(FieldInput::Line { input, shown }) = self.fields.get(i).map(|f| &f.input) else {
            return Zeroizing::default();
        };
        Zeroizing::new(match shown {
            Shown::Typed => input.text().to_string(),
            Shown::Dots => "•".repeat(input.text().chars().count()),
            Shown::Masked(_) if self.reveal && self.focus == i => input.text().to_string(),
            Shown::Masked(mask) => mask(input.text()),
        })
    }

    fn on_text_field(&self) -> Option<&MultiLineInput> {
        match self.fields.get(self.focus).map(|f| &f.input) {
            Some(FieldInput::Text(t) | FieldInput::SecretText { input: t, .. }) => Some(t),
            _ => None,
        }
    }

    fn edit_key(
        &mut self,
        k: &KeyEvent,
        pick: &dyn Fn(TargetChoice) -> Vec<String>,
    ) -> Option<FormKey> {
        let text = self.on_text_field();
        // In a multi-line field `enter` adds a line, except on an empty last
        // line after some text: then it goes on to the preview.
        let enter_goes_on = text.is_none_or(|t| !t.is_empty() && t.at_empty_last_line());
        let arrows_move_focus = text.is_none();
        let n = self.fields.len();
        match k.code {
            KeyCode::Tab | KeyCode::Down
                if n > 1 && (k.code == KeyCode::Tab || arrows_move_focus) =>
            {
                self.focus = (self.focus + 1) % n;
                self.reveal = false;
                return Some(FormKey::Effects(Vec::new()));
            }
            KeyCode::BackTab | KeyCode::Up
                if n > 1 && (k.code == KeyCode::BackTab || arrows_move_focus) =>
            {
                self.focus = (self.focus + n - 1) % n;
                self.reveal = false;
                return Some(FormKey::Effects(Vec::new()));
            }
            // `t` would be typed into a field otherwise: it chooses the
            // nodes only while every field is empty.
            KeyCode::Char('t')
                if (k.modifiers.is_empty() || k.modifiers == KeyModifiers::SHIFT)
                    && self.fields.iter().all(Field::is_empty)
                    && self.spec.fixed_target().is_none() =>
            {
                self.choice = self.choice.next();
                let targets = pick(self.choice);
                return Some(FormKey::Effects(self.restart(targets)));
            }
            KeyCode::Char('r') if k.modifiers == KeyModifiers::CONTROL => {
                let revealable = self.fields.get(self.focus).is_some_and(|f| {
                    matches!(
                        f.input,
                        FieldInput::Line {
                            shown: Shown::Masked(_),
                            ..
                        }
                    )
                });
                self.reveal = revealable && !self.reveal;
                return Some(FormKey::Effects(Vec::new()));
            }
            KeyCode::Enter if enter_goes_on => {
                let draft = self.draft();
                if self.spec.reload(&self.loaded_with, &draft) {
                    // Read again with this draft, then preview.
                    let targets = self.walk.targets.clone();
                    let fx = self.restart(targets);
                    self.next_when_loaded = true;
                    return Some(FormKey::Effects(fx));
                }
                return None;
            }
            _ => {}
        }
        let focus = self.focus;
        if self.fields.get_mut(focus).is_some_and(|f| f.key(k)) {
            let draft = self.draft();
            return Some(FormKey::Effects(self.handle(Event::Edited(draft))));
        }
        None
    }
}

/// Lines of [`EngineForm::followed`] kept (the newest).
const FOLLOWED_KEPT: usize = 500;

fn new_walk<C: ConsoleChange>(
    change: C,
    targets: Vec<String>,
    draft: C::Draft,
) -> (Walk<C>, Vec<Action<C::Work>>) {
    Walk::new(
        change,
        targets,
        draft,
        ApplyOptions::default(),
        crate::audit::correlation_id(),
    )
}

impl<S: FormSpec> OpenForm for EngineForm<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }
    fn walk_id(&self) -> &str {
        &self.walk.correlation_id
    }
    fn step(&self) -> Step {
        self.walk.step
    }
    fn targets(&self) -> &[String] {
        &self.walk.targets
    }
    fn busy_node(&self) -> Option<String> {
        let target = self
            .walk
            .states
            .iter()
            .find(|(_, s)| matches!(s, TargetState::Applying | TargetState::Verifying { .. }))
            .map(|(n, _)| n.clone())?;
        if self.spec.fixed_target().is_none() {
            return Some(target);
        }
        // A change of the cluster goes through the nodes: the one its
        // progress names (`node2: …`, `  node2 | …`), if it names one (the
        // caller keeps only names of nodes).
        let named = self.walk.progress.get(&target).and_then(|text| {
            let word = text.trim_start().split([':', ' ']).next()?;
            (!word.is_empty()).then(|| word.to_string())
        });
        Some(named.unwrap_or(target))
    }
    fn applied_nodes(&self) -> Vec<String> {
        self.walk
            .targets_in(|s| matches!(s, TargetState::Verified { .. } | TargetState::Failed(_)))
    }
    fn log_pane(&self) -> Option<&(u64, String)> {
        self.log_pane.as_ref()
    }
    fn set_log_pane(&mut self, pane: Option<(u64, String)>) {
        self.log_pane = pane;
    }
    fn logs_a_management_node(&self) -> bool {
        self.spec.logs_a_management_node()
    }

    fn key(&mut self, k: &KeyEvent, pick: &dyn Fn(TargetChoice) -> Vec<String>) -> FormKey {
        if self.walk.step == Step::Edit
            && let Some(done) = self.edit_key(k, pick)
        {
            return done;
        }
        if self.walk.step == Step::Done
            && let Some(next) = self.spec.follow_up(&self.walk)
            && k.code == KeyCode::Char(next.key)
            && k.modifiers.is_empty()
        {
            return FormKey::Effects(self.follow(next.spec));
        }
        // pgup/pgdn scroll what the verifications said, 10 lines a press.
        if !self.followed.is_empty() && matches!(k.code, KeyCode::PageUp | KeyCode::PageDown) {
            let most = self.followed.len().saturating_sub(1);
            self.followed_back = if k.code == KeyCode::PageUp {
                (self.followed_back + 10).min(most)
            } else {
                self.followed_back.saturating_sub(10)
            };
            return FormKey::Effects(Vec::new());
        }
        if self.walk.finished() && matches!(k.code, KeyCode::Enter | KeyCode::Esc) {
            return FormKey::Close;
        }
        let Some(ev) = key_event(&self.walk, k) else {
            return FormKey::Unused;
        };
        let fx = self.handle(ev);
        if self.walk.step == Step::Cancelled {
            return FormKey::Cancelled(fx);
        }
        FormKey::Effects(fx)
    }

    fn answer(&mut self, ev: Box<dyn Any + Send>) -> Vec<Effect> {
        match ev.downcast::<Event<S::Change>>() {
            Ok(ev) => self.handle(*ev),
            Err(_) => Vec::new(),
        }
    }

    fn paste(&mut self, text: &str) -> Vec<Effect> {
        if self.walk.step != Step::Edit {
            return Vec::new();
        }
        let focus = self.focus;
        let Some(field) = self.fields.get_mut(focus) else {
            return Vec::new();
        };
        field.paste(text);
        let draft = self.draft();
        self.handle(Event::Edited(draft))
    }

    fn draw(&self, f: &mut Frame, area: Rect, t: &Theme) {
        crate::ui::panes::engine_form::draw(f, area, self, t);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl App {
    /// The nodes `choice` means today; marked falls back to the selected node.
    fn form_targets(&self, choice: TargetChoice) -> Vec<String> {
        let names = choice.pick(&self.rows, &self.table.marked);
        if names.is_empty() && choice == TargetChoice::Marked {
            return self
                .selected_row()
                .map(|r| vec![r.info.name.clone()])
                .unwrap_or_default();
        }
        names
    }

    /// Opens flow `S`'s form over the marked nodes (else the selected one),
    /// above the view in front. An unfinished walk is shown again instead,
    /// not restarted: one walk at a time.
    pub fn open_form<S: FormSpec>(&mut self, spec: S) -> Vec<Effect> {
        if let Some(open) = self.form.as_ref().filter(|f| !f.finished()) {
            let name = open.name();
            if name != S::NAME {
                self.flash = Some(Flash {
                    error: true,
                    text: format!(
                        "the {name} walk is still open: finish it or cancel it (ctrl-x) first"
                    ),
                });
            }
            self.views.retain(|v| !matches!(v, View::Walk(_)));
            self.views.push(View::Walk(name));
            return Vec::new();
        }
        let fx = self.close_form();
        let targets = match spec.fixed_target() {
            Some((_, target)) => vec![target],
            None => self.form_targets(TargetChoice::Marked),
        };
        let (form, mut open) = EngineForm::new(spec, TargetChoice::Marked, targets);
        self.form = Some(Box::new(form));
        self.views.push(View::Walk(S::NAME));
        open.extend(fx);
        open
    }

    /// A key while a form is shown.
    pub(super) fn form_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let Some(mut form) = self.form.take() else {
            return Vec::new();
        };
        let was = form.step();
        let done = form.key(&k, &|c| self.form_targets(c));
        let name = form.name();
        self.form = Some(form);
        match done {
            FormKey::Unused => {
                self.dirty = false;
                Vec::new()
            }
            FormKey::Close => self.close_form(),
            FormKey::Cancelled(mut fx) => {
                self.flash = Some(Flash {
                    error: false,
                    text: format!("{name}: cancelled, nothing was changed"),
                });
                fx.extend(self.close_form());
                fx
            }
            FormKey::Effects(mut fx) => {
                fx.extend(self.form_moved(was));
                fx
            }
        }
    }

    /// An answer for the open walk from the runner (a stale one is ignored
    /// by the engine's tickets; one for a closed or earlier walk is dropped).
    pub(super) fn form_answer(&mut self, walk: &str, ev: Box<dyn Any + Send>) -> Vec<Effect> {
        let Some(form) = self.form.as_mut().filter(|f| f.walk_id() == walk) else {
            return Vec::new();
        };
        let was = form.step();
        let mut fx = form.answer(ev);
        fx.extend(self.form_moved(was));
        fx
    }

    /// Text pasted while a form is shown goes into its focused field.
    pub(super) fn form_paste(&mut self, text: &str) -> Vec<Effect> {
        let shown = matches!(self.view(), View::Walk(_));
        match self.form.as_mut().filter(|_| shown) {
            Some(form) => form.paste(text),
            None => {
                self.dirty = false;
                Vec::new()
            }
        }
    }

    fn close_form(&mut self) -> Vec<Effect> {
        let opened = self
            .form
            .take()
            .and_then(|f| f.log_pane().map(|(id, _)| *id));
        // Back to the view the form was opened from.
        self.views.retain(|v| !matches!(v, View::Walk(_)));
        if self.views.is_empty() {
            self.views.push(View::Nodes);
        }
        let mut fx = Vec::new();
        // `:token` shows each node's joining state, read when it opens: a
        // token fix changed it.
        if self.view() == &View::Token {
            fx.extend(self.open_token_view());
        }
        // The log the walk opened goes with it (its journalctl ends).
        if opened.is_some() && self.logs.pane.as_ref().map(|p| p.id) == opened {
            fx.extend(super::logpane::close(self));
        }
        fx
    }

    /// After the walk moved: the log pane follows the node being changed,
    /// and when the walk ends the nodes it applied to are read again, so
    /// the views show the result.
    fn form_moved(&mut self, was: Step) -> Vec<Effect> {
        let mut fx = self.form_log_follows();
        let Some(form) = self.form.as_ref() else {
            return fx;
        };
        if was != Step::Done && form.step() == Step::Done {
            let applied = form.applied_nodes();
            // A change of the cluster (applied, but to no node): every node.
            let cluster =
                !applied.is_empty() && !self.rows.iter().any(|r| applied.contains(&r.info.name));
            let targets: Vec<super::Target> = self
                .rows
                .iter()
                .filter(|r| cluster || applied.contains(&r.info.name))
                .map(Self::target)
                .collect();
            fx.extend(self.start_sweep(targets));
        }
        fx
    }

    /// The log pane beside the form shows the node being changed: opened
    /// when the first node applies, moved when the next one does (a pane
    /// the operator opened is left alone).
    fn form_log_follows(&mut self) -> Vec<Effect> {
        let Some(form) = self.form.as_ref() else {
            return Vec::new();
        };
        let node = match form.busy_node() {
            Some(n) if self.row(&n).is_some() => n,
            Some(_) if form.logs_a_management_node() => {
                // Servers first, reachable first.
                let mut rows: Vec<&super::NodeRow> = self.rows.iter().collect();
                rows.sort_by_key(|r| (r.info.role != super::Role::Server, !r.ssh.is_up()));
                match rows.first() {
                    Some(r) => r.info.name.clone(),
                    None => return Vec::new(),
                }
            }
            _ => return Vec::new(),
        };
        let ours = form.log_pane().map(|(id, _)| *id);
        if form.log_pane().is_some_and(|(_, n)| *n == node) {
            return Vec::new();
        }
        match (&self.logs.pane, ours) {
            (None, _) => {}
            (Some(p), Some(id)) if p.id == id => {}
            _ => return Vec::new(),
        }
        let (id, fx) = super::logpane::open_beside(self, vec![node.clone()]);
        if let Some(form) = self.form.as_mut() {
            form.set_log_pane(Some((id, node)));
        }
        fx
    }

    /// The open form as flow `S`'s (tests and views that know the flow).
    pub fn form_of<S: FormSpec>(&self) -> Option<&EngineForm<S>> {
        self.form.as_ref()?.as_any().downcast_ref()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::app::Msg;

    /// The walk requests of change `C` among `fx`, with the nodes each is for.
    pub fn walk_requests<C: ConsoleChange>(fx: &[Effect]) -> Vec<(Vec<String>, WalkRequest<C>)> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Walk {
                    targets, action, ..
                } => {
                    let request = action
                        .take()?
                        .into_any()
                        .downcast::<WalkRequest<C>>()
                        .ok()?;
                    Some((targets.clone(), *request))
                }
                _ => None,
            })
            .collect()
    }

    /// The walk actions of change `C` among `fx`, with the nodes each is for.
    pub fn walk_actions<C: ConsoleChange>(fx: &[Effect]) -> Vec<(Vec<String>, Action<C::Work>)> {
        walk_requests::<C>(fx)
            .into_iter()
            .map(|(t, r)| (t, r.action))
            .collect()
    }

    /// Answers every node request among `fx` with success, and the ones
    /// those answers bring, until none is left. Every effect seen on the
    /// way is returned.
    pub fn all_nodes_succeed<C: ConsoleChange>(app: &mut App, fx: Vec<Effect>) -> Vec<Effect> {
        let walk = app.form.as_ref().expect("a form").walk_id().to_string();
        let mut seen = Vec::new();
        let mut todo = fx;
        while !todo.is_empty() {
            let mut next = Vec::new();
            for (_, a) in walk_actions::<C>(&todo) {
                let ev = match a {
                    Action::DryRun { ticket, target, .. } => Event::DryRunDone {
                        ticket,
                        target,
                        result: Ok(()),
                    },
                    Action::Apply { ticket, target, .. } => Event::Applied {
                        ticket,
                        target,
                        result: Ok(true),
                    },
                    Action::Verify { ticket, target, .. } => Event::Verified {
                        ticket,
                        target,
                        result: Ok(()),
                    },
                    _ => continue,
                };
                next.extend(walk_answer::<C>(app, &walk, ev));
            }
            seen.append(&mut todo);
            todo = next;
        }
        seen
    }

    /// The runner's answer `ev` for walk `walk`.
    pub fn walk_answer<C: ConsoleChange>(app: &mut App, walk: &str, ev: Event<C>) -> Vec<Effect> {
        app.update(Msg::Walk {
            walk: walk.into(),
            event: Once::new(Box::new(ev)),
        })
    }
}
