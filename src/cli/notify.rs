//! `countersign notify test SINK`: sends one test event to a `[[notify]]`
//! sink from the config file, now, and says what the receiver answered.

use crate::config::FileConfig;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test event to the sink with this name
    Test {
        /// The sink's `name` (see `[[notify]]` in the config file)
        sink: String,
    },
    /// List the configured sinks and what each routes
    List,
}

pub async fn run(cmd: NotifyCommand, file: &FileConfig) -> anyhow::Result<ExitCode> {
    match cmd {
        NotifyCommand::List => {
            if file.notify.is_empty() {
                println!("no [[notify]] sinks configured");
            }
            for s in &file.notify {
                let events = if s.events.is_empty() {
                    "every event".to_owned()
                } else {
                    s.events
                        .iter()
                        .map(|e| e.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                println!(
                    "{}  {}  {}  {events}; risk {} and up{}",
                    s.name,
                    s.kind.as_str(),
                    s.url,
                    s.min_risk,
                    if s.include_text { "; with text" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        NotifyCommand::Test { sink } => {
            match crate::server::notify::send_test(&file.notify, &sink).await {
                Ok(status) if (200..300).contains(&status) => {
                    println!("{sink}: delivered (HTTP {status})");
                    Ok(ExitCode::SUCCESS)
                }
                Ok(status) => {
                    eprintln!("{sink}: the receiver answered HTTP {status}");
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => {
                    eprintln!("{sink}: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
