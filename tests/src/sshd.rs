//! Real OpenSSH servers for tests: each `Sshd` is an `sshd` process on a free
//! 127.0.0.1 port, with its own host key and a client key authorized for the
//! current user. Dropped, it kills the server.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `sshd`.
pub struct Sshd {
    /// The loopback address it listens on.
    pub ip: String,
    /// Its port.
    pub port: u16,
    /// The user to log in as (the current one).
    pub user: String,
    /// The client key authorized on it.
    pub identity_file: PathBuf,
    /// Its folder (config, keys, log).
    pub dir: PathBuf,
    child: Child,
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen must be installed (openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
}

fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Sshd {
    /// Starts a server under `dir` and waits until it accepts connections.
    pub fn start(dir: &Path) -> Sshd {
        Sshd::start_with(dir, "127.0.0.1", None, None)
    }

    /// A server that acts like a machine of its own: it listens on `ip` (any
    /// 127.x.y.z address is loopback on Linux, so several "machines" have distinct
    /// IPs without namespaces) and its sessions get `dir/home` as `HOME` and working
    /// folder, so nodes do not share files, and the tests' `DOCKER_HOST` (their
    /// Docker daemon is the machine's).
    ///
    /// Its sessions never power off the computer the tests run on: `shutdown`,
    /// `poweroff`, `halt` and `reboot` first on their `PATH` run the machine's
    /// power-off handler (see [`Sshd::on_power_off`]) or fail, and `sudo` runs its
    /// command as the same user, through that `PATH`.
    pub fn start_machine(dir: &Path, ip: &str) -> Sshd {
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let bin = machine_bin(dir);
        Sshd::start_with(dir, ip, Some(&home), Some(&bin))
    }

    /// What a shutdown from inside this machine does (see
    /// [`Sshd::start_machine`]): `script`, a shell script run with the arguments
    /// given to `shutdown` or `poweroff`.
    pub fn on_power_off(&self, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let handler = self.dir.join("on-power-off");
        std::fs::write(&handler, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&handler, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A machine (see [`Sshd::start_machine`]) whose `uname -m` says `arch`: a
    /// `uname` first on its sessions' `PATH` answers `-m` with it, so the launcher
    /// takes it for a machine of that architecture.
    pub fn start_machine_reporting(dir: &Path, ip: &str, arch: &str) -> Sshd {
        use std::os::unix::fs::PermissionsExt;
        let home = dir.join("home");
        let bin = machine_bin(dir);
        std::fs::create_dir_all(&home).unwrap();
        let uname = bin.join("uname");
        std::fs::write(
            &uname,
            format!(
                "#!/bin/sh\nif [ \"$1\" = -m ]; then echo {arch}; else exec /bin/uname \"$@\"; fi\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&uname, std::fs::Permissions::from_mode(0o755)).unwrap();
        Sshd::start_with(dir, ip, Some(&home), Some(&bin))
    }

    /// Also accepts the client key of `other` (so one node can reach another with
    /// the key the head holds).
    pub fn authorize(&self, other: &Sshd) {
        use std::io::Write;
        let public = std::fs::read_to_string(other.dir.join("client_key.pub")).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("authorized_keys"))
            .unwrap();
        file.write_all(public.as_bytes()).unwrap();
    }

    /// Also accepts `public_key` (one OpenSSH line).
    pub fn authorize_key(&self, public_key: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("authorized_keys"))
            .unwrap();
        writeln!(file, "{}", public_key.trim()).unwrap();
    }

    /// The `authorized_keys` file this sshd reads.
    pub fn authorized_keys_path(&self) -> PathBuf {
        self.dir.join("authorized_keys")
    }

    /// This machine's home folder (see [`Sshd::start_machine`]).
    pub fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    fn start_with(dir: &Path, ip: &str, home: Option<&Path>, bin: Option<&Path>) -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is missing: install openssh-server (scripts/test.sh does)"
        );
        std::fs::create_dir_all(dir).unwrap();
        // Privilege separation needs this folder when sshd runs as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let host_key = dir.join("host_key");
        let client_key = dir.join("client_key");
        keygen(&host_key);
        keygen(&client_key);
        let public = std::fs::read_to_string(dir.join("client_key.pub")).unwrap();
        let authorized = dir.join("authorized_keys");
        std::fs::write(&authorized, public).unwrap();
        let port = free_port(ip);
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress {ip}\nHostKey {}\nAuthorizedKeysFile {}{}\n\
                 PidFile {}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n\
                 AllowTcpForwarding yes\nMaxStartups 50\nMaxSessions 50\n",
                host_key.display(),
                authorized.display(),
                // A machine with a home also reads `~/.ssh/authorized_keys` there,
                // as a real sshd does.
                home.map(|h| format!(" {}/.ssh/authorized_keys", h.display()))
                    .unwrap_or_default(),
                dir.join("sshd.pid").display(),
            ) + &home
                .map(|h| {
                    format!(
                        "SetEnv HOME={}{}\nForceCommand {}cd \"$HOME\" && eval \"$SSH_ORIGINAL_COMMAND\"\n",
                        h.display(),
                        // The machine's Docker daemon is the tests' one (scripts/test.sh).
                        std::env::var("DOCKER_HOST")
                            .ok()
                            .filter(|d| !d.is_empty() && !d.contains(char::is_whitespace))
                            .map(|d| format!(" DOCKER_HOST={d}"))
                            .unwrap_or_default(),
                        bin.map(|b| format!("export PATH={}:\"$PATH\"; ", b.display()))
                            .unwrap_or_default(),
                    )
                })
                .unwrap_or_default(),
        )
        .unwrap();
        let child = spawn(dir);
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(whoami);
        let server = Sshd {
            ip: ip.to_string(),
            port,
            user,
            identity_file: client_key,
            dir: dir.to_path_buf(),
            child,
        };
        server.wait_ready();
        server
    }

    /// Stops this machine, its open sessions too (as a reboot would: clients'
    /// shared connections drop), and starts it again on the same address and port
    /// with a new host key: to a client, another machine answering at its address.
    pub fn restart_with_new_host_key(&mut self) {
        let mut pids = descendants(self.child.id());
        pids.push(self.child.id());
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(pids.iter().map(u32::to_string))
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        let host_key = self.dir.join("host_key");
        std::fs::remove_file(&host_key).unwrap();
        std::fs::remove_file(self.dir.join("host_key.pub")).unwrap();
        keygen(&host_key);
        self.child = spawn(&self.dir);
        self.wait_ready();
    }

    /// This machine's public host key (one OpenSSH line).
    pub fn host_public_key(&self) -> String {
        std::fs::read_to_string(self.dir.join("host_key.pub")).unwrap()
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect((self.ip.as_str(), self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default();
        panic!("sshd on port {} did not start: {log}", self.port);
    }
}

/// The folder first on a machine's `PATH` (`dir/bin`), with the power commands
/// and `sudo` of [`Sshd::start_machine`].
fn machine_bin(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let handler = dir.join("on-power-off");
    let power = format!(
        "#!/bin/sh\n[ -x {h} ] && exec {h} \"$@\"\n\
         echo \"test machine: $(basename \"$0\") refused (no power-off handler)\" >&2\nexit 1\n",
        h = handler.display()
    );
    let sudo = "#!/bin/sh\nwhile [ \"${1#-}\" != \"$1\" ]; do shift; done\nexec \"$@\"\n";
    for (name, text) in [
        ("shutdown", power.as_str()),
        ("poweroff", &power),
        ("halt", &power),
        ("reboot", &power),
        ("sudo", sudo),
    ] {
        let path = bin.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

/// Starts `/usr/sbin/sshd` with the config under `dir`, logging to `dir/sshd.log`.
fn spawn(dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("sshd.log"))
        .unwrap();
    Command::new("/usr/sbin/sshd")
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(dir.join("sshd_config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start sshd")
}

/// Every process below `pid` (from `/proc`): sshd's connections and sessions.
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let child: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let parent = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
            Some((child, parent.parse().ok()?))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found.split_off(1)
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
