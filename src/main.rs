use clap::Parser;
use countersign::cli::{Cli, Command, run};
use std::process::ExitCode;
use std::sync::Mutex;

#[tokio::main]
async fn main() -> ExitCode {
    // Output to a reader that went away (`countersign policy builtin |
    // head`) ends the command quietly: there is nobody left to tell.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.starts_with("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(0);
        }
        report(info)
    }));
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("COUNTERSIGN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Full-screen commands log to a file: stderr is the screen. So does the
    // hook: its stderr is the reason the agent's model reads, nothing else.
    if matches!(
        cli.command,
        None | Some(Command::Tui(_) | Command::Demo(_) | Command::Hook(_))
    ) {
        let dir = countersign::config::state_dir();
        let file = std::fs::create_dir_all(&dir).and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("countersign.log"))
        });
        if let Ok(f) = file {
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(Mutex::new(f))
                .with_ansi(false)
                .init();
        }
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("countersign: {e:#}");
            ExitCode::FAILURE
        }
    }
}
