//! The interactive shell: rustyline line editing with zkCli's prompt (`[zk: host:port(CONNECTED) 3] `, the
//! connect string and state of the current session, which `connect` and `close` change), history kept in
//! `~/.paddock_history`, Tab completion of command names and znode paths (the children of the typed path's
//! parent, asked of the server), and watch notifications printed above the prompt as they arrive.
//!
//! rustyline blocks, so the editor runs on a blocking thread and drives each command on the async runtime
//! through its handle.
//!
//! A command and the notifications it causes race to the terminal (the server sends a notification before
//! the reply of the write that caused it). The terminal is therefore locked while a command runs and prints,
//! and the notifications that came meanwhile are printed after its output and before the next prompt, whole:
//! never in the middle of the command's lines.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustyline::completion::{Completer, Pair};
use rustyline::config::Config;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Context, Editor, Helper};
use tokio::runtime::Handle;
use tokio::sync::Mutex;
use zookeeper_client::{Client, SessionState};

use super::command::SPECS;
use super::events::{EventSink, Events, ShellEvent};
use super::session::Session;
use super::{NOTIFICATION_SETTLE, Printer, ShellArgs, run_words, tokenize};
use crate::subtree::child_path;

/// History file name, in the home directory.
const HISTORY_FILE: &str = ".paddock_history";
/// A completion that needs the server gives up after this long rather than freeze the line editor.
const COMPLETION_LIMIT: Duration = Duration::from_secs(2);
/// How long to wait for the last notifications (the session's `Closed`) to be printed on exit.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);
/// How long the next prompt waits for the notifications already received to be printed.
const PROMPT_LIMIT: Duration = Duration::from_secs(1);

/// Held by whoever writes to the terminal: the command being run, or the notification printer.
type Terminal = Arc<Mutex<()>>;

pub(crate) async fn run(args: ShellArgs) -> ExitCode {
    let printer = Printer { json: args.json };
    let (sink, events) = EventSink::new();
    printer.connecting(&args.server, &mut io::stdout());
    let session = match Session::connect(&args.server, args.session_timeout(), sink).await {
        Ok(session) => session,
        Err(message) => return printer.connect_failed(&message, &mut io::stdout(), &mut io::stderr()),
    };
    printer.event(&ShellEvent::session(SessionState::SyncConnected), &mut io::stdout());
    let handle = Handle::current();
    let repl = tokio::task::spawn_blocking(move || edit_loop(&handle, session, events, &args));
    match repl.await {
        Ok((session, printer_task)) => {
            session.close().await;
            if let Some(task) = printer_task {
                let _ = tokio::time::timeout(FLUSH_LIMIT, task).await;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paddock shell: the line editor failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads and runs lines until `quit` or end of input; returns the session (to close it on the runtime) and
/// the task printing notifications (to let it print the last ones).
fn edit_loop(
    handle: &Handle,
    mut session: Session,
    events: Events,
    args: &ShellArgs,
) -> (Session, Option<tokio::task::JoinHandle<()>>) {
    let printer = Printer { json: args.json };
    let config = Config::builder().completion_type(CompletionType::List).auto_add_history(false).build();
    let mut editor: Editor<ZnodeCompleter, DefaultHistory> = match Editor::with_config(config) {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("paddock shell: cannot start the line editor: {e}");
            return (session, None);
        }
    };
    editor.set_helper(Some(ZnodeCompleter { client: session.client().cloned(), handle: handle.clone() }));
    let history = history_path();
    if let Some(path) = &history {
        // A missing or unreadable history file just means starting without history.
        let _ = editor.load_history(path);
    }
    let terminal = Terminal::default();
    let printer_task = spawn_event_printer(handle, events, printer, terminal.clone());
    let mut count = 0usize;
    loop {
        let prompt = format!("[zk: {}({}) {count}] ", session.server(), session.state_name());
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("paddock shell: {e}");
                break;
            }
        };
        let words = tokenize::tokenize(&line);
        if words.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line.as_str());
        if let Some(path) = &history {
            let _ = editor.save_history(path);
        }
        session.record(&line);
        count += 1;
        // The completer's copy of the client would keep a session that `close` or `connect` ends open.
        set_completion_client(&mut editor, None);
        let quit = run_line(handle, &mut session, &words, printer, &terminal);
        if quit {
            break;
        }
        set_completion_client(&mut editor, session.client().cloned());
    }
    // The completer holds a client: drop it so closing the session really closes it.
    drop(editor);
    (session, Some(printer_task))
}

/// Runs one command line with the terminal to itself, then lets the notifications it caused print before
/// the next prompt rather than over it. True when the line was `quit`.
fn run_line(handle: &Handle, session: &mut Session, words: &[String], printer: Printer, terminal: &Terminal) -> bool {
    let quit = {
        let _terminal = terminal.blocking_lock();
        let watching = session.has_watches();
        let (_, quit) = handle.block_on(run_words(session, words, printer, &mut io::stdout(), &mut io::stderr()));
        if !quit && (watching || session.has_watches()) {
            handle.block_on(tokio::time::sleep(NOTIFICATION_SETTLE));
        }
        quit
    };
    let deadline = Instant::now() + PROMPT_LIMIT;
    while !quit && session.unprinted_events() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    quit
}

/// Prints notifications as they come, over whatever the prompt shows, as zkCli does. (rustyline's
/// external printer would redraw the prompt, but while one is active rustyline stops reading keys that
/// arrive together, as when a line is pasted.) The line editor may have the terminal in raw mode, where
/// `\n` does not return the carriage: hence `\r\n`.
fn spawn_event_printer(
    handle: &Handle,
    mut events: Events,
    printer: Printer,
    terminal: Terminal,
) -> tokio::task::JoinHandle<()> {
    handle.spawn(async move {
        while let Some(event) = events.recv().await {
            let _terminal = terminal.lock().await;
            let text = event.render(printer.json).replace('\n', "\r\n");
            let mut stdout = io::stdout().lock();
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
            events.printed();
        }
    })
}

fn set_completion_client(editor: &mut Editor<ZnodeCompleter, DefaultHistory>, client: Option<Client>) {
    if let Some(completer) = editor.helper_mut() {
        completer.client = client;
    }
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|home| !home.is_empty()).map(|home| PathBuf::from(home).join(HISTORY_FILE))
}

/// Tab completion: command names for the first word, znode paths for words starting with `/` (while a
/// session is open).
struct ZnodeCompleter {
    client: Option<Client>,
    handle: Handle,
}

impl ZnodeCompleter {
    fn commands(&self, prefix: &str) -> Vec<Pair> {
        SPECS
            .iter()
            .filter(|s| s.name.starts_with(prefix))
            .map(|s| Pair { display: s.name.to_owned(), replacement: format!("{} ", s.name) })
            .collect()
    }

    /// The children of the typed path's parent whose names start with what follows the last `/`.
    fn paths(&self, word: &str) -> Vec<Pair> {
        let Some(slash) = word.rfind('/') else { return Vec::new() };
        let parent = if slash == 0 { "/" } else { &word[..slash] };
        let prefix = &word[slash + 1..];
        let Some(client) = &self.client else { return Vec::new() };
        let listed = self.handle.block_on(tokio::time::timeout(COMPLETION_LIMIT, client.list_children(parent)));
        let Ok(Ok(mut children)) = listed else { return Vec::new() };
        children.sort();
        children
            .into_iter()
            .filter(|child| child.starts_with(prefix))
            .map(|child| Pair { replacement: child_path(parent, &child), display: child })
            .collect()
    }
}

impl Completer for ZnodeCompleter {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = line.get(..pos).unwrap_or(line);
        let start = before.rfind(char::is_whitespace).map(|i| i + 1).unwrap_or(0);
        let word = &before[start..];
        let candidates = if start == 0 {
            self.commands(word)
        } else if word.starts_with('/') {
            self.paths(word)
        } else {
            Vec::new()
        };
        Ok((start, candidates))
    }
}

impl Hinter for ZnodeCompleter {
    type Hint = String;
}

impl Highlighter for ZnodeCompleter {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(&'s self, prompt: &'p str, _default: bool) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

impl Validator for ZnodeCompleter {}

impl Helper for ZnodeCompleter {}
