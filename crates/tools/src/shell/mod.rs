//! `paddock shell`: zkCli.sh's commands, flags, output and error messages, over any ZooKeeper-protocol
//! server (through the `zookeeper-client` crate).
//!
//! Three ways to run: one-shot (a command on the command line: run it, print, exit 0 or non-zero),
//! interactive (a terminal: line editing, history in `~/.paddock_history`, path completion, watch
//! notifications as they come), and script (commands read line by line from a pipe, as zkCli does when its
//! input is not a terminal).

mod acl;
mod command;
mod connection;
mod errors;
mod events;
mod interactive;
mod options;
mod paths;
mod quota;
mod render;
mod session;
mod stat_format;
mod tokenize;
mod watches;

use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use tokio::sync::mpsc;
use zookeeper_client::SessionState;

use self::command::{Command, ParsedCommand};
use self::errors::{NOT_CONNECTED, ShellError};
use self::events::{EventSink, Events, ShellEvent};
use self::session::{OUT_OF_RANGE, Reply, Session};

/// How long script mode lets watch tasks forward notifications before printing the next command's output.
const NOTIFICATION_SETTLE: Duration = Duration::from_millis(25);

/// `paddock shell` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct ShellArgs {
    /// ZooKeeper connect string: HOST:PORT[,HOST:PORT...][/chroot].
    #[arg(long, default_value = "127.0.0.1:2181", value_name = "HOST:PORT")]
    pub server: String,
    /// Print one JSON object per command result (and per watch notification) instead of zkCli's text.
    #[arg(long)]
    pub json: bool,
    /// Session timeout, in milliseconds (zkCli's default: 30000).
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    pub timeout: u64,
    /// A command and its arguments to run once (e.g. `ls -s /`); without one the shell is interactive.
    #[arg(value_name = "COMMAND", trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl ShellArgs {
    fn session_timeout(&self) -> Duration {
        Duration::from_millis(self.timeout.max(1))
    }
}

/// Runs `paddock shell` on the process's terminal or pipes.
pub async fn run(args: ShellArgs) -> ExitCode {
    if !args.command.is_empty() {
        return one_shot(&args, &mut io::stdout(), &mut io::stderr()).await;
    }
    if io::stdin().is_terminal() {
        return interactive::run(args).await;
    }
    // Reading a pipe blocks; a thread keeps that off the async runtime that serves the session.
    let (lines, input) = mpsc::channel(16);
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines.blocking_send(line).is_err() {
                break;
            }
        }
    });
    script(&args, Input::Channel(input), &mut io::stdout(), &mut io::stderr()).await
}

/// Runs `paddock shell` with the given input and outputs: the command in `args` if there is one, else every
/// line of `input` as a script. For tests and embedding.
pub async fn run_with_io(
    args: ShellArgs,
    input: &mut (dyn BufRead + Send),
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> ExitCode {
    if args.command.is_empty() {
        script(&args, Input::Reader(input), out, err).await
    } else {
        one_shot(&args, out, err).await
    }
}

/// One command from the command line: parsed before connecting, so usage errors need no server.
async fn one_shot(args: &ShellArgs, out: &mut (dyn Write + Send), err: &mut (dyn Write + Send)) -> ExitCode {
    let printer = Printer { json: args.json };
    let parsed = match command::parse(&args.command) {
        Ok(parsed) => parsed,
        Err(error) => return printer.outcome(Report::failed(&args.command, error), out, err),
    };
    if !parsed.command.needs_server() {
        let reply = offline_reply(&parsed.command);
        return printer.outcome(Report::of(&parsed, &args.command, reply), out, err);
    }
    // Watch notifications are not printed in one-shot mode: the shell exits right after the command.
    let (sink, _events) = EventSink::new();
    sink.set_enabled(false);
    let mut session = match Session::connect(&args.server, args.session_timeout(), sink).await {
        Ok(session) => session,
        Err(message) => return printer.connect_failed(&message, out, err),
    };
    let outcome = session.execute(&parsed.command).await;
    let code = printer.outcome(Report::of(&parsed, &args.command, outcome), out, err);
    session.close().await;
    code
}

/// Replies for the commands that need no server.
fn offline_reply(command: &Command) -> Result<Reply, ShellError> {
    Ok(match command {
        Command::Version => Reply::Version,
        Command::Quit => Reply::Quit,
        Command::History => Reply::History(Vec::new()),
        Command::PrintWatches { enable } => Reply::PrintWatches(enable.unwrap_or(true)),
        // A one-shot command has no history to redo.
        Command::Redo { .. } => return Err(ShellError::Malformed(OUT_OF_RANGE.to_owned())),
        _ => Reply::Help,
    })
}

/// Lines of a script: an in-memory reader, or a pipe read by a thread.
enum Input<'a> {
    Reader(&'a mut (dyn BufRead + Send)),
    Channel(mpsc::Receiver<String>),
}

impl Input<'_> {
    async fn next_line(&mut self) -> Option<String> {
        match self {
            Input::Reader(reader) => {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => None,
                    Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_owned()),
                }
            }
            Input::Channel(lines) => lines.recv().await,
        }
    }
}

/// zkCli with its input not a terminal: connect, run each line, print notifications between commands.
/// The exit code is 0 when every command succeeded, else the last failure's.
async fn script(
    args: &ShellArgs,
    mut input: Input<'_>,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> ExitCode {
    let printer = Printer { json: args.json };
    let (sink, mut events) = EventSink::new();
    printer.connecting(&args.server, out);
    let mut session = match Session::connect(&args.server, args.session_timeout(), sink).await {
        Ok(session) => session,
        Err(message) => return printer.connect_failed(&message, out, err),
    };
    printer.event(&ShellEvent::session(SessionState::SyncConnected), out);
    let mut code = ExitCode::SUCCESS;
    while let Some(line) = input.next_line().await {
        let words = tokenize::tokenize(&line);
        if words.is_empty() {
            continue;
        }
        session.record(&line);
        let watching = session.has_watches();
        let (step, quit) = run_words(&mut session, &words, printer, out, err).await;
        if step != ExitCode::SUCCESS {
            code = step;
        }
        if watching || session.has_watches() {
            // A notification the command caused reached the client before the command's reply; give
            // the task waiting on it a moment to hand it over, so it prints next to its cause.
            tokio::time::sleep(NOTIFICATION_SETTLE).await;
        }
        drain(&mut events, printer, out);
        if quit {
            break;
        }
    }
    session.close().await;
    drain(&mut events, printer, out);
    code
}

/// Runs one command line in the session and prints the outcome; the flag says `quit` was asked.
async fn run_words(
    session: &mut Session,
    words: &[String],
    printer: Printer,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> (ExitCode, bool) {
    let parsed = match command::parse(words) {
        Ok(parsed) => parsed,
        Err(error) => return (printer.outcome(Report::failed(words, error), out, err), false),
    };
    if let Command::Redo { index } = parsed.command {
        return redo(session, words, index, printer, out, err).await;
    }
    run_parsed(session, words, &parsed, None, printer, out, err).await
}

/// zkCli's `redo N`: history entry N runs again as if typed (and takes the `redo` line's place in the
/// history).
async fn redo(
    session: &mut Session,
    words: &[String],
    index: i64,
    printer: Printer,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> (ExitCode, bool) {
    let line = match session.recall(index) {
        Ok(line) => line,
        Err(error) => return (printer.outcome(Report::failed(words, error), out, err), false),
    };
    let words = tokenize::tokenize(&line);
    let ran = match command::parse(&words) {
        Ok(parsed) => run_parsed(session, &words, &parsed, Some(index), printer, out, err).await,
        Err(error) => (printer.outcome(Report { redo: Some(index), ..Report::failed(&words, error) }, out, err), false),
    };
    // zkCli's redo ends at its connection check too, after the command it re-ran.
    if !ran.1 && !session.is_alive() {
        printer.not_connected(out);
    }
    ran
}

/// Runs a parsed command and prints the outcome; the flag says `quit` was asked.
async fn run_parsed(
    session: &mut Session,
    words: &[String],
    parsed: &ParsedCommand,
    redo: Option<i64>,
    printer: Printer,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> (ExitCode, bool) {
    let outcome = session.execute(&parsed.command).await;
    let quit = matches!(outcome, Ok(Reply::Quit));
    let code = printer.outcome(Report { redo, ..Report::of(parsed, words, outcome) }, out, err);
    if parsed.command.reports_closed_session() && !session.is_alive() {
        printer.not_connected(out);
    }
    (code, quit)
}

fn drain(events: &mut Events, printer: Printer, out: &mut (dyn Write + Send)) {
    while let Some(event) = events.try_recv() {
        printer.event(&event, out);
        events.printed();
    }
}

/// A command line's outcome, with what printing it needs.
struct Report<'a> {
    /// The command, when the words made one.
    command: Option<&'a Command>,
    /// The words run (for a `redo`, those of the line it re-ran).
    words: &'a [String],
    outcome: Result<Reply, ShellError>,
    warnings: &'a [String],
    /// What zkCli prints on stderr before running the command (text output only).
    notices: &'a [String],
    /// The history entry a `redo` re-ran.
    redo: Option<i64>,
}

impl<'a> Report<'a> {
    fn of(parsed: &'a ParsedCommand, words: &'a [String], outcome: Result<Reply, ShellError>) -> Report<'a> {
        Report {
            command: Some(&parsed.command),
            words,
            outcome,
            warnings: &parsed.warnings,
            notices: &parsed.notices,
            redo: None,
        }
    }

    fn failed(words: &'a [String], error: ShellError) -> Report<'a> {
        Report { command: None, words, outcome: Err(error), warnings: &[], notices: &[], redo: None }
    }
}

/// Text or JSON output. Write errors (a closed pipe) are ignored: there is nobody left to tell.
#[derive(Clone, Copy)]
struct Printer {
    json: bool,
}

impl Printer {
    /// Prints a command's outcome and returns the exit code it stands for.
    fn outcome(self, report: Report<'_>, out: &mut (dyn Write + Send), err: &mut (dyn Write + Send)) -> ExitCode {
        let Report { command, words, outcome, warnings, notices, redo } = report;
        let code = match &outcome {
            Ok(_) => ExitCode::SUCCESS,
            Err(error) => ExitCode::from(error.exit_code()),
        };
        if self.json {
            let typed = words.first().map(String::as_str).unwrap_or_default();
            let name = command.map(Command::name).unwrap_or(typed);
            let _ = writeln!(out, "{}", render::json(command, name, &outcome, warnings, redo));
            let _ = out.flush();
            return code;
        }
        let _ = render::warnings_text(warnings).write(out, err);
        // Without a session zkCli refuses the command before it prints anything of its own.
        if !matches!(outcome, Err(ShellError::NotConnected)) {
            let _ = render::warnings_text(notices).write(out, err);
        }
        let printed = match &outcome {
            Ok(reply) => render::reply_text(reply),
            Err(error) => render::error_text(error),
        };
        let _ = printed.write(out, err);
        code
    }

    /// zkCli's `Not connected` after a built-in command that did its work in a closed session (its
    /// result already says so in JSON).
    fn not_connected(self, out: &mut (dyn Write + Send)) {
        if !self.json {
            let _ = writeln!(out, "{NOT_CONNECTED}");
            let _ = out.flush();
        }
    }

    fn event(self, event: &ShellEvent, out: &mut (dyn Write + Send)) {
        let _ = out.write_all(event.render(self.json).as_bytes());
        let _ = out.flush();
    }

    fn connecting(self, server: &str, out: &mut (dyn Write + Send)) {
        if !self.json {
            let _ = writeln!(out, "Connecting to {server}");
        }
    }

    fn connect_failed(self, message: &str, out: &mut (dyn Write + Send), err: &mut (dyn Write + Send)) -> ExitCode {
        if self.json {
            let _ = writeln!(out, "{}", serde_json::json!({ "error": message, "code": "ConnectionLoss" }));
        } else {
            let _ = writeln!(err, "{message}");
        }
        ExitCode::FAILURE
    }
}
