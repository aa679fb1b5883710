//! `countersign demo`.

use super::tui::load_theme_and_keys;
use crate::config::FileConfig;
use crate::demo::{DemoOptions, run};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the data here (default: a new directory under the system's temporary directory)
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Who you are: the analyst (alice) or the lead (carol), who sees escalations and gives second approvals
    #[arg(long = "as", value_parser = ["analyst", "lead"], default_value = "analyst")]
    pub persona: String,
    /// Seconds between new alerts from the simulated agent
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Theme: dark, light, high-contrast or a .toml path
    #[arg(long, env = "COUNTERSIGN_THEME")]
    pub theme: Option<String>,
}

pub async fn run_demo(args: DemoArgs, file: &FileConfig) -> anyhow::Result<ExitCode> {
    super::tui::need_terminal()?;
    anyhow::ensure!(
        args.rate.is_finite() && args.rate >= 0.5,
        "--rate must be at least 0.5 seconds"
    );
    let (theme, keymap) = load_theme_and_keys(args.theme, file)?;
    run(DemoOptions {
        data: args.data,
        lead: args.persona == "lead",
        rate: Duration::from_secs_f64(args.rate),
        theme,
        keymap,
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
