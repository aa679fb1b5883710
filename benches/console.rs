//! The console under load, printed as figures: 100,000 queued items and a
//! 5,000-line policy diff. Frame render time, key-press-to-frame, the
//! one-off diff computation, resident memory, and a bare ratatui `List` of
//! the same rows for comparison.
//!
//! `cargo bench --bench console` (env: BENCH_ITEMS, BENCH_DIFF_LINES, BENCH_FRAMES).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops at a broken set-up"
)]

use countersign::api::AlertDetail;
use countersign::api::QueueResponse;
use countersign::domain::digest;
use countersign::domain::machine::Approval;
use countersign::domain::records::{AlertRecord, ProposalRecord, ProposalSummary, QueueItem};
use countersign::domain::types::{ActionKind, EntityKind, ProposalStatus, Risk, Severity};
use countersign::server::store::{QueuePage, View};
use countersign::tui::event::Msg;
use countersign::tui::keymap::Keymap;
use countersign::tui::state::State;
use countersign::tui::theme::Theme;
use countersign::tui::update::update;
use countersign::tui::views::render;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::widgets::{List, ListItem, ListState};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

mod common;
use common::{env_num, percentile};

const NOW: i64 = 1_800_000_000_000;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.to_owned())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn policy(lines: usize, extra: bool) -> String {
    let mut actions: Vec<String> = (0..lines)
        .map(|i| format!("svc{}:Action{i}", i % 40))
        .collect();
    if extra {
        for i in (0..lines).step_by(250) {
            actions[i] = format!("iam:PassRole{i}");
        }
        actions.push("*".into());
    }
    serde_json::to_string(
        &json!({"Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}),
    )
    .unwrap()
}

/// Feeds `n` items made by `make` in pages of 1,000 as the server sends
/// them (`more` on all but the last).
fn load(s: &mut State, n: usize, make: &dyn Fn(usize) -> QueueItem, keys: &Keymap) {
    for start in (0..n).step_by(1000) {
        let page: Vec<QueueItem> = (start..(start + 1000).min(n)).map(make).collect();
        let msg = Msg::Queue {
            view: View::Pending,
            after: 1,
            result: Ok(QueueResponse {
                page: QueuePage {
                    items: page,
                    gone: vec![],
                    cursor: 0,
                    more: start + 1000 < n,
                },
                counts: Default::default(),
            }),
            now: NOW,
        };
        update(s, msg, keys);
    }
}

fn stats(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    (mean, percentile(&ms, 0.5), percentile(&ms, 0.99))
}

fn main() {
    let n = env_num("BENCH_ITEMS", 100_000) as usize;
    let diff_lines = env_num("BENCH_DIFF_LINES", 5_000) as usize;
    let frames = env_num("BENCH_FRAMES", 300) as usize;
    let (w, h) = (200, 50);
    println!(
        "countersign console benchmark: {n} queued items, {diff_lines}-line policy diff, {w}x{h} frames"
    );
    let base_rss = rss_mb();

    // The queue, delivered as the server would page it.
    let keys = Keymap::default();
    let mut s = State::new(
        "alice".into(),
        "SHA256:bench".into(),
        "http://bench".into(),
        NOW,
    );
    let alert_doc = json!({"external_id": "x", "title": "t", "summary": {"text": "s", "model": "m", "confidence": 0.5}, "evidence": []});
    let risks = [Risk::Low, Risk::Medium, Risk::High, Risk::Critical];
    let make = |i: usize| QueueItem {
        proposal: ProposalSummary {
            id: format!("{i:08}-0000-7000-8000-000000000000"),
            alert_id: format!("a{i:08}"),
            action: ActionKind::IsolateHost,
            target: format!("ws-{i:06}.corp.example"),
            risk: risks[i % 4],
            status: ProposalStatus::Pending,
            digest: format!("sha256:{:064x}", i),
            proposed_by: "bot".into(),
            approvals: vec![],
            escalated_by: None,
            decided_by: None,
            reason: None,
            created_at: NOW - (i as i64) * 1000,
            expires_at: NOW + 3_600_000 + (i as i64),
            execute_by: None,
            claimed_by: None,
            claim_until: None,
            change_seq: i as i64,
            rule: "defaults".into(),
            sample: None,
            groupable: false,
            needs: None,
        },
        alert_title: format!("Suspicious activity {i}"),
        severity: Severity::High,
        source: "edr".into(),
        entity_kind: EntityKind::Host,
        entity_id: format!("ws-{i:06}"),
        confidence: (i % 100) as f64 / 100.0,
        noted: false,
    };
    // Pages of 1,000 as the server sends them; `more` on all but the last.
    let started = Instant::now();
    load(&mut s, n, &make, &keys);
    println!(
        "initial load of {n} items in 1,000-item pages (one sort)    {:>8.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    println!("resident memory with the queue loaded: {:.0} MB", rss_mb());

    // The selected proposal carries the big diff; its alert is "loaded".
    let sel = s.queue.rows[0].clone();
    let sel_item = s.queue.items[&sel].clone();
    let document = json!({"action": "modify_policy", "target": "role", "risk": "critical", "rationale": "r",
        "permission_change": {"format": "json", "before": policy(diff_lines, false), "after": policy(diff_lines, true)}});
    let record = ProposalRecord {
        id: sel.clone(),
        alert_id: sel_item.proposal.alert_id.clone(),
        index: 0,
        action: ActionKind::ModifyPolicy,
        target: "role".into(),
        risk: sel_item.proposal.risk,
        declared_risk: sel_item.proposal.risk,
        assessment: None,
        status: ProposalStatus::Pending,
        digest: digest::proposal_digest(&alert_doc, &document).unwrap(),
        document,
        proposed_by: "bot".into(),
        rule: "r".into(),
        approvals: Vec::<Approval>::new(),
        escalated_by: None,
        escalated_by_key: None,
        decided_by: None,
        reason: None,
        created_at: NOW,
        updated_at: NOW,
        expires_at: NOW + 3_600_000,
        escalate_at: None,
        execute_by: None,
        decided_at: None,
        sample: None,
        amended: None,
        contain_until: None,
        claimed_by: None,
        claim_until: None,
        change_seq: 0,
    };
    let detail = Arc::new(AlertDetail {
        alert: AlertRecord {
            id: record.alert_id.clone(),
            external_id: "x".into(),
            agent: "bot".into(),
            source: "edr".into(),
            severity: Severity::High,
            title: "t".into(),
            entity_kind: EntityKind::Host,
            entity_id: "h".into(),
            confidence: 0.5,
            revision: 1,
            created_at: NOW,
            updated_at: NOW,
            document: alert_doc.clone(),
        },
        digest: digest::alert_digest(&alert_doc).unwrap(),
        notes: vec![],
        proposals: vec![record],
        history: vec![],
    });
    let t0 = Instant::now();
    update(
        &mut s,
        Msg::Detail {
            alert_id: detail.alert.id.clone(),
            result: Ok(detail.clone()),
        },
        &keys,
    );
    println!(
        "diff of {diff_lines} lines computed once on load (similar)        {:>8.1} ms",
        t0.elapsed().as_secs_f64() * 1000.0
    );
    let diff_rows = s.detail.diffs.values().next().map_or(0, |d| d.rows.len());

    let theme = Theme::default();
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    let key = |c: char| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    update(&mut s, key('2'), &keys); // diff tab open

    // Frame render time, diff tab open.
    let mut frame_ms = Vec::new();
    for _ in 0..frames {
        let t = Instant::now();
        term.draw(|f| render(f, &s, &theme, &keys)).unwrap();
        frame_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (mean, p50, p99) = stats(frame_ms);
    println!(
        "frame render, diff tab ({diff_rows} diff rows)              mean {mean:.2} ms  p50 {p50:.2} ms  p99 {p99:.2} ms  (target <= 4 ms)"
    );

    // Key press to frame: scroll the diff and move through the queue.
    let mut kp = Vec::new();
    for i in 0..frames {
        let t = Instant::now();
        let c = match i % 4 {
            0 => 'J',
            1 => 'K',
            2 => 'j',
            _ => 'k',
        };
        update(&mut s, key(c), &keys);
        term.draw(|f| render(f, &s, &theme, &keys)).unwrap();
        kp.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (mean, p50, p99) = stats(kp);
    println!(
        "key press -> frame (update + draw)                   mean {mean:.2} ms  p50 {p50:.2} ms  p99 {p99:.2} ms  (target <= 16 ms)"
    );
    let diffs_after = s.detail.diffs.len();

    // A bare ratatui List of the same rows, built per frame as a simple app would.
    let mut list_ms = Vec::new();
    let mut ls = ListState::default();
    ls.select(Some(0));
    for _ in 0..frames.min(100) {
        let t = Instant::now();
        term.draw(|f| {
            let rows: Vec<ListItem> = s
                .queue
                .rows
                .iter()
                .filter_map(|id| s.queue.items.get(id))
                .map(|i| {
                    ListItem::new(format!(
                        "{} {} {} {}",
                        i.severity, i.proposal.risk, i.proposal.action, i.proposal.target
                    ))
                })
                .collect();
            f.render_stateful_widget(List::new(rows), f.area(), &mut ls);
        })
        .unwrap();
        list_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (lmean, _, lp99) = stats(list_ms);
    let (ours, _, _) = {
        let mut v = Vec::new();
        update(&mut s, key('1'), &keys);
        for _ in 0..frames {
            let t = Instant::now();
            term.draw(|f| render(f, &s, &theme, &keys)).unwrap();
            v.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        stats(v)
    };
    println!(
        "bare ratatui List of the same {n} rows                mean {lmean:.2} ms  p99 {lp99:.2} ms"
    );
    println!(
        "countersign frame (summary tab) vs that List         {ours:.2} ms = {:.3}x its frame time (target <= 2x)",
        ours / lmean
    );
    println!("diffs computed: {diffs_after} (once per proposal, not per frame)");
    println!(
        "resident memory: {:.0} MB (process), {:.0} MB above start  (target <= 200 MB)",
        rss_mb(),
        rss_mb() - base_rss
    );
    groups(n, frames, w, h, ours, &make, &keys);
}

/// The same number of items, all groupable, from 500 agents: 500 group
/// rows. Load, frame and key press against the one-row-per-item figures.
fn groups(
    n: usize,
    frames: usize,
    w: u16,
    h: u16,
    ungrouped_frame: f64,
    make: &dyn Fn(usize) -> QueueItem,
    keys: &Keymap,
) {
    const GROUPS: usize = 500;
    let mut s = State::new(
        "alice".into(),
        "SHA256:bench".into(),
        "http://bench".into(),
        NOW,
    );
    s.session.size = (w, h);
    let started = Instant::now();
    load(
        &mut s,
        n,
        &|i| {
            let mut it = make(i);
            it.proposal.risk = Risk::Low;
            it.proposal.action = ActionKind::BlockIndicator;
            it.proposal.proposed_by = format!("bot-{:03}", i % GROUPS);
            it.proposal.groupable = true;
            it
        },
        keys,
    );
    println!(
        "\n{n} items in {} groups: initial load (one sort + grouping) {:>8.0} ms",
        s.queue.groups.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let key = |c: char| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    let t = Instant::now();
    update(&mut s, key('s'), keys);
    println!(
        "re-sort of the grouped queue (key s)                 {:>8.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let theme = Theme::default();
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    let mut frame_ms = Vec::new();
    for _ in 0..frames {
        let t = Instant::now();
        term.draw(|f| render(f, &s, &theme, keys)).unwrap();
        frame_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (mean, _, p99) = stats(frame_ms);
    println!(
        "frame render, group sheet open ({} members)          mean {mean:.2} ms  p99 {p99:.2} ms  (target <= 4 ms; one row per item: {ungrouped_frame:.2} ms)",
        s.selected_group().map_or(0, |g| g.members.len())
    );
    let mut kp = Vec::new();
    for i in 0..frames {
        let t = Instant::now();
        update(&mut s, key(if i % 2 == 0 { 'j' } else { 'k' }), keys);
        term.draw(|f| render(f, &s, &theme, keys)).unwrap();
        kp.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (mean, _, p99) = stats(kp);
    println!(
        "key press -> frame across group rows                 mean {mean:.2} ms  p99 {p99:.2} ms  (target <= 16 ms)"
    );
}
