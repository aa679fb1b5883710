//! The real binary in a pseudo-terminal, its screen parsed by vt100, and
//! every byte it wrote kept for inspection.

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Pty {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    _master: Box<dyn MasterPty + Send>,
    parser: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    pub fn spawn(args: &[&str], env: &[(&str, String)], cols: u16, rows: u16) -> Pty {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let mut cmd = CommandBuilder::new(super::binary());
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("COUNTERSIGN_CONFIG");
        cmd.env_remove("NO_COLOR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).expect("spawn in pty");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("reader");
        let writer = pair.master.take_writer().expect("writer");
        let parser = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (p, r) = (parser.clone(), raw.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                p.lock().unwrap().process(&buf[..n]);
                r.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            child,
            writer,
            _master: pair.master,
            parser,
            raw,
        }
    }

    pub fn send(&mut self, s: &str) {
        self.writer.write_all(s.as_bytes()).expect("write to pty");
        self.writer.flush().ok();
        std::thread::sleep(Duration::from_millis(60));
    }

    /// Esc alone. A terminal tells Esc from Alt+key only by timing (Esc
    /// then a key in one read is Alt+key), so nothing follows it for a
    /// while.
    pub fn esc(&mut self) {
        self.send("\x1b");
        std::thread::sleep(Duration::from_millis(400));
    }

    /// Approves the selected low or medium proposal: `a`, then `y` once the
    /// confirm line is armed.
    pub fn approve(&mut self) {
        self.send("a");
        self.wait_for("y or Enter signs", 10);
        self.send("y");
    }

    /// Types text one key at a time, as a person would.
    pub fn type_text(&mut self, s: &str) {
        for c in s.chars() {
            self.send(&c.to_string());
        }
    }

    pub fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    pub fn raw(&self) -> Vec<u8> {
        self.raw.lock().unwrap().clone()
    }

    /// Waits until the screen contains `needle`; panics with the screen.
    pub fn wait_for(&self, needle: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until one screen line contains every needle (a queue row's
    /// own state, not the same word elsewhere on screen).
    pub fn wait_for_line(&self, needles: &[&str], secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if let Some(line) = s.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for a line with {needles:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_exit(&mut self, secs: u64) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader drain the last bytes.
                std::thread::sleep(Duration::from_millis(200));
                return status.exit_code();
            }
            assert!(
                Instant::now() < deadline,
                "the program did not exit; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
