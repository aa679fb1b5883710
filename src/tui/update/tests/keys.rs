//! Every key goes through the keymap: rebinding a tab jump, a filter key or
//! a label key in the note editor changes what the console does.

use super::*;
use crate::tui::keymap::Keymap;
use crate::tui::update::queue::contains_folded;
use std::collections::BTreeMap;

fn rebound(pairs: &[(&str, &str)]) -> Keymap {
    let o: BTreeMap<String, Vec<String>> = pairs
        .iter()
        .map(|(a, k)| (a.to_string(), vec![k.to_string()]))
        .collect();
    Keymap::with_overrides(&o).unwrap()
}

fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

#[test]
fn tab_jumps_come_from_the_keymap() {
    let (mut s, keys) = loaded();
    update(&mut s, key('2'), &keys);
    assert_eq!(s.detail.tab, Tab::Diff);
    assert!(s.detail.review.panes.contains(&Tab::Diff));
    let keys = rebound(&[("tab_evidence", "E")]);
    update(&mut s, key('E'), &keys);
    assert_eq!(s.detail.tab, Tab::Evidence);
    update(&mut s, key('3'), &keys);
    assert_eq!(s.detail.tab, Tab::Evidence, "3 is no longer bound");
    update(&mut s, key('5'), &keys);
    assert_eq!(s.detail.tab, Tab::History, "the others keep their keys");
}

#[test]
fn filter_keys_come_from_the_keymap() {
    let (mut s, _) = loaded();
    let keys = rebound(&[("filter_done", "tab"), ("filter_clear", "ctrl-g")]);
    update(&mut s, key('/'), &keys);
    for c in "WS-2".chars() {
        update(&mut s, key(c), &keys);
    }
    assert_eq!(s.queue.rows, ["p-2"], "case-insensitive");
    update(&mut s, code(KeyCode::Enter), &keys);
    assert!(s.queue.filtering, "Enter is not bound in the filter now");
    update(&mut s, code(KeyCode::Tab), &keys);
    assert!(!s.queue.filtering);
    assert_eq!(s.queue.filter, "WS-2");
    update(&mut s, key('/'), &keys);
    update(&mut s, ctrl('g'), &keys);
    assert!(!s.queue.filtering);
    assert!(s.queue.filter.is_empty());
    assert_eq!(s.queue.rows.len(), 3);
}

#[test]
fn label_keys_in_the_note_editor_come_from_the_keymap() {
    let (mut s, _) = loaded();
    let keys = rebound(&[("label_benign", "ctrl-y"), ("cancel", "ctrl-q")]);
    update(&mut s, key('n'), &keys);
    update(&mut s, ctrl('y'), &keys);
    update(&mut s, ctrl('f'), &keys);
    let Some(Dialog::Annotate { labels, .. }) = &s.dialog else {
        panic!("{:?}", s.dialog)
    };
    assert_eq!(
        labels.iter().copied().collect::<Vec<_>>(),
        [Label::FalsePositive, Label::Benign]
    );
    // Esc is no longer Cancel; the rebound key is.
    update(&mut s, code(KeyCode::Esc), &keys);
    assert!(s.dialog.is_some());
    update(&mut s, ctrl('q'), &keys);
    assert!(s.dialog.is_none());
}

#[test]
fn a_dialog_is_edited_where_it_is() {
    let (mut s, keys) = loaded();
    update(&mut s, key('r'), &keys);
    shown(&mut s, &keys);
    for c in "x".chars() {
        update(&mut s, key(c), &keys);
    }
    update(&mut s, code(KeyCode::Enter), &keys);
    let Some(Dialog::Reason { editor, error, .. }) = &s.dialog else {
        panic!("{:?}", s.dialog)
    };
    assert_eq!(editor.lines(), ["x"], "the text survives a refused submit");
    assert!(error.is_some());
    update(&mut s, key('y'), &keys);
    let Some(Dialog::Reason { editor, error, .. }) = &s.dialog else {
        panic!("{:?}", s.dialog)
    };
    assert_eq!(editor.lines(), ["xy"]);
    assert!(error.is_none(), "typing clears the error");
}

#[test]
fn esc_dismisses_the_message_line() {
    let (mut s, keys) = loaded();
    update(&mut s, key('s'), &keys);
    assert!(s.session.flash.is_some());
    update(&mut s, code(KeyCode::Esc), &keys);
    assert!(s.session.flash.is_none());
}

#[test]
fn folded_matching_without_allocation_agrees_with_lowercasing() {
    let cases = [
        ("Cobalt Strike beacon", "strike", true),
        ("WS-0412", "ws-04", true),
        ("ws-0412", "ws-05", false),
        ("Überprüfung", "über", true),
        ("ÜBERPRÜFUNG", "prüf", true),
        ("abc", "", true),
        ("", "a", false),
    ];
    for (hay, needle, want) in cases {
        assert_eq!(contains_folded(hay, needle), want, "{hay} / {needle}");
        assert_eq!(
            hay.to_lowercase().contains(needle),
            want,
            "{hay} / {needle}"
        );
    }
}
