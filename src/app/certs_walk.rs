//! The console forms of the four certificate changes (`flows::certs`) on
//! the generic engine form: auto-rotation (`:autorotate`, `a` in `:certs`),
//! rotate now through Rancher (`:rotate`, `R`), rotate nodes by hand
//! (`:rotate-node`, `N`), and the controller-manager/scheduler fix
//! (`:fix-kcm`, `F`). Their walks run on the console's walk thread with
//! the command line's I/O (`cli::certs`), connected there.

use std::time::Duration;

use super::engine_form::{Field, FieldInput, FormSpec};
use super::runner::{ConsoleChange, WalkSetup};
use super::walk::TargetChoice;
use crate::cli::certs::{
    AutoRotateIo, CertsEnv, FixKcmIo, RotateClusterIo, RotateNodeIo, connect_env,
};
use crate::cluster::rotation::AUTO_ROTATE;
use crate::flows::certs::{
    AutoRotateChange, AutoRotateDraft, CLUSTER_TARGET, FixKcmChange, RotateClusterChange,
    RotateNodeChange, RotateNodeDraft,
};

fn line(fields: &[Field], i: usize) -> String {
    match fields.get(i).map(|f| &f.input) {
        Some(FieldInput::Line { input, .. }) => input.text().to_string(),
        _ => String::new(),
    }
}

/// `:autorotate`: Harvester's `auto-rotate-rke2-certs`.
pub struct AutoRotateForm;

impl FormSpec for AutoRotateForm {
    type Change = AutoRotateChange;
    const NAME: &'static str = "auto-rotate";

    fn title(&self) -> String {
        " auto-rotate-rke2-certs: enable on/off, expiringInHours 1..8759 (empty keeps it) ".into()
    }
    fn fields(&self) -> Vec<Field> {
        vec![Field::line("enable"), Field::line("expiringInHours")]
    }
    fn change(&self) -> AutoRotateChange {
        AutoRotateChange
    }
    fn draft(&self, fields: &[Field], _: TargetChoice) -> AutoRotateDraft {
        AutoRotateDraft::from_text(&line(fields, 0), &line(fields, 1))
    }
    fn cluster_target(&self) -> Option<(&'static str, String)> {
        Some(("setting", AUTO_ROTATE.to_string()))
    }
}

/// `:rotate`: rotate now, cluster-wide, through Rancher's planner.
pub struct RotateNowForm;

impl FormSpec for RotateNowForm {
    type Change = RotateClusterChange;
    const NAME: &'static str = "rotate now";

    fn title(&self) -> String {
        " rotate every node's RKE2 certificates now ".into()
    }
    fn fields(&self) -> Vec<Field> {
        Vec::new()
    }
    fn change(&self) -> RotateClusterChange {
        RotateClusterChange
    }
    fn draft(&self, _: &[Field], _: TargetChoice) {}
    fn cluster_target(&self) -> Option<(&'static str, String)> {
        Some(("cluster", CLUSTER_TARGET.to_string()))
    }
}

/// `:rotate-node`: `rke2 certificate rotate` on the chosen nodes, one at a time.
pub struct RotateNodeForm;

impl FormSpec for RotateNodeForm {
    type Change = RotateNodeChange;
    const NAME: &'static str = "rotate node";

    fn title(&self) -> String {
        " rotate by hand: services (rke2 certificate rotate --service; empty: all) ".into()
    }
    fn fields(&self) -> Vec<Field> {
        vec![Field::line("service")]
    }
    fn change(&self) -> RotateNodeChange {
        RotateNodeChange
    }
    fn draft(&self, fields: &[Field], _: TargetChoice) -> RotateNodeDraft {
        RotateNodeDraft {
            services: line(fields, 0)
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

/// `:fix-kcm`: new controller-manager/scheduler certificates on the chosen servers.
pub struct FixKcmForm;

impl FormSpec for FixKcmForm {
    type Change = FixKcmChange;
    const NAME: &'static str = "fix-kcm";

    fn title(&self) -> String {
        " replace expired self-signed controller-manager/scheduler certificates ".into()
    }
    fn fields(&self) -> Vec<Field> {
        Vec::new()
    }
    fn change(&self) -> FixKcmChange {
        FixKcmChange
    }
    fn draft(&self, _: &[Field], _: TargetChoice) {}
}

/// How long a walk follows the cluster after the change (the command
/// line's `--timeout` default).
const FOLLOW: Duration = Duration::from_secs(900);

/// The certificate I/O for a console walk: its own API client and pool on
/// the walk thread, the day thresholds of config.toml.
async fn env(setup: WalkSetup, walk: String) -> Result<std::sync::Arc<CertsEnv>, String> {
    let paths = crate::config::Paths::from_env();
    let thresholds = crate::config::Config::load(&paths.config_file())
        .map(|c| c.certificates)
        .unwrap_or_default();
    connect_env(
        &setup.kube,
        setup.ssh,
        setup.state_dir,
        FOLLOW,
        thresholds,
        walk,
        true,
    )
    .await
}

impl ConsoleChange for AutoRotateChange {
    type Io = AutoRotateIo;
    async fn connect(
        setup: WalkSetup,
        _: Vec<String>,
        walk: String,
        _: AutoRotateDraft,
    ) -> Result<AutoRotateIo, String> {
        Ok(AutoRotateIo(env(setup, walk).await?))
    }
}

/// Every node is swept first: expired leaves are warned about, and at the
/// end each node's leaves are compared with what they were.
impl ConsoleChange for RotateClusterChange {
    type Io = RotateClusterIo;
    async fn connect(
        setup: WalkSetup,
        _: Vec<String>,
        walk: String,
        _: (),
    ) -> Result<RotateClusterIo, String> {
        Ok(RotateClusterIo::swept(env(setup, walk).await?).await)
    }
}

impl ConsoleChange for RotateNodeChange {
    type Io = RotateNodeIo;
    async fn connect(
        setup: WalkSetup,
        _: Vec<String>,
        walk: String,
        _: RotateNodeDraft,
    ) -> Result<RotateNodeIo, String> {
        Ok(RotateNodeIo(env(setup, walk).await?))
    }
}

impl ConsoleChange for FixKcmChange {
    type Io = FixKcmIo;
    async fn connect(
        setup: WalkSetup,
        targets: Vec<String>,
        walk: String,
        _: (),
    ) -> Result<FixKcmIo, String> {
        Ok(FixKcmIo::new(env(setup, walk).await?, targets))
    }
}
