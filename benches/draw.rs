//! Drawing one frame of the node table with 500 nodes: the cost the frame
//! tick pays whenever something changed. Target: at most 5 ms a frame (T8 of
//! reference/reliability-and-performance.md, the frame budget also used for
//! the log pane). `cargo bench --bench draw` judges it (exit 1 when missed);
//! under `cargo test` it smoke-runs with 50 nodes.

mod common;

use common::{Verdict, median_time, sized};
use criterion::Criterion;
use harvcred::app::*;
use harvcred::ui::{self, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn app(nodes: usize, w: u16, h: u16) -> App {
    let mut app = App::new(Setup {
        read_only: false,
        inventory: Vec::new(),
        kube: Ok(()),
        notice: None,
        theme: "dark".into(),
    });
    app.update(Msg::Resize {
        width: w,
        height: h,
    });
    app.update(Msg::ApiContext {
        context: "bench".into(),
        server: "https://10.0.0.1:6443/".into(),
    });
    let list = (0..nodes)
        .map(|i| NodeInfo {
            name: format!("node{i}"),
            role: if i < 3 { Role::Server } else { Role::Worker },
            address: Some(format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256)),
            ready: Some(i % 7 != 0),
        })
        .collect();
    app.update(Msg::NodesListed(list));
    for i in 0..nodes {
        let state = if i % 5 == 0 {
            SshState::Down(SshProblem {
                kind: SshProblemKind::Timeout,
                detail: "no answer".into(),
            })
        } else {
            SshState::Up { latency_ms: 3 }
        };
        app.update(Msg::Ssh {
            node: format!("node{i}"),
            state,
        });
    }
    // Somewhere in the middle, as after scrolling.
    for _ in 0..250 {
        app.update(Msg::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char('j'),
            crossterm::event::KeyModifiers::NONE,
        )));
    }
    app
}

/// Frame budget in milliseconds (T8).
const FRAME_MS: f64 = 5.0;

fn bench(c: &mut Criterion, verdict: &mut Verdict) {
    let theme = Theme::default_theme();
    let nodes = sized(500, 50);
    for (w, h) in [(80u16, 24u16), (120, 40)] {
        let a = app(nodes, w, h);
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        let name = format!("frame {nodes} nodes {w}x{h}");
        c.bench_function(&name, |b| {
            b.iter(|| {
                t.draw(|f| ui::draw(f, &a, &theme)).unwrap();
            })
        });
        let frame = median_time(sized(200, 3), || {
            t.draw(|f| ui::draw(f, &a, &theme)).unwrap();
        });
        verdict.at_most(&name, frame.as_secs_f64() * 1e3, FRAME_MS, "ms");
    }
    let mut a = app(nodes, 120, 40);
    c.bench_function(
        &format!("update: one SSH result among {nodes} nodes"),
        |b| {
            b.iter(|| {
                a.update(Msg::Ssh {
                    node: "node25".into(),
                    state: SshState::Up { latency_ms: 2 },
                })
            })
        },
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut verdict = Verdict::new();
    bench(&mut c, &mut verdict);
    c.final_summary();
    verdict.finish("draw");
}
