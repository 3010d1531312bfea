"""What a cloud-init first boot does with the SSH host key its user data gives it
(`ssh_keys`), played on a test "machine" (a real sshd the test started, see
tests/src/sshd.rs): the fakes of clouds that take user data (DigitalOcean,
Nebius, Azure, OCI) call `install_host_key` when they create an instance, as
tests/ssh_relay.py does for AWS and GCP; the Kubernetes fake calls
`install_key_pair` with the key a pod reads from its Secret.

Imported by the fakes (they run as scripts from this folder, so it is on their
path); no third-party package needed.
"""
import os
import signal
import subprocess
import time


def host_key_of(user_data):
    """The (private, public) ed25519 host key that a `#cloud-config` document's
    `ssh_keys` gives cloud-init (`ed25519_private` as a literal block,
    `ed25519_public` as a plain value, at any indentation), or None."""
    if not isinstance(user_data, str) or not user_data.startswith("#cloud-config"):
        return None
    private, public, block_indent = [], None, None
    for line in user_data.splitlines():
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if line.strip() and indent > block_indent:
                private.append(line)
                continue
            block_indent = None
        if line.strip() == "ed25519_private: |":
            block_indent = indent
        elif line.strip().startswith("ed25519_public:"):
            public = line.split(":", 1)[1].strip()
    if not private or not public:
        return None
    cut = min(len(l) - len(l.lstrip()) for l in private)
    return "\n".join(l[cut:] for l in private) + "\n", public


def install_host_key(machine, user_data):
    """Makes `machine` ((ip, port, authorized_keys path), as the fakes' `--machines`
    name it) answer SSH with the host key `user_data` gives cloud-init, as its first
    boot would: writes its sshd's `host_key` (0600) and `host_key.pub`, reloads that
    sshd (SIGHUP to the pid in its `sshd.pid`) and waits until `ssh-keyscan` sees
    the key. Returns the public key line installed, or None when `user_data` gives
    no host key (the machine keeps its own)."""
    pair = host_key_of(user_data)
    if pair is None:
        return None
    return install_key_pair(machine, *pair)


def install_key_pair(machine, private, public):
    """Makes `machine` (ip, port, authorized_keys path) answer SSH with the host
    key pair `private`, `public` (see `install_host_key`); returns `public`."""
    ip, port, authorized_keys = machine[0], machine[1], machine[2]
    if not private.endswith("\n"):
        private += "\n"
    folder = os.path.dirname(authorized_keys)
    path = os.path.join(folder, "host_key")
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
    with open(fd, "w") as f:
        f.write(private)
    os.chmod(path, 0o600)
    with open(os.path.join(folder, "host_key.pub"), "w") as f:
        f.write(public.strip() + "\n")
    with open(os.path.join(folder, "sshd.pid")) as f:
        os.kill(int(f.read().strip()), signal.SIGHUP)
    want = public.split()[1]
    deadline = time.time() + 10
    while time.time() < deadline:
        scan = subprocess.run(
            ["ssh-keyscan", "-T", "2", "-t", "ed25519", "-p", str(port), ip],
            capture_output=True, text=True)
        if want in scan.stdout:
            return public
        time.sleep(0.1)
    raise RuntimeError(f"first_boot: the sshd of {ip}:{port} did not take the new host key")
