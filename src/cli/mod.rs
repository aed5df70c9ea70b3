//! Non-interactive commands: one file a verb.

pub mod certs;
pub mod cloudcreds;
pub mod completions;
pub mod keys;
pub mod lab;
pub mod logs;
pub mod password;
pub mod proxy;
pub mod settings;
pub mod status;
pub mod token;
pub mod walk;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "harvcred",
    version,
    about = "A terminal console for the credentials of Harvester HCI clusters",
    long_about = "A terminal console for the credentials of Harvester HCI clusters.\n\n\
        Without a command, opens the console: the API like kubectl (KUBECONFIG, --kubeconfig, \
        --context), the nodes like ssh (~/.ssh/config or --ssh-config, agent, known_hosts) as \
        user rancher."
)]
pub struct Cli {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub console: ConsoleArgs,
    #[command(subcommand)]
    pub command: Option<Commands>,
}

/// How to reach a cluster: like kubectl for the API, like ssh for the nodes.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectArgs {
    /// A lab's folder: shorthand for --kubeconfig DIR/kubeconfig --ssh-config DIR/ssh_config.
    #[arg(long, global = true, value_name = "DIR")]
    pub lab: Option<PathBuf>,
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// ssh_config file for reaching the nodes (default: ~/.ssh/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// User for SSH to the nodes (default: rancher, or ssh_user in config.toml).
    #[arg(long, global = true, value_name = "USER")]
    pub ssh_user: Option<String>,
    /// TOML list of nodes ([[node]] name, address, role) for when the API is down.
    #[arg(long, global = true, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Kubeconfig context of the Rancher holding Harvester cloud credentials
    /// (same kubeconfig; or [rancher] in config.toml).
    #[arg(long, global = true, value_name = "NAME")]
    pub rancher_context: Option<String>,
}

/// How the console looks and what it may do.
#[derive(Debug, Clone, Default, Args)]
pub struct ConsoleArgs {
    /// Hide and refuse every action that changes something.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Colour theme: dark (default), light, monochrome, or one of yours.
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,
}

/// Where the kubeconfig and the ssh_config come from, once --lab is expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub ssh_config: Option<PathBuf>,
}

impl ConnectArgs {
    /// How the nodes are reached: `--ssh-user`, else config.toml's, else
    /// `rancher`; the ssh config [`ConnectArgs::resolve`] gives.
    pub fn ssh_settings(
        &self,
        config: &crate::config::Config,
        paths: &crate::config::Paths,
    ) -> crate::node::SshSettings {
        crate::node::SshSettings::new(
            self.ssh_user
                .clone()
                .or(config.ssh_user.clone())
                .unwrap_or_else(|| "rancher".into()),
            self.resolve().ssh_config,
            paths.runtime_dir.clone(),
        )
    }

    /// Explicit --kubeconfig / --ssh-config win over the ones --lab implies.
    pub fn resolve(&self) -> Connection {
        let lab = self.lab.as_ref().map(crate::lab::layout::LabDir::new);
        Connection {
            kubeconfig: self
                .kubeconfig
                .clone()
                .or_else(|| lab.as_ref().map(|l| l.kubeconfig())),
            context: self.context.clone(),
            ssh_config: self
                .ssh_config
                .clone()
                .or_else(|| lab.as_ref().map(|l| l.ssh_config())),
        }
    }

    /// Where the operator's Rancher is: `--rancher-context` in the cluster's
    /// kubeconfig, else `[rancher]` of config.toml; None when neither says.
    pub fn rancher(&self, config: &crate::config::Config) -> Option<crate::cluster::KubeSettings> {
        let section = config.rancher.as_ref();
        let context = self
            .rancher_context
            .clone()
            .or_else(|| section.map(|r| r.context.clone()))?;
        let kubeconfig = section
            .filter(|_| self.rancher_context.is_none())
            .and_then(|r| r.kubeconfig.clone())
            .or_else(|| self.resolve().kubeconfig);
        Some(crate::cluster::KubeSettings {
            kubeconfig,
            context: Some(context),
        })
    }

    /// Where the Kubernetes API is, from these flags.
    pub fn kube(&self) -> crate::cluster::KubeSettings {
        let c = self.resolve();
        crate::cluster::KubeSettings {
            kubeconfig: c.kubeconfig,
            context: c.context,
        }
    }
}

/// The runtime a command's I/O runs on: small, like the console's.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Run a local Harvester-like lab cluster (real SSH nodes, HTTPS API); needs root.
    Lab(lab::LabArgs),
    /// Credential levels of every node per area, and the cluster settings (exit 0/1/2/3).
    Status(status::StatusArgs),
    /// Every certificate like `kubeadm certs check-expiration`, worst first; renew them (auto-rotate, rotate, fix-kcm).
    Certs(certs::CertsArgs),
    /// Show (and with -f follow) the journal of rke2-server or another unit on nodes.
    Logs(logs::LogsArgs),
    /// Show, check, change (preview, dry run, confirm, verify) or roll back the http-proxy setting.
    Proxy(proxy::ProxyArgs),
    /// Show, check or change additional-ca, ssl-certificates, ssl-parameters, containerd-registry.
    Settings(settings::SettingsArgs),
    /// rancher's SSH keys: the key x node matrix, add and remove without locking anyone out.
    Keys(keys::KeysArgs),
    /// Check or change the rancher password on nodes, now and after reboots (exit 0/1/2/3).
    Password(password::PasswordArgs),
    /// The cluster token: every copy (show), why it is never rotated (rotate), a joining node's fix (fix).
    Token(token::TokenArgs),
    /// Harvester cloud credentials in Rancher: when their tokens expire (show), renew one (exit 0/1/2/3).
    Cloudcreds(cloudcreds::CloudcredsArgs),
    /// Print the shell completion script for bash, zsh or fish.
    Completions(completions::CompletionsArgs),
    /// Print the man page (or write one page per command with --dir).
    Man(completions::ManArgs),
}

/// The console's options from the command line.
pub fn console_options(connect: &ConnectArgs, console: &ConsoleArgs) -> crate::console::Options {
    let c = connect.resolve();
    crate::console::Options {
        kubeconfig: c.kubeconfig,
        context: c.context,
        ssh_config: c.ssh_config,
        ssh_user: connect.ssh_user.clone(),
        inventory: connect.inventory.clone(),
        read_only: console.read_only,
        theme: console.theme.clone(),
        started: std::time::Instant::now(),
    }
}

/// Run a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    // Every command but the two that only print text may come to hold a
    // secret (a password, the token, keys, proxy credentials): no core dumps.
    // Not `lab`: its nodes inherit the limit, and a real node has none; the
    // console it opens disables them itself.
    if !matches!(
        cli.command,
        Some(Commands::Completions(_) | Commands::Man(_) | Commands::Lab(_))
    ) {
        crate::hardening::disable_core_dumps()?;
    }
    match cli.command {
        Some(Commands::Lab(args)) => lab::run(args, &cli.connect, &cli.console),
        Some(Commands::Status(args)) => status::run(args, &cli.connect),
        Some(Commands::Certs(args)) => certs::run(args, &cli.connect, cli.console.read_only),
        Some(Commands::Logs(args)) => logs::run(args, &cli.connect),
        Some(Commands::Proxy(args)) => proxy::run(args, &cli.connect, cli.console.read_only),
        Some(Commands::Settings(args)) => settings::run(args, &cli.connect, cli.console.read_only),
        Some(Commands::Keys(args)) => keys::run(args, &cli.connect, cli.console.read_only),
        Some(Commands::Password(args)) => password::run(args, &cli.connect, cli.console.read_only),
        Some(Commands::Token(args)) => token::run(args, &cli.connect, cli.console.read_only),
        Some(Commands::Cloudcreds(args)) => {
            cloudcreds::run(args, &cli.connect, cli.console.read_only)
        }
        Some(Commands::Completions(args)) => completions::completions(args),
        Some(Commands::Man(args)) => completions::man(args),
        None => crate::console::run(console_options(&cli.connect, &cli.console)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_dir_stands_for_both_configs_and_explicit_flags_win() {
        let cli = Cli::parse_from(["harvcred", "--lab", "/tmp/l", "lab", "status"]);
        let c = cli.connect.resolve();
        assert_eq!(c.kubeconfig.unwrap(), PathBuf::from("/tmp/l/kubeconfig"));
        assert_eq!(c.ssh_config.unwrap(), PathBuf::from("/tmp/l/ssh_config"));

        let cli = Cli::parse_from([
            "harvcred",
            "--lab",
            "/tmp/l",
            "--kubeconfig",
            "/k",
            "lab",
            "status",
        ]);
        assert_eq!(
            cli.connect.resolve().kubeconfig.unwrap(),
            PathBuf::from("/k")
        );
    }

    #[test]
    fn the_rancher_context_comes_from_the_flag_or_the_config_and_none_without() {
        let mut config = crate::config::Config::default();
        let cli = Cli::parse_from(["harvcred", "--lab", "/tmp/l", "status"]);
        assert!(cli.connect.rancher(&config).is_none());
        config.rancher = Some(crate::config::RancherSection {
            context: "r1".into(),
            kubeconfig: Some("/rk".into()),
        });
        let r = cli.connect.rancher(&config).unwrap();
        assert_eq!(
            (r.context.as_deref(), r.kubeconfig),
            (Some("r1"), Some(PathBuf::from("/rk")))
        );
        // The flag names a context of the cluster's own kubeconfig.
        let cli = Cli::parse_from([
            "harvcred",
            "--lab",
            "/tmp/l",
            "--rancher-context",
            "rancher",
            "status",
        ]);
        let r = cli.connect.rancher(&config).unwrap();
        assert_eq!(
            (r.context.as_deref(), r.kubeconfig),
            (Some("rancher"), Some(PathBuf::from("/tmp/l/kubeconfig")))
        );
    }
}
