#!/usr/bin/python3
"""Installs the Claude Code CLI from the claude-agent-sdk wheel into /usr/local/bin/claude.

No network here: sandbox/build-rootfs has already downloaded the wheel on the host with pip (wheels.txt,
`--require-hashes`) into $DOWNLOADS. This script checks the wheel against the sha256 pinned in $WHEELS (the
copy of wheels.txt) once more, so a cached file that changed since is refused, and extracts the binary.
Runs inside the image's chroot (sandbox/build-rootfs, CUSTOMIZE).
"""
import glob, hashlib, os, re, shutil, sys, zipfile

MEMBER = "claude_agent_sdk/_bundled/claude"


def log(text):
    print(f"[claude image] {text}", file=sys.stderr, flush=True)


def pinned(requirements, project):
    """(version, sha256) of `project==VERSION --hash=sha256:HEX` in a requirements file."""
    with open(requirements) as lines:
        for line in lines:
            found = re.match(rf"\s*{re.escape(project)}==(\S+)\s+--hash=sha256:([0-9a-f]{{64}})\s*$", line)
            if found:
                return found.group(1), found.group(2)
    sys.exit(f"{requirements} pins no {project}==VERSION --hash=sha256:…")


wheels = os.environ.get("WHEELS") or sys.exit("WHEELS is not set: build this image with `pushbox image build claude`")
downloads = os.environ.get("DOWNLOADS") or sys.exit("DOWNLOADS is not set")
version, sha256 = pinned(wheels, "claude-agent-sdk")
candidates = sorted(glob.glob(os.path.join(downloads, f"claude_agent_sdk-{version}-*manylinux*x86_64.whl")))
if not candidates:
    sys.exit(f"no claude_agent_sdk-{version} wheel in {downloads}: the host-side pip download did not run")
path = candidates[0]
digest = hashlib.sha256()
with open(path, "rb") as wheel:
    while chunk := wheel.read(1 << 20):
        digest.update(chunk)
if digest.hexdigest() != sha256:
    sys.exit(f"{os.path.basename(path)}: sha256 {digest.hexdigest()} is not the pinned {sha256}")
log(f"{os.path.basename(path)}: sha256 matches the pin")

with zipfile.ZipFile(path) as wheel, wheel.open(MEMBER) as source, open("/usr/local/bin/claude", "wb") as target:
    shutil.copyfileobj(source, target, 1 << 20)
os.chmod("/usr/local/bin/claude", 0o755)
log("installed /usr/local/bin/claude")
