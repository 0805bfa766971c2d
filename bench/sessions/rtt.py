"""Part of bench/sessions/run.sh: keystroke round trips (a key sent, its echo back) through
Haven's WebSocket bridge to a bash in a session, and through ssh to a bash over loopback, in one
run; then the same through Haven with N idle R sessions open beside it, N doubling until the
median round trip doubles or N reaches MAX. Prints JSON."""

import asyncio, json, os, pty, re, ssl, statistics, subprocess, sys, time, urllib.parse, urllib.request
import http.cookiejar

import websockets

BASE, CA, COOKIES = os.environ["HAVEN_URL"], os.environ["CA"], open(os.environ["COOKIES"]).read().strip()
KEYS, MAX = int(os.environ.get("KEYS", "300")), int(os.environ.get("MAX_SESSIONS", "64"))
context = ssl.create_default_context(cafile=CA)
opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


no_redirect = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), NoRedirect)


def launch(app):
    """Launches `app` on the asset through the page's form; the session's path."""
    page = opener.open(urllib.request.Request(BASE + "/apps", headers={"Cookie": COOKIES})).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrf_token": token, "asset": "bench", "app": app}).encode()
    req = urllib.request.Request(BASE + "/apps/launch", data=body, headers={"Cookie": COOKIES, "Origin": BASE})
    try:
        no_redirect.open(req)
    except urllib.error.HTTPError as e:
        if e.code == 303:
            return e.headers["Location"]
        raise
    raise RuntimeError("launch did not redirect to the session")


def stats(samples):
    s = sorted(samples)
    return {"median_ms": round(statistics.median(s) * 1000, 3), "p99_ms": round(s[int(len(s) * 0.99) - 1] * 1000, 3)}


async def haven_rtt(path, keys=KEYS):
    url = BASE.replace("https://", "wss://") + path + "/terminal"
    headers = {"Cookie": COOKIES, "Origin": BASE}
    async with websockets.connect(url, ssl=context, additional_headers=headers, max_size=None) as ws:
        seen = b""
        while b"$ " not in seen:
            seen += await asyncio.wait_for(ws.recv(), 30)
        samples = []
        for i in range(keys):
            t = time.perf_counter()
            await ws.send(b"x")
            got = b""
            while b"x" not in got:
                got += await asyncio.wait_for(ws.recv(), 10)
            samples.append(time.perf_counter() - t)
            if i % 50 == 49:
                await ws.send(b"\x15")  # Ctrl-U: clear the line
                await asyncio.sleep(0.05)
                while True:
                    try:
                        await asyncio.wait_for(ws.recv(), 0.05)
                    except asyncio.TimeoutError:
                        break
        return samples


def ssh_rtt(port, key, keys=KEYS):
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("ssh", ["ssh", "-tt", "-p", str(port), "-i", key, "-o", "StrictHostKeyChecking=no",
                          "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "root@127.0.0.1",
                          "env PS1='$ ' bash --norc --noprofile"])
    seen = b""
    while b"$ " not in seen:
        seen += os.read(fd, 4096)
    samples = []
    for i in range(keys):
        t = time.perf_counter()
        os.write(fd, b"x")
        got = b""
        while b"x" not in got:
            got += os.read(fd, 4096)
        samples.append(time.perf_counter() - t)
        if i % 50 == 49:
            os.write(fd, b"\x15")
            time.sleep(0.05)
            os.set_blocking(fd, False)
            try:
                while os.read(fd, 4096):
                    pass
            except BlockingIOError:
                pass
            os.set_blocking(fd, True)
    os.write(fd, b"exit\n")
    os.close(fd)
    os.waitpid(pid, 0)
    return samples


def memory_mib():
    """Resident memory of Haven and every session's processes (uids of sessions), MiB."""
    out = subprocess.run(["ps", "-eo", "uid=,rss=,comm="], capture_output=True, text=True).stdout
    total = 0
    for line in out.splitlines():
        uid, rss, comm = line.split(None, 2)
        if int(uid) >= 2_100_000_000 or comm.startswith("haven") or comm == "bwrap":
            total += int(rss)
    return round(total / 1024)


async def main():
    shell = launch("shell@1")
    result = {"haven": stats(await haven_rtt(shell)), "ssh": stats(ssh_rtt(int(os.environ["SSH_PORT"]), os.environ["SSH_KEY"]))}
    # Haven again, after ssh: the order must not favour either.
    result["haven_again"] = stats(await haven_rtt(shell))
    base = min(result["haven"]["median_ms"], result["haven_again"]["median_ms"])
    scale, open_sessions = [], 1
    result["scale_stopped"] = "the median round trip doubled, or MAX_SESSIONS"
    n = 1
    while n <= MAX:
        try:
            while open_sessions < n:
                launch("r@4")
                open_sessions += 1
        except Exception as e:  # the per-person limit (sessions.per_user, at most 64)
            result["scale_stopped"] = f"launch {open_sessions + 1} refused: {e}"
            break
        await asyncio.sleep(1)
        s = stats(await haven_rtt(shell, keys=100))
        s.update({"sessions": n, "memory_mib": memory_mib()})
        scale.append(s)
        print(json.dumps(s), file=sys.stderr)
        if s["median_ms"] >= 2 * base:
            break
        n *= 2
    result["scale"] = scale
    print(json.dumps(result))


asyncio.run(main())
