//! An ensemble of real `paddock server --config` processes on 127.0.0.1 (or each in a network namespace of
//! its own, [`Ensemble::start_in_network`], for partition tests), configured as ZooKeeper's are (`server.N`
//! lines, `myid` in each data dir), with kills, restarts and the waits every ensemble test needs: one leader,
//! every member on one state digest.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::net::{four_letter_word, free_port};
use crate::netns::Network;
use crate::paddock::PaddockProcess;

/// `snapCount` of the test ensembles: each member snapshots (and purges its log) after 2,500 to 5,000
/// entries, so that tests of catching up by snapshot need thousands of writes, not a hundred thousand.
pub const SNAP_COUNT: &str = "5000";
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

    /// Its zoo.cfg: every `server.N` line of the ensemble.
    pub fn config_path(&self) -> &Path {
        self.process.config_path()
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Everything this member logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Sets (`None`: removes) an environment variable of this member's process, e.g. `FAILPOINTS`, from its
    /// next [`Ensemble::restart`] on.
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.process.set_env(key, value);
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
    /// The zoo.cfg lines every member was started with (a server started later to join gets them too).
    config: Vec<(String, String)>,
    /// The namespaces the members run in ([`Ensemble::start_in_network`]); declared after `members` so that
    /// the servers are stopped before their network is removed.
    network: Option<Network>,
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
        let mut config = base_config();
        config.extend(servers);
        config.extend(spec.config.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut members = Vec::new();
        for id in 1..=count {
            members.push(start_member(id, id > spec.participants, &config)?);
        }
        Ok(Ensemble { members, config, network: None })
    }

    /// The loopback address server.`id` gets from [`Ensemble::start_on_loopback`]: 127.0.0.(id+1). Linux
    /// routes all of 127/8 to the loopback device, so every member has an address of its own without a
    /// namespace, and a test can connect from an address that is no member's.
    pub fn loopback_host(id: u64) -> String {
        format!("127.0.0.{}", id + 1)
    }

    /// Starts the ensemble with each member's `server.N` line on its own loopback address
    /// ([`Ensemble::loopback_host`]), and with `own(id)`'s zoo.cfg lines for that member only (its key store,
    /// say) on top of `spec.config`. Client ports stay on 127.0.0.1.
    pub fn start_on_loopback(
        spec: &EnsembleSpec<'_>,
        own: &dyn Fn(u64) -> Vec<(String, String)>,
    ) -> anyhow::Result<Self> {
        let count = spec.participants + spec.observers;
        let mut config = base_config();
        for id in 1..=count {
            let role = if id > spec.participants { ":observer" } else { "" };
            let line = format!("{}:{}:{}{role}", Ensemble::loopback_host(id), free_port(), free_port());
            config.push((format!("server.{id}"), line));
        }
        config.extend(spec.config.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut members = Vec::new();
        for id in 1..=count {
            let mut mine = config.clone();
            mine.extend(own(id));
            members.push(start_member(id, id > spec.participants, &mine)?);
        }
        Ok(Ensemble { members, config, network: None })
    }

    /// Starts the ensemble with member i in `network`'s namespace i, at its address there: `server.N` lines
    /// and client ports on the members' own addresses (client port 2181, peer ports 2888 and 3888 in every
    /// namespace). The network's cuts then partition the ensemble; clients and four-letter words from the
    /// test reach every member through the network's bridge, cut or not.
    pub fn start_in_network(spec: &EnsembleSpec<'_>, network: Network) -> anyhow::Result<Self> {
        let count = spec.participants + spec.observers;
        if network.len() as u64 != count {
            bail!("a network of {} namespaces for an ensemble of {count}", network.len());
        }
        let mut config = base_config();
        for i in 0..network.len() {
            let id = i as u64 + 1;
            let role = if id > spec.participants { ":observer" } else { "" };
            config.push((format!("server.{id}"), format!("{}:2888:3888{role}", network.addr(i))));
        }
        config.extend(spec.config.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut ensemble = Ensemble { members: Vec::new(), config: Vec::new(), network: None };
        for (i, id) in (1..=count).enumerate() {
            let place = (network.namespace(i), network.addr(i));
            ensemble.members.push(start_member_at(id, id > spec.participants, &config, Some(place))?);
        }
        ensemble.config = config;
        ensemble.network = Some(network);
        Ok(ensemble)
    }

    /// Starts a new server, not yet a member, as ZooKeeper's reconfig guide starts one: its zoo.cfg lists the
    /// ensemble and itself. Returns its index in `members` and its `server.N=...` line, client port included,
    /// for `reconfig -add`. A server that joins this way is a learner until a reconfig names it.
    pub fn start_joining(&mut self, observer: bool) -> anyhow::Result<(usize, String)> {
        let id = self.members.iter().map(|m| m.id).max().unwrap_or(0) + 1;
        let (peer, election, client) = (free_port(), free_port(), free_port());
        let role = if observer { "observer" } else { "participant" };
        let line = format!("server.{id}=127.0.0.1:{peer}:{election}:{role};127.0.0.1:{client}");
        let mut config = self.config.clone();
        if let Some((key, value)) = line.split_once('=') {
            config.push((key.to_string(), value.to_string()));
        }
        let dir = tempfile::Builder::new().prefix("paddock-member-").tempdir().context("cannot create a temp dir")?;
        let data_dir: PathBuf = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
        std::fs::write(data_dir.join("myid"), id.to_string()).context("cannot write myid")?;
        let cfg: Vec<(&str, &str)> = config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let process =
            PaddockProcess::start_on(client, &data_dir, &cfg).with_context(|| format!("starting server.{id}"))?;
        self.members.push(Member { id, observer, process, running: true, _dir: dir });
        Ok((self.members.len() - 1, line))
    }

    /// The network the members run in, if started with [`Ensemble::start_in_network`].
    pub fn network(&self) -> Option<&Network> {
        self.network.as_ref()
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

    /// Stops member `i` as an operator does (SIGTERM: it shuts down cleanly).
    pub fn terminate(&mut self, i: usize) -> anyhow::Result<()> {
        self.members[i].process.terminate().with_context(|| format!("stopping server.{}", self.members[i].id))?;
        self.members[i].running = false;
        Ok(())
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
        self.leader_among(&(0..self.members.len()).collect::<Vec<_>>())
    }

    /// [`Ensemble::leader`] looking only at the members in `group` (e.g. the majority side of a partition,
    /// while the cut-off old leader may still call itself leader): the index of the one running member of
    /// `group` whose `srvr` says leader, once every other running member of `group` says follower or observer.
    pub fn leader_among(&self, group: &[usize]) -> anyhow::Result<usize> {
        let deadline = Instant::now() + ENSEMBLE_WAIT;
        let mut modes = Vec::new();
        while Instant::now() < deadline {
            modes = group.iter().map(|i| (*i, self.members[*i].srvr_line("Mode:"))).collect::<Vec<_>>();
            let running = group.iter().filter(|i| self.members[**i].running).count();
            let leaders: Vec<usize> =
                modes.iter().filter(|(_, mode)| mode.as_deref() == Some("leader")).map(|(i, _)| *i).collect();
            let others = modes.iter().filter(|(_, m)| matches!(m.as_deref(), Some("follower" | "observer"))).count();
            if leaders.len() == 1 && others + 1 == running {
                return Ok(leaders[0]);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("no single leader among members {group:?} within {ENSEMBLE_WAIT:?}; (member, mode): {modes:?}")
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

/// The settings every test ensemble starts from, before its `server.N` lines and the test's own.
fn base_config() -> Vec<(String, String)> {
    // Fast ticks so that elections take seconds, not tens of seconds.
    [("tickTime", "500"), ("initLimit", "10"), ("syncLimit", "5"), ("snapCount", SNAP_COUNT)]
        .map(|(k, v)| (k.into(), v.into()))
        .into()
}

fn start_member(id: u64, observer: bool, config: &[(String, String)]) -> anyhow::Result<Member> {
    start_member_at(id, observer, config, None)
}

/// Starts server.`id`, on 127.0.0.1 or, with `place` = (namespace, address), inside that namespace.
fn start_member_at(
    id: u64,
    observer: bool,
    config: &[(String, String)],
    place: Option<(&str, std::net::Ipv4Addr)>,
) -> anyhow::Result<Member> {
    let dir = tempfile::Builder::new().prefix("paddock-member-").tempdir().context("cannot create a temp dir")?;
    let data_dir: PathBuf = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    std::fs::write(data_dir.join("myid"), id.to_string()).context("cannot write myid")?;
    let cfg: Vec<(&str, &str)> = config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let process = match place {
        None => PaddockProcess::start_in(&data_dir, &cfg),
        Some((namespace, addr)) => PaddockProcess::start_in_namespace(namespace, addr.into(), 2181, &data_dir, &cfg),
    }
    .with_context(|| format!("starting server.{id}"))?;
    Ok(Member { id, observer, process, running: true, _dir: dir })
}
