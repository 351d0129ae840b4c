//! An ensemble of real `paddock server --config` processes on 127.0.0.1, configured as ZooKeeper's are
//! (`server.N` lines, `myid` in each data dir), with kills, restarts and the waits every ensemble test needs:
//! one leader, every member on one state digest.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::net::{four_letter_word, free_port};
use crate::paddock::PaddockProcess;

/// How long an ensemble test waits for an election or for members to converge: an election waits syncLimit
/// ticks (2.5 to 5 s at the defaults below) and a loaded 2-core machine stretches that several times.
pub const ENSEMBLE_WAIT: Duration = Duration::from_secs(30);

/// One server of the ensemble. Its process keeps its client port across kills and restarts.
pub struct Member {
    pub id: u64,
    pub observer: bool,
    process: PaddockProcess,
    running: bool,
    _dir: TempDir,
}

impl Member {
    /// `127.0.0.1:clientPort`, also while the member is down.
    pub fn addr(&self) -> String {
        self.process.addr()
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    pub fn data_dir(&self) -> &Path {
        &self.process.data_dir
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Everything this member logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// A line of `srvr`, e.g. `Mode:` → `leader`; None while the member is down or does not answer.
    pub fn srvr_line(&self, key: &str) -> Option<String> {
        if !self.running {
            return None;
        }
        let srvr = four_letter_word(&self.addr(), "srvr").ok()?;
        srvr.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_string())
    }

    /// A key of `mntr` (e.g. `zk_paddock_state_digest`); None while down or absent.
    pub fn mntr(&self, key: &str) -> Option<String> {
        if !self.running {
            return None;
        }
        let mntr = four_letter_word(&self.addr(), "mntr").ok()?;
        mntr.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('\t')).map(|v| v.trim().to_string())
    }
}

/// The servers of one ensemble, in `myid` order (index i holds server.(i+1)).
pub struct Ensemble {
    pub members: Vec<Member>,
}

/// The shape of an ensemble and the zoo.cfg lines every member gets on top of the `server.N` list.
pub struct EnsembleSpec<'a> {
    pub participants: u64,
    pub observers: u64,
    /// Extra zoo.cfg lines for every member (they override the fast defaults below).
    pub config: &'a [(&'a str, &'a str)],
}

impl Ensemble {
    /// Starts `participants` voters then `observers` observers.
    pub fn start(participants: u64, observers: u64) -> anyhow::Result<Self> {
        Self::start_spec(&EnsembleSpec { participants, observers, config: &[] })
    }

    pub fn start_spec(spec: &EnsembleSpec<'_>) -> anyhow::Result<Self> {
        let count = spec.participants + spec.observers;
        let peers: Vec<(u16, u16)> = (0..count).map(|_| (free_port(), free_port())).collect();
        let mut servers: Vec<(String, String)> = Vec::new();
        for (i, (peer, election)) in peers.iter().enumerate() {
            let id = i as u64 + 1;
            let role = if id > spec.participants { ":observer" } else { "" };
            servers.push((format!("server.{id}"), format!("127.0.0.1:{peer}:{election}{role}")));
        }
        // Fast ticks so that elections take seconds, not tens of seconds.
        let mut config: Vec<(String, String)> =
            [("tickTime", "500"), ("initLimit", "10"), ("syncLimit", "5")].map(|(k, v)| (k.into(), v.into())).into();
        config.extend(servers);
        config.extend(spec.config.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut members = Vec::new();
        for id in 1..=count {
            members.push(start_member(id, id > spec.participants, &config)?);
        }
        Ok(Ensemble { members })
    }

    /// Client addresses of every member, running or not, as a ZooKeeper connect string.
    pub fn connect_string(&self) -> String {
        self.members.iter().map(Member::addr).collect::<Vec<_>>().join(",")
    }

    /// Crashes member `i` (SIGKILL).
    pub fn kill9(&mut self, i: usize) {
        self.members[i].process.kill9();
        self.members[i].running = false;
    }

    /// Starts member `i` again on its port, config and data.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        let member = &mut self.members[i];
        member.process.restart().with_context(|| format!("restarting server.{}", member.id))?;
        member.running = true;
        Ok(())
    }

    /// The index of the one running member whose `srvr` says leader, once every other running member says
    /// follower or observer.
    pub fn leader(&self) -> anyhow::Result<usize> {
        let deadline = Instant::now() + ENSEMBLE_WAIT;
        let mut modes = Vec::new();
        while Instant::now() < deadline {
            modes = self.members.iter().map(|m| m.srvr_line("Mode:")).collect::<Vec<_>>();
            let running = self.members.iter().filter(|m| m.running).count();
            let leaders: Vec<usize> = (0..modes.len()).filter(|i| modes[*i].as_deref() == Some("leader")).collect();
            let others = modes.iter().filter(|m| matches!(m.as_deref(), Some("follower" | "observer"))).count();
            if leaders.len() == 1 && others + 1 == running {
                return Ok(leaders[0]);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("no single leader within {ENSEMBLE_WAIT:?}; modes: {modes:?}")
    }

    /// Indexes of the running members that are not the leader.
    pub fn followers(&self) -> anyhow::Result<Vec<usize>> {
        let leader = self.leader()?;
        Ok((0..self.members.len()).filter(|i| *i != leader && self.members[*i].running).collect())
    }

    /// Waits until every running member reports the same last zxid and state digest; returns the digest.
    pub fn converged(&self) -> anyhow::Result<String> {
        let deadline = Instant::now() + ENSEMBLE_WAIT;
        let mut last = Vec::new();
        while Instant::now() < deadline {
            last = self
                .members
                .iter()
                .filter(|m| m.running)
                .map(|m| (m.mntr("zk_paddock_last_zxid"), m.mntr("zk_paddock_state_digest")))
                .collect();
            if last.iter().all(|s| s.0.is_some() && s.1.is_some() && *s == last[0]) {
                return Ok(last[0].1.clone().unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("members did not converge within {ENSEMBLE_WAIT:?}: (zxid, digest) per running member {last:?}")
    }
}

fn start_member(id: u64, observer: bool, config: &[(String, String)]) -> anyhow::Result<Member> {
    let dir = tempfile::Builder::new().prefix("paddock-member-").tempdir().context("cannot create a temp dir")?;
    let data_dir: PathBuf = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    std::fs::write(data_dir.join("myid"), id.to_string()).context("cannot write myid")?;
    let cfg: Vec<(&str, &str)> = config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let process = PaddockProcess::start_in(&data_dir, &cfg).with_context(|| format!("starting server.{id}"))?;
    Ok(Member { id, observer, process, running: true, _dir: dir })
}
