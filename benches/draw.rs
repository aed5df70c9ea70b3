//! Drawing one frame of the node table with 500 nodes: the cost the frame
//! tick pays whenever something changed.

use criterion::{Criterion, criterion_group, criterion_main};
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

fn bench(c: &mut Criterion) {
    let theme = Theme::default_theme();
    for (w, h) in [(80u16, 24u16), (120, 40)] {
        let a = app(500, w, h);
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        c.bench_function(&format!("frame 500 nodes {w}x{h}"), |b| {
            b.iter(|| {
                t.draw(|f| ui::draw(f, &a, &theme)).unwrap();
            })
        });
    }
    let mut a = app(500, 120, 40);
    c.bench_function("update: one SSH result among 500 nodes", |b| {
        b.iter(|| {
            a.update(Msg::Ssh {
                node: "node250".into(),
                state: SshState::Up { latency_ms: 2 },
            })
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
