//! A private network for partition tests: one Linux network namespace per ensemble member, each with a veth
//! into a bridge of its own in the root namespace, in a /24 of 10.0.0.0/8 that nothing else on the machine
//! uses. The test (in the root namespace) reaches every member through the bridge at all times; [`Network::cut`]
//! drops the packets between chosen members, so a cut-off member still talks to clients, which is how "the
//! minority refuses writes" is observed.
//!
//! Needs root and `ip` (iproute2) and nothing else: a cut is a pair of policy-routing rules, `ip rule add
//! from <peer> blackhole` in each of the two namespaces, ahead of the `local` table (moved from priority 0 to
//! [`LOCAL_PREF`]), so that every packet from the other side is dropped on arrival, silently, as a real
//! partition drops it: connects time out, established connections stall. Everything is removed on drop, and
//! the leftovers of a test process that was killed (namespaces and bridges named after its pid) are removed
//! by the next test that builds a network.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, bail};

/// Priority of the cut rules: before the `local` table, else packets to this namespace's own address would
/// be delivered before any rule about their source is looked at.
const CUT_PREF: u32 = 10;
/// Where the `local` table's rule moves to (from 0).
const LOCAL_PREF: u32 = 100;
/// Taken while a network picks its subnet and claims it, so that parallel test processes never pick one.
const SUBNET_LOCK: &str = "/run/paddock-testkit-netns.lock";
/// Linux interface names are at most 15 bytes.
const IFNAMSIZ: usize = 15;
/// Namespace names start with this, then `<pid>-<network>-<member>`.
const NS_PREFIX: &str = "paddock-";
/// Bridge names: `pdb<pid>x<network>`; veths (root side): `pdv<pid>x<network><member>`.
const BRIDGE_PREFIX: &str = "pdb";
const VETH_PREFIX: &str = "pdv";

/// The bridge, the namespaces and the cuts between members of one test. Member `i` lives in
/// [`Network::namespace`]`(i)` at [`Network::addr`]`(i)`; the root namespace is [`Network::host_addr`] on the
/// bridge.
pub struct Network {
    bridge: Option<String>,
    veths: Vec<String>,
    namespaces: Vec<String>,
    /// `10.a.b`
    prefix: [u8; 3],
    /// Member pairs `(i, j)`, `i < j`, whose traffic is dropped.
    cuts: Mutex<BTreeSet<(usize, usize)>>,
}

impl Network {
    /// Builds a bridge and `members` namespaces. Fails with a message naming the problem when not root or
    /// when `ip` is missing.
    pub fn create(members: usize) -> anyhow::Result<Network> {
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            bail!(
                "partition tests build network namespaces and need root (CI runs them as root); running as uid {euid}"
            );
        }
        match Command::new("ip").arg("-V").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => bail!("`ip -V` failed ({}): install a working iproute2", out.status),
            Err(e) => bail!(
                "partition tests need `ip` (Debian package iproute2, run scripts/install-test-deps): cannot run it: {e}"
            ),
        }
        if members == 0 || members > 36 {
            bail!("a test network has 1 to 36 members, not {members}");
        }
        sweep_leftovers();

        static NETWORKS: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let n = base36(NETWORKS.fetch_add(1, Ordering::Relaxed));
        let mut network = Network {
            bridge: None,
            veths: Vec::new(),
            namespaces: Vec::new(),
            prefix: [10, 0, 0],
            cuts: Mutex::new(BTreeSet::new()),
        };
        let bridge = format!("{BRIDGE_PREFIX}{pid}x{n}");
        check_ifname(&bridge)?;
        network.prefix = claim_subnet(&bridge, || {
            network.bridge = Some(bridge.clone());
        })?;
        ip(&["link", "set", &bridge, "up"])?;
        for i in 0..members {
            let ns = format!("{NS_PREFIX}{pid}-{n}-{i}");
            let veth = format!("{VETH_PREFIX}{pid}x{n}{}", base36(i as u32));
            check_ifname(&veth)?;
            ip(&["netns", "add", &ns])?;
            network.namespaces.push(ns.clone());
            ip(&["link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns])?;
            network.veths.push(veth.clone());
            ip(&["link", "set", &veth, "master", &bridge, "up"])?;
            let addr = format!("{}/24", network.addr(i));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "rule", "add", "pref", &LOCAL_PREF.to_string(), "lookup", "local"])?;
            ip(&["-n", &ns, "rule", "del", "pref", "0", "lookup", "local"])?;
        }
        Ok(network)
    }

    /// How many members (namespaces) the network has.
    pub fn len(&self) -> usize {
        self.namespaces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
    }

    /// Member `i`'s address, `10.a.b.(10+i)`.
    pub fn addr(&self, i: usize) -> Ipv4Addr {
        let [a, b, c] = self.prefix;
        Ipv4Addr::new(a, b, c, 10 + i as u8)
    }

    /// The root namespace's address on the bridge, `10.a.b.1`: where the test's clients come from.
    pub fn host_addr(&self) -> Ipv4Addr {
        let [a, b, c] = self.prefix;
        Ipv4Addr::new(a, b, c, 1)
    }

    /// Member `i`'s namespace name (as `ip netns` knows it).
    pub fn namespace(&self, i: usize) -> &str {
        &self.namespaces[i]
    }

    /// `ip netns exec <namespace(i)> <program>`: a command that runs inside member `i`'s namespace (`ip`
    /// execs the program in place, so the child's pid is the program's).
    pub fn command(&self, i: usize, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.arg("netns").arg("exec").arg(self.namespace(i)).arg(program);
        command
    }

    /// Drops every packet between each member of `a` and each member of `b`, both ways. Clients in the root
    /// namespace still reach every member.
    pub fn cut(&self, a: &[usize], b: &[usize]) -> anyhow::Result<()> {
        let mut cuts = self.cuts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for &x in a {
            for &y in b {
                if x == y {
                    bail!("member {x} is on both sides of the cut");
                }
                let pair = (x.min(y), x.max(y));
                if cuts.contains(&pair) {
                    continue;
                }
                self.rule("add", x, y)?;
                // Recorded before the second rule, so that heal (and drop) removes the first if it fails.
                cuts.insert(pair);
                self.rule("add", y, x)?;
            }
        }
        Ok(())
    }

    /// Cuts member `i` from every other member.
    pub fn isolate(&self, i: usize) -> anyhow::Result<()> {
        let others: Vec<usize> = (0..self.len()).filter(|j| *j != i).collect();
        self.cut(&[i], &others)
    }

    /// Splits the members into `group` and everyone else.
    pub fn partition(&self, group: &[usize]) -> anyhow::Result<()> {
        let others: Vec<usize> = (0..self.len()).filter(|j| !group.contains(j)).collect();
        self.cut(group, &others)
    }

    /// Removes every cut: all members reach each other again.
    pub fn heal(&self) -> anyhow::Result<()> {
        let mut cuts = self.cuts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut first_error = None;
        for (x, y) in std::mem::take(&mut *cuts) {
            for (from, to) in [(x, y), (y, x)] {
                // The second rule of a pair may be missing if adding it failed; that is not an error here.
                if let Err(e) = self.rule("del", from, to)
                    && !e.to_string().contains("No such file or directory")
                {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The member pairs currently cut, `(i, j)` with `i < j`.
    pub fn cuts(&self) -> Vec<(usize, usize)> {
        self.cuts.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().copied().collect()
    }

    /// In member `at`'s namespace, adds or deletes the rule dropping packets from member `from`.
    fn rule(&self, action: &str, at: usize, from: usize) -> anyhow::Result<()> {
        let source = self.addr(from).to_string();
        ip(&["-n", self.namespace(at), "rule", action, "pref", &CUT_PREF.to_string(), "from", &source, "blackhole"])
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Deleting the root side of a veth deletes its pair; a namespace whose processes are gone goes with its
        // name. Each step is attempted even if an earlier one failed.
        for veth in &self.veths {
            if let Err(e) = ip(&["link", "del", veth]) {
                eprintln!("paddock-testkit: cannot remove veth {veth}: {e:#}");
            }
        }
        for ns in &self.namespaces {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("paddock-testkit: cannot remove network namespace {ns}: {e:#}");
            }
        }
        if let Some(bridge) = &self.bridge
            && let Err(e) = ip(&["link", "del", bridge])
        {
            eprintln!("paddock-testkit: cannot remove bridge {bridge}: {e:#}");
        }
    }
}

/// Runs `ip <args>`; an error with its stderr if it fails.
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip").args(args).output().with_context(|| format!("cannot run `ip {}`", args.join(" ")))?;
    if !out.status.success() {
        bail!("`ip {}` failed ({}): {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// `ip <args>`'s standard output, empty if it cannot run.
fn ip_output(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}

fn check_ifname(name: &str) -> anyhow::Result<()> {
    if name.len() > IFNAMSIZ {
        bail!("interface name {name:?} is longer than {IFNAMSIZ} bytes");
    }
    Ok(())
}

fn base36(mut n: u32) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Under a file lock shared by every test process, picks a random `10.a.b.0/24` that no address or route of
/// the root namespace mentions, creates `bridge` with `10.a.b.1/24` on it (calling `created` as soon as the
/// bridge exists, so that the caller removes it if a later step fails) and returns `[10, a, b]`.
fn claim_subnet(bridge: &str, created: impl FnOnce()) -> anyhow::Result<[u8; 3]> {
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(SUBNET_LOCK)
        .with_context(|| format!("cannot open {SUBNET_LOCK}"))?;
    // SAFETY: flock(2) on a descriptor we own; it stays open until the end of this function, which unlocks.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        bail!("cannot lock {SUBNET_LOCK}: {}", std::io::Error::last_os_error());
    }
    let in_use = ip_output(&["-4", "-o", "addr", "show"]) + &ip_output(&["-4", "route", "show", "table", "all"]);
    let seed = std::collections::hash_map::RandomState::new();
    let mut chosen = None;
    for attempt in 0u64..1000 {
        let mut hasher = seed.build_hasher();
        hasher.write_u64(attempt);
        hasher.write_u32(std::process::id());
        let bits = hasher.finish();
        // 10.64.0.0 to 10.254.255.0: away from the low 10.0.x.y networks that containers and VPNs like.
        let a = 64 + (bits % 191) as u8;
        let b = ((bits >> 8) % 256) as u8;
        if !in_use.contains(&format!("10.{a}.{b}.")) {
            chosen = Some([10, a, b]);
            break;
        }
    }
    let Some(prefix) = chosen else { bail!("no free 10.x.y.0/24 subnet for a test network") };
    ip(&["link", "add", bridge, "type", "bridge"])?;
    created();
    let [a, b, c] = prefix;
    ip(&["addr", "add", &format!("{a}.{b}.{c}.1/24"), "dev", bridge])?;
    drop(lock);
    Ok(prefix)
}

/// Removes the namespaces, veths and bridges of test processes that no longer exist (killed before their
/// networks were dropped). Best effort: what cannot be removed now is tried again by the next network.
fn sweep_leftovers() {
    let dead = |pid: &str| !pid.is_empty() && !std::path::Path::new("/proc").join(pid).exists();
    for line in ip_output(&["netns", "list"]).lines() {
        let Some(name) = line.split_whitespace().next() else { continue };
        let Some(rest) = name.strip_prefix(NS_PREFIX) else { continue };
        let pid = rest.split('-').next().unwrap_or_default();
        if pid.bytes().all(|c| c.is_ascii_digit()) && dead(pid) {
            let _ = ip(&["netns", "del", name]);
        }
    }
    for line in ip_output(&["-o", "link", "show"]).lines() {
        // `7: pdb123x0: <...` or `8: pdv123x00@if2: <...`
        let Some(name) = line.split(": ").nth(1).and_then(|n| n.split('@').next()) else { continue };
        let Some(rest) = name.strip_prefix(BRIDGE_PREFIX).or_else(|| name.strip_prefix(VETH_PREFIX)) else {
            continue;
        };
        let pid = rest.split('x').next().unwrap_or_default();
        if pid.bytes().all(|c| c.is_ascii_digit()) && dead(pid) {
            let _ = ip(&["link", "del", name]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::base36;

    #[test]
    fn base36_names_stay_short() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        assert_eq!(base36(1295), "zz");
    }
}
