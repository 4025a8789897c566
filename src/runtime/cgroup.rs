//! An idle cgroup for the bcrypt threads: the kernel's half of keeping a
//! login storm from delaying cheap work (the cooperative half is
//! [`super::gate`]).
//!
//! `SCHED_IDLE` only ranks a thread inside its own scheduling group (the
//! process's cgroup or autogroup); against other processes, such as the
//! database, a proxy or the load generator, the bcrypt threads would take
//! a full share. A cgroup whose `cpu.idle` is 1 is idle against its
//! siblings: a waking task of any of them preempts it at once. So where
//! the server may create one, the bcrypt threads move into
//! `<the server's own cpu cgroup>/ledger-bcrypt`:
//!
//! - cgroup v1 (a `cpu` hierarchy): threads move one by one (`tasks`);
//!   `cpu.idle` where the kernel has it (5.15+), else `cpu.shares` = 2;
//! - cgroup v2: the group is made `threaded` inside the server's own
//!   (delegated) cgroup, `+cpu` enabled there, threads moved through
//!   `cgroup.threads`.
//!
//! It is best effort (`BCRYPT_CGROUP = "auto"`): where the files are not
//! writable the server says why in one line and relies on `SCHED_IDLE`
//! and the gate. The group is left in place when the server stops (an
//! empty cgroup costs nothing, and the next start or another instance on
//! the host reuses it).

use std::path::{Path, PathBuf};

/// The group's name, under the server's own cgroup.
const NAME: &str = "ledger-bcrypt";

/// A created idle group, ready for threads to join.
#[derive(Debug)]
pub(crate) struct IdleGroup {
    dir: PathBuf,
    /// The file a thread id is written to (`tasks` or `cgroup.threads`).
    join_file: PathBuf,
    /// What makes it idle: `cpu.idle` or `cpu.shares`.
    how: &'static str,
}

impl IdleGroup {
    /// Creates (or reuses) the group under the calling process's cpu
    /// cgroup; `Err` says what refused.
    pub(crate) fn create() -> Result<IdleGroup, String> {
        let cgroups = read("/proc/self/cgroup")?;
        let mounts = read("/proc/self/mountinfo")?;
        match locate(&cgroups, &mounts) {
            Some(Where::V1(own)) => create_v1(&own),
            Some(Where::V2(own)) => create_v2(&own),
            None => Err("no cgroup cpu controller is mounted".into()),
        }
    }

    /// Moves the calling thread into the group.
    pub(crate) fn join_current_thread(&self) -> Result<(), String> {
        write(&self.join_file, &thread_id()?)
    }

    /// Where the group is, and what makes it idle, for the start-up line.
    pub(crate) fn describe(&self) -> String {
        format!("{} ({})", self.dir.display(), self.how)
    }
}

fn create_v1(own: &Path) -> Result<IdleGroup, String> {
    let dir = own.join(NAME);
    make_dir(&dir)?;
    let how = if dir.join("cpu.idle").exists() {
        write(&dir.join("cpu.idle"), "1")?;
        "cpu.idle"
    } else {
        write(&dir.join("cpu.shares"), "2")?;
        "cpu.shares"
    };
    Ok(IdleGroup { join_file: dir.join("tasks"), dir, how })
}

fn create_v2(own: &Path) -> Result<IdleGroup, String> {
    let controllers = read(own.join("cgroup.controllers"))?;
    if !controllers.split_whitespace().any(|c| c == "cpu") {
        return Err(format!("the cpu controller is not enabled for {}", own.display()));
    }
    let dir = own.join(NAME);
    make_dir(&dir)?;
    if read(dir.join("cgroup.type"))?.trim() != "threaded" {
        write(&dir.join("cgroup.type"), "threaded")?;
    }
    let enabled = read(own.join("cgroup.subtree_control"))?;
    if !enabled.split_whitespace().any(|c| c == "cpu") {
        write(&own.join("cgroup.subtree_control"), "+cpu")?;
    }
    write(&dir.join("cpu.idle"), "1")?;
    Ok(IdleGroup { join_file: dir.join("cgroup.threads"), dir, how: "cpu.idle" })
}

/// The calling process's cpu cgroup directory.
#[derive(Debug, PartialEq, Eq)]
enum Where {
    V1(PathBuf),
    V2(PathBuf),
}

/// From `/proc/self/cgroup` and `/proc/self/mountinfo`: the v1 `cpu`
/// hierarchy's directory of this process if there is one, else its v2 one.
fn locate(cgroups: &str, mountinfo: &str) -> Option<Where> {
    let mut v2 = None;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if controllers.split(',').any(|c| c == "cpu") {
            return mount_of(mountinfo, |fs, opts| fs == "cgroup" && opts.split(',').any(|o| o == "cpu"))
                .map(|(root, at)| Where::V1(inside(&at, &root, path)));
        }
        if controllers.is_empty() {
            v2 = mount_of(mountinfo, |fs, _| fs == "cgroup2").map(|(root, at)| Where::V2(inside(&at, &root, path)));
        }
    }
    v2
}

/// The (root, mount point) of the first mount whose filesystem type and
/// super options satisfy `wanted`.
fn mount_of(mountinfo: &str, wanted: impl Fn(&str, &str) -> bool) -> Option<(String, PathBuf)> {
    mountinfo.lines().find_map(|line| {
        let (mine, theirs) = line.split_once(" - ")?;
        let fields: Vec<&str> = mine.split(' ').collect();
        let mut rest = theirs.split(' ');
        let (fs, _source, opts) = (rest.next()?, rest.next()?, rest.next().unwrap_or(""));
        (fields.len() >= 5 && wanted(fs, opts)).then(|| (fields[3].to_owned(), PathBuf::from(fields[4])))
    })
}

/// The directory of cgroup `path` in a hierarchy mounted at `at` whose
/// mount shows the hierarchy from `root` down.
fn inside(at: &Path, root: &str, path: &str) -> PathBuf {
    let relative = path.strip_prefix(root).filter(|_| root != "/").unwrap_or(path);
    at.join(relative.trim_start_matches('/'))
}

fn read(path: impl AsRef<Path>) -> Result<String, String> {
    let path = path.as_ref();
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("{}: {e}", path.display()))
}

fn make_dir(dir: &Path) -> Result<(), String> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

/// The calling thread's id, from `/proc/thread-self` (`<pid>/task/<tid>`).
fn thread_id() -> Result<String, String> {
    let link = std::fs::read_link("/proc/thread-self").map_err(|e| format!("/proc/thread-self: {e}"))?;
    link.file_name()
        .and_then(|tid| tid.to_str())
        .filter(|tid| tid.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
        .ok_or_else(|| format!("/proc/thread-self points at {}", link.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_CGROUP: &str = "9:name=systemd:/\n2:cpuacct:/\n1:cpu:/\n0::/\n";
    const V1_MOUNTS: &str = "\
30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
33 25 0:29 / /sys/fs/cgroup/cpuacct rw,nosuid - cgroup cgroup rw,cpuacct
34 25 0:30 / /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu
";

    #[test]
    fn finds_the_v1_cpu_hierarchy_before_v2() {
        assert_eq!(locate(V1_CGROUP, V1_MOUNTS), Some(Where::V1(PathBuf::from("/sys/fs/cgroup/cpu"))));
        let nested = "4:cpu,cpuacct:/docker/abc\n0::/\n";
        let mounts = "34 25 0:30 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        assert_eq!(locate(nested, mounts), Some(Where::V1(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"))));
        let deeper = "4:cpu,cpuacct:/docker/abc/x\n";
        assert_eq!(locate(deeper, mounts), Some(Where::V1(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/x"))));
        // cpuacct alone is not cpu
        assert_eq!(locate("2:cpuacct:/\n", V1_MOUNTS), None);
    }

    #[test]
    fn finds_the_v2_cgroup() {
        let cgroup = "0::/system.slice/ledger-server.service\n";
        let mounts = "25 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            locate(cgroup, mounts),
            Some(Where::V2(PathBuf::from("/sys/fs/cgroup/system.slice/ledger-server.service")))
        );
        assert_eq!(locate(cgroup, "22 1 0:5 / /proc rw - proc proc rw\n"), None);
    }

    /// Where the process may create the group (root, a writable v1 `cpu`
    /// hierarchy with `cpu.idle`, as on the machines CI runs on), a thread
    /// really ends up in it; elsewhere creating it fails with a reason.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_joins_the_idle_group_where_one_may_be_made() {
        let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let writable = match locate(&cgroups, &mounts) {
            Some(Where::V1(own) | Where::V2(own)) => {
                own.join("cgroup.procs").metadata().is_ok_and(|m| !m.permissions().readonly())
                    && std::fs::OpenOptions::new().append(true).open(own.join("cgroup.procs")).is_ok()
            }
            None => false,
        };
        match IdleGroup::create() {
            Ok(group) => {
                let joined = std::thread::spawn(move || {
                    group.join_current_thread().map(|()| std::fs::read_to_string("/proc/thread-self/cgroup"))
                })
                .join()
                .unwrap();
                let text = joined.unwrap().unwrap();
                assert!(text.contains(&format!("/{NAME}")), "the thread is not in the group: {text}");
            }
            Err(why) => {
                assert!(!writable, "the cgroup is writable, yet: {why}");
                assert!(!why.is_empty());
            }
        }
    }
}
