//! Turns `Effect`s into tokio tasks; their results come back as `Msg`s on the
//! same channel the keys use. Nothing here touches `App`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::Sender;
use tokio::task::JoinHandle;

use super::{ApiProblemKind, ApiState, Effect, Msg, Target};
use crate::cluster::{self, KubeSettings};
use crate::node::Pool;

pub struct Runner {
    tx: Sender<Msg>,
    kube: KubeSettings,
    state_dir: PathBuf,
    pool: Arc<Pool>,
    probe_every: Duration,
    watch: Option<JoinHandle<()>>,
    probes: HashMap<String, (Target, JoinHandle<()>)>,
}

impl Runner {
    pub fn new(
        tx: Sender<Msg>,
        kube: KubeSettings,
        state_dir: PathBuf,
        pool: Arc<Pool>,
        probe_every: Duration,
    ) -> Runner {
        Runner {
            tx,
            kube,
            state_dir,
            pool,
            probe_every,
            watch: None,
            probes: HashMap::new(),
        }
    }

    pub fn run(&mut self, e: Effect) {
        match e {
            Effect::WatchNodes => {
                if self.watch.is_some() {
                    return;
                }
                let (tx, kube) = (self.tx.clone(), self.kube.clone());
                self.watch = Some(tokio::spawn(async move {
                    match cluster::connect(&kube).await {
                        Ok((client, context, server)) => {
                            let _ = tx.send(Msg::ApiContext { context, server }).await;
                            cluster::watch_nodes(client, tx).await;
                        }
                        Err(p) => {
                            tracing::warn!("API: {}", p.detail);
                            let state = if p.kind == ApiProblemKind::Config {
                                ApiState::NotConfigured(p.detail)
                            } else {
                                ApiState::Down(p)
                            };
                            let _ = tx.send(Msg::ApiState(state)).await;
                        }
                    }
                }));
            }
            Effect::LoadCache { context } => {
                let (tx, dir) = (self.tx.clone(), self.state_dir.clone());
                tokio::spawn(async move {
                    let r =
                        tokio::task::spawn_blocking(move || cluster::load_cache(&dir, &context))
                            .await;
                    if let Ok(Ok(nodes)) = r {
                        let _ = tx.send(Msg::CacheLoaded(nodes)).await;
                    }
                });
            }
            Effect::SaveCache { context, nodes } => {
                let (tx, dir) = (self.tx.clone(), self.state_dir.clone());
                tokio::spawn(async move {
                    let r = tokio::task::spawn_blocking(move || {
                        cluster::save_cache(&dir, &context, &nodes)
                    })
                    .await;
                    if let Ok(Err(e)) = r {
                        tracing::warn!("saving node cache: {e:#}");
                        let _ = tx
                            .send(Msg::Flash {
                                error: true,
                                text: format!("could not save the node list cache: {e}"),
                            })
                            .await;
                    }
                });
            }
            Effect::Track(targets) => self.track(targets),
            Effect::Quit => {}
        }
    }

    /// One probe loop per node; a node whose address changed gets a new one.
    fn track(&mut self, targets: Vec<Target>) {
        let keep: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        let gone: Vec<String> = self
            .probes
            .keys()
            .filter(|n| !keep.contains(&n.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some((_, h)) = self.probes.remove(&name) {
                h.abort();
            }
            let pool = self.pool.clone();
            tokio::spawn(async move { pool.forget(&name).await });
        }
        for t in targets {
            if let Some((old, h)) = self.probes.get(&t.name) {
                if *old == t {
                    continue;
                }
                h.abort();
            }
            let (tx, pool, every) = (self.tx.clone(), self.pool.clone(), self.probe_every);
            let target = t.clone();
            let h = tokio::spawn(async move {
                if target.address.is_some() {
                    // The address changed: the old connection may point elsewhere.
                    pool.forget(&target.name).await;
                }
                loop {
                    let state = pool.probe(&target).await;
                    if tx
                        .send(Msg::Ssh {
                            node: target.name.clone(),
                            state,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                    tokio::time::sleep(every).await;
                }
            });
            self.probes.insert(t.name.clone(), (t, h));
        }
    }

    /// Stop every task and close the SSH masters (bounded, so quitting never hangs).
    pub async fn shutdown(mut self) {
        if let Some(w) = self.watch.take() {
            w.abort();
        }
        for (_, (_, h)) in self.probes.drain() {
            h.abort();
        }
        let _ = tokio::time::timeout(Duration::from_secs(3), self.pool.close_all()).await;
    }
}
