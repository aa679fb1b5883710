//! The review console: a full-screen, keyboard-first terminal UI.
//!
//! Shape (STYLE.md): one input thread and one event channel ([`event`]);
//! a pure `update(&mut State, Msg) -> Vec<Effect>` ([`update`]); an effects
//! runner doing all IO in tasks ([`effects`]); views that only read state
//! ([`views`]). Frames are drawn when something changed, with bursts of
//! messages merged into one redraw.

pub mod action;
pub mod diff;
pub mod effects;
pub mod event;
pub mod keymap;
pub mod outbox;
pub mod sanitize;
pub mod state;
pub mod terminal;
pub mod theme;
pub mod update;
pub mod views;

use crate::client::ApiClient;
use crate::domain::time::now_millis;
use crate::signing::signer::Signer;
use event::Msg;
use keymap::Keymap;
use std::path::PathBuf;
use std::sync::Arc;
use theme::Theme;

pub struct ConsoleConfig {
    pub server: String,
    pub principal: String,
    pub signer: Arc<Signer>,
    pub theme: Theme,
    pub keymap: Keymap,
    pub outbox: PathBuf,
    /// The queue view shown first (leads start on escalations).
    pub initial_view: crate::api::View,
    /// A CA certificate to trust for an `https://` server.
    pub ca: Option<PathBuf>,
    /// When the queue shows a burst banner.
    pub burst: state::BurstRule,
}

/// Runs the console until the person quits (or SIGTERM). The terminal is
/// restored on every way out, panics included; then, unless it panicked,
/// the session is ended (logout), waiting at most [`effects::LOGOUT_WAIT`].
pub async fn run(cfg: ConsoleConfig) -> anyhow::Result<()> {
    let outbox = outbox::Outbox::load(&cfg.outbox).map_err(anyhow::Error::msg)?;
    let client = ApiClient::with_ca(&cfg.server, None, cfg.ca.as_deref())?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let mut state = state::State::new(
        cfg.principal.clone(),
        cfg.signer.fingerprint(),
        cfg.server.clone(),
        now_millis(),
    );
    state.session.me.hardware = crate::signing::is_hardware(&cfg.signer.public_key());
    state.session.utc_offset_s = chrono::Local::now().offset().local_minus_utc();
    state.queue.view = cfg.initial_view;
    state.queue.burst_rule = cfg.burst;
    let mut runner = effects::Runner::new(
        client,
        cfg.signer.clone(),
        cfg.principal.clone(),
        outbox,
        tx.clone(),
    );

    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        for kind in [SignalKind::terminate(), SignalKind::hangup()] {
            if let Ok(mut sig) = signal(kind) {
                let tx = tx.clone();
                tokio::spawn(async move {
                    sig.recv().await;
                    let _ = tx.send(Msg::Terminate);
                });
            }
        }
    }

    let mut terminal = terminal::init();
    let result = async {
        let size = terminal.size()?;
        state.session.size = (size.width, size.height);
        event::spawn_input(tx.clone());
        runner.run(update::Effect::Login);
        loop {
            // One frame per batch of messages: nothing redraws on a timer
            // except the one-second tick that ages the clocks on screen.
            let frame = terminal.draw(|f| views::render(f, &state, &cfg.theme, &cfg.keymap))?;
            // What the frame showed is on screen now: a dialog in it starts
            // taking keys from here (approvals ARM_MS later).
            let size = (frame.area.width, frame.area.height);
            if views::dialog_visible(&state, size) {
                for e in update::update(&mut state, Msg::Drawn(now_millis()), &cfg.keymap) {
                    runner.run(e);
                }
            }
            let Some(msg) = rx.recv().await else { break };
            let mut effects = update::update(&mut state, msg, &cfg.keymap);
            // Merge whatever else is queued into this one redraw.
            while let Ok(more) = rx.try_recv() {
                effects.extend(update::update(&mut state, more, &cfg.keymap));
            }
            for e in effects {
                runner.run(e);
            }
            if state.session.quit {
                break;
            }
        }
        anyhow::Ok(())
    }
    .await;
    terminal::restore();
    // The session ends with the console (quit, SIGTERM, or an error).
    runner.logout().await;
    if state.session.outbox > 0 {
        eprintln!(
            "countersign: {} signed decision(s) are still waiting in the outbox ({}); they are sent the next time the console connects",
            state.session.outbox,
            cfg.outbox.display()
        );
    }
    result
}
