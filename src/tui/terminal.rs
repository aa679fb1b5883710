//! Terminal set-up and tear-down in one place. `ratatui::init` enters the
//! alternate screen and raw mode and installs a panic hook that restores the
//! terminal before the panic message prints; `restore` undoes it on quit.
//! SIGTERM and SIGHUP become a clean quit (see `tui::run`).

use ratatui::DefaultTerminal;

pub fn init() -> DefaultTerminal {
    ratatui::init()
}

pub fn restore() {
    ratatui::restore();
}
