//! Spawns every server process from one long-lived thread.
//!
//! Children ask the kernel (`PR_SET_PDEATHSIG`) to SIGKILL them when the thread that forked them exits.
//! Forking from a test's own thread would kill a server shared between tests as soon as the first test
//! finishes; forking from a thread that lives as long as the test process means servers die with the
//! test binary, even when it is killed with SIGKILL and no destructor runs, and never earlier.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock};

struct Job {
    command: Command,
    reply: Sender<io::Result<Child>>,
}

static SPAWNER: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();

/// Spawns `command` with a parent-death signal tied to the spawner thread.
pub(crate) fn spawn(mut command: Command) -> io::Result<Child> {
    // SAFETY: the closure runs between fork and exec and only calls prctl(2), which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (reply, answer) = mpsc::channel();
    let sender = SPAWNER.get_or_init(start_thread);
    {
        let sender = sender.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        sender.send(Job { command, reply }).map_err(|_| io::Error::other("the process spawner thread is gone"))?;
    }
    answer.recv().map_err(|_| io::Error::other("the process spawner thread did not answer"))?
}

fn start_thread() -> Mutex<Sender<Job>> {
    let (sender, jobs) = mpsc::channel::<Job>();
    let spawned = std::thread::Builder::new().name("testkit-spawner".into()).spawn(move || {
        for mut job in jobs {
            // The requester may have given up; nothing to do then.
            let _ = job.reply.send(job.command.spawn());
        }
    });
    if let Err(e) = spawned {
        // Without the thread every spawn reports "spawner thread is gone", which names the cause.
        eprintln!("paddock-testkit: cannot start the spawner thread: {e}");
    }
    Mutex::new(sender)
}
