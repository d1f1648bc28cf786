#!/usr/bin/python3
"""Installs the Claude Code CLI from the claude-agent-sdk wheel (PyPI) into /usr/local/bin/claude.

The wheel is cached in $DOWNLOADS (WORKDIR/downloads on the host) and its sha256 checked against PyPI's
metadata when it is downloaded. Runs inside the image's chroot (sandbox/build-rootfs, CUSTOMIZE).
"""
import hashlib, json, os, shutil, sys, urllib.request, zipfile

VERSION = "0.2.187"            # claude-agent-sdk; bundles Claude Code 2.1.330
WHEEL = f"claude_agent_sdk-{VERSION}-py3-none-manylinux_2_17_x86_64.whl"
MEMBER = "claude_agent_sdk/_bundled/claude"
downloads = os.environ.get("DOWNLOADS", "/tmp")
path = os.path.join(downloads, WHEEL)


def log(text):
    print(f"[claude image] {text}", file=sys.stderr, flush=True)


if not os.path.exists(path):
    log(f"fetching the metadata of claude-agent-sdk {VERSION} from PyPI")
    with urllib.request.urlopen(f"https://pypi.org/pypi/claude-agent-sdk/{VERSION}/json", timeout=60) as answer:
        files = json.load(answer)["urls"]
    entry = next((f for f in files if f["filename"] == WHEEL), None)
    if entry is None:
        sys.exit(f"PyPI lists no {WHEEL}")
    log(f"downloading {WHEEL} ({entry['size'] >> 20} MiB)")
    digest = hashlib.sha256()
    partial = path + ".part"
    with urllib.request.urlopen(entry["url"], timeout=600) as answer, open(partial, "wb") as out:
        done = 0
        while chunk := answer.read(1 << 20):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if done % (32 << 20) < (1 << 20):
                log(f"  {done >> 20} MiB")
    if digest.hexdigest() != entry["digests"]["sha256"]:
        os.remove(partial)
        sys.exit(f"{WHEEL}: sha256 mismatch")
    os.rename(partial, path)
else:
    log(f"using the cached {path}")

with zipfile.ZipFile(path) as wheel, wheel.open(MEMBER) as source, open("/usr/local/bin/claude", "wb") as target:
    shutil.copyfileobj(source, target, 1 << 20)
os.chmod("/usr/local/bin/claude", 0o755)
log("installed /usr/local/bin/claude")
