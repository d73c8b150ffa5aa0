#!/usr/bin/env python3
"""Load on the web app (`make bench-serve`): a real `ddcolor serve` under concurrent uploads and
hundreds of open event streams, with figures printed (nothing here is a timed test).

  1. A fresh data folder, a user and an API token made with `ddcolor users`, then
     `ddcolor serve --listen 127.0.0.1:0` with the small test model (its standard error read
     all along, so the server never blocks on a full pipe).
  2. Small grey PNGs made here (zlib + struct, different per file): JOBS x PHOTOS of them.
  3. JOBS concurrent uploads (`POST /api/jobs`, multipart, `size`=256), and, as soon as each is
     accepted, STREAMS event streams on its job (`GET /api/jobs/ID/events`), read until the
     server closes them (after the job's final `job` event).
  4. Meanwhile: the server's RSS and open file descriptors every 100 ms (and its children, the
     `ddcolor batch` commands that run the jobs), and `GET /api/jobs` every 100 ms (which job is
     queued, which runs).

Prints a table and one verdict line per check. Exits 1 when something was lost: an upload not
answered 202, a job not `done` with every photo done, a stream that did not end on the job's
final `done` event, a 5xx answer, file descriptors still open after the streams ended, or a
server that did not stop cleanly on SIGTERM. Timing figures never fail it.

Options (defaults; the first five also from SERVE_LOAD_JOBS, _PHOTOS, _STREAMS, _SIZE, _TIMEOUT):
--jobs 20, --photos 5, --streams 10 (per job), --size 256, --timeout 900 (seconds for the whole
load), --bin target/release/ddcolor, --model models/generated/test-dynamic.onnx, --keep (keep the
data folder; it is kept anyway when something failed).
"""

import argparse
import datetime
import http.client
import json
import os
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FINAL = ("done", "failed", "cancelled")
PASSWORD = "load test password, long enough"


def now():
    return time.monotonic()


# ---- photos -----------------------------------------------------------------------------------

def png_grey(width, height, seed):
    """A minimal valid 8-bit greyscale PNG: a diagonal gradient whose slope and phase depend on
    `seed`, so every file differs."""
    a = 1 + seed % 3
    b = 1 + (seed // 3) % 4
    base = bytes((a * x * 256 // width + seed * 7) & 255 for x in range(width))
    rows = []
    for y in range(height):
        shift = (b * y * 256 // height) & 255
        table = bytes((i + shift) & 255 for i in range(256))
        rows.append(b"\x00" + base.translate(table))
    raw = b"".join(rows)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))


def multipart(files, fields):
    boundary = "----ddcolor-load-" + os.urandom(8).hex()
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                     .encode())
    for name, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
                     f'filename="{name}"\r\nContent-Type: image/png\r\n\r\n'.encode())
        parts.append(data)
        parts.append(b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


# ---- the server -------------------------------------------------------------------------------

class Server:
    def __init__(self, args, data):
        env = {k: v for k, v in os.environ.items()
               if k not in ("DDCOLOR_MODEL", "DDCOLOR_MODELS_DIR")}
        self.proc = subprocess.Popen(
            [args.bin, "serve", "--data", data, "--listen", "127.0.0.1:0",
             "--model", args.model, "--quota-jobs", "1000"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=env)
        self.pid = self.proc.pid
        self.lines = []
        self.address = None
        listening = threading.Event()

        def read():
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.lines.append((now(), line))
                if line.startswith("listening on http://") and self.address is None:
                    self.address = line[len("listening on http://"):].strip()
                    listening.set()
            listening.set()

        threading.Thread(target=read, daemon=True).start()
        if not listening.wait(60) or self.address is None:
            self.proc.kill()
            sys.exit("the server did not start:\n" + "\n".join(l for _, l in self.lines))
        host, port = self.address.rsplit(":", 1)
        self.host, self.port = host, int(port)

    def stop(self):
        """SIGTERM, then wait (SIGKILL after 60 s); (exit status, seconds to stop)."""
        start = now()
        os.kill(self.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            code = f"did not stop in 60 s: killed ({self.proc.wait()})"
        return code, now() - start


def ddcolor_users(args, data, argv, stdin=None):
    r = subprocess.run([args.bin, "users", *argv, "--data", data], input=stdin,
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"ddcolor users {' '.join(argv)} failed:\n{r.stdout}{r.stderr}")
    return r.stdout


# ---- sampling ---------------------------------------------------------------------------------

def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def children_of(pid):
    """(pid, command name) of the processes whose parent is `pid`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.find("(") + 1:stat.rfind(")")]
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(pid):
            found.append((int(name), comm))
    return found


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class Sampler(threading.Thread):
    """The server's RSS and descriptors, and its children's RSS, every `period` seconds."""

    def __init__(self, pid, period=0.1):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.samples = []  # (t, server rss kB, fds, children's rss kB summed, largest child)
        self.children = {}  # pid -> [first seen, last seen, peak rss kB]
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            t = now()
            rss = rss_kb(self.pid)
            fds = fd_count(self.pid)
            total = largest = 0
            for cpid, _comm in children_of(self.pid):
                c = rss_kb(cpid) or 0
                total += c
                largest = max(largest, c)
                seen = self.children.setdefault(cpid, [t, t, 0])
                seen[1] = t
                seen[2] = max(seen[2], c)
            if rss is not None:
                self.samples.append((t, rss, fds, total, largest))
            self.halt.wait(max(0.0, self.period - (now() - t)))

    def between(self, start, end):
        return [s for s in self.samples if start <= s[0] <= end]


class Poller(threading.Thread):
    """`GET /api/jobs` every `period` seconds: (t, {job id: state})."""

    def __init__(self, host, port, token, period=0.1):
        super().__init__(daemon=True)
        self.host, self.port, self.token, self.period = host, port, token, period
        self.polls = []
        self.errors = []  # (status or exception text)
        self.halt = threading.Event()

    def run(self):
        conn = None
        while not self.halt.is_set():
            t = now()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                conn.request("GET", "/api/jobs",
                             headers={"Authorization": f"Bearer {self.token}"})
                r = conn.getresponse()
                body = r.read()
                if r.status == 200:
                    jobs = json.loads(body)["jobs"]
                    self.polls.append((t, {j["id"]: j["state"] for j in jobs}))
                else:
                    self.errors.append(r.status)
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.errors.append(repr(e))
                if conn is not None:
                    conn.close()
                conn = None
            self.halt.wait(max(0.0, self.period - (now() - t)))
        if conn is not None:
            conn.close()


# ---- uploads and event streams ----------------------------------------------------------------

class Stream:
    def __init__(self, job_id):
        self.job_id = job_id
        self.opened = self.closed = None
        self.status = None
        self.events = []  # (t, name, data)
        self.eof = False
        self.error = None
        self.conn = None
        self.hung = False

    def final(self):
        """The state of the last event if it was a `job` event, else None."""
        if self.events and self.events[-1][1] == "job":
            return self.events[-1][2].get("state")
        return None

    def ended_done(self):
        return self.eof and self.final() == "done"

    def read(self, host, port, token, timeout):
        self.opened = now()
        try:
            self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
            self.conn.request("GET", f"/api/jobs/{self.job_id}/events",
                              headers={"Authorization": f"Bearer {token}",
                                       "Accept": "text/event-stream"})
            r = self.conn.getresponse()
            self.status = r.status
            if r.status != 200:
                r.read()
                return
            name, data = None, []
            while True:
                line = r.readline()
                if not line:
                    self.eof = True
                    break
                line = line.decode("utf-8", "replace").rstrip("\r\n")
                if line == "":
                    if name is not None or data:
                        t = now()
                        try:
                            value = json.loads("\n".join(data)) if data else None
                        except ValueError:
                            value = None
                        self.events.append((t, name or "message", value or {}))
                    name, data = None, []
                elif line.startswith(":"):
                    continue  # keep-alive
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
        except (OSError, http.client.HTTPException) as e:
            self.error = repr(e)
        finally:
            self.closed = now()
            if self.conn is not None:
                self.conn.close()


class Upload:
    def __init__(self, index, files, fields):
        self.index = index
        self.content_type, self.body = multipart(files, fields)
        self.status = None
        self.job_id = None
        self.started = self.answered = None
        self.error = None
        self.text = ""

    def send(self, host, port, token):
        self.started = now()
        try:
            conn = http.client.HTTPConnection(host, port, timeout=120)
            conn.request("POST", "/api/jobs", body=self.body,
                         headers={"Authorization": f"Bearer {token}",
                                  "Content-Type": self.content_type})
            r = conn.getresponse()
            body = r.read()
            self.answered = now()
            self.status = r.status
            self.text = body.decode("utf-8", "replace")[:300]
            if r.status == 202:
                self.job_id = json.loads(body)["id"]
            conn.close()
        except (OSError, http.client.HTTPException, ValueError) as e:
            self.answered = now()
            self.error = repr(e)


# ---- analysis ---------------------------------------------------------------------------------

def first(events, pred):
    return min((t for t, n, d in events if pred(n, d)), default=None)


def last(events, pred):
    return max((t for t, n, d in events if pred(n, d)), default=None)


def job_timeline(streams):
    """Earliest sighting, across the job's streams, of: running, the model's first photo (the
    first `progress`: the command reports each photo as it goes into the model), the last `item`,
    and the final `done`."""
    evs = [e for s in streams for e in s.events]
    # The first event of a stream is the job as it stood when the stream opened; the later
    # ones are changes. A job already running when its streams opened has no exact start.
    changes = [e for s in streams for e in s.events[1:]]
    running = first(changes, lambda n, d: n == "job" and d.get("state") == "running")
    return {
        "running": running,
        "model": first(evs, lambda n, d: n == "progress"),
        "last_item": last(evs, lambda n, d: n == "item"),
        "done": first(evs, lambda n, d: n == "job" and d.get("state") in FINAL),
    }


def fmt(v, unit="", digits=2):
    if v is None:
        return "n/a"
    return f"{v:.{digits}f}{unit}"


def main():
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=int(env("SERVE_LOAD_JOBS", 20)))
    p.add_argument("--photos", type=int, default=int(env("SERVE_LOAD_PHOTOS", 5)))
    p.add_argument("--streams", type=int, default=int(env("SERVE_LOAD_STREAMS", 10)),
                   help="event streams per job")
    p.add_argument("--size", type=int, default=int(env("SERVE_LOAD_SIZE", 256)))
    p.add_argument("--timeout", type=float, default=float(env("SERVE_LOAD_TIMEOUT", 900)))
    p.add_argument("--bin", default=os.path.join(ROOT, "target/release/ddcolor"))
    p.add_argument("--model", default=os.path.join(ROOT, "models/generated/test-dynamic.onnx"))
    p.add_argument("--keep", action="store_true", help="keep the data folder")
    args = p.parse_args()
    for path, what in ((args.bin, "the release binary (make build)"),
                       (args.model, "the test model (make models)")):
        if not os.path.exists(path):
            sys.exit(f"{path}: missing: {what}")

    data = tempfile.mkdtemp(prefix="ddcolor-serve-load-")
    password_file = os.path.join(data, "password.txt")
    server_data = os.path.join(data, "data")
    with open(password_file, "w") as f:
        f.write(PASSWORD + "\n")
    ddcolor_users(args, server_data, ["add", "loaduser", "--password-file", password_file])
    token = ddcolor_users(args, server_data, ["token", "loaduser"]).strip().splitlines()[-1].strip()

    n_photos = args.jobs * args.photos
    t0 = now()
    photos = [png_grey(320, 240, k) for k in range(n_photos)]
    print(f"== {n_photos} grey PNGs of 320x240 made in {now() - t0:.1f} s "
          f"({sum(map(len, photos)) / n_photos / 1024:.1f} kB each)")

    server = Server(args, server_data)
    print(f"== ddcolor serve (pid {server.pid}) on http://{server.address}, data {server_data}")
    print(f"== {os.cpu_count()} cores; {args.jobs} uploads of {args.photos} photos at S={args.size}, "
          f"{args.streams} event streams per job ({args.jobs * args.streams} in all)")
    sampler = Sampler(server.pid)
    sampler.start()
    poller = Poller(server.host, server.port, token)
    time.sleep(1.0)  # the baseline: the idle server
    baseline_end = now()
    poller.start()

    uploads = [Upload(i, [(f"load{i:02d}_{k}.png", photos[i * args.photos + k])
                          for k in range(args.photos)],
                      {"size": str(args.size), "name": f"load {i:02d}"})
               for i in range(args.jobs)]
    streams = {}  # upload index -> [Stream]
    stream_threads = []
    lock = threading.Lock()
    gate = threading.Barrier(args.jobs)
    stream_timeout = 120  # a stream gets a keep-alive every 15 s: silence this long is death

    def upload_then_listen(u):
        gate.wait()
        u.send(server.host, server.port, token)
        if u.job_id is None:
            return
        mine = [Stream(u.job_id) for _ in range(args.streams)]
        with lock:
            streams[u.index] = mine
            for s in mine:
                th = threading.Thread(target=s.read, daemon=True,
                                      args=(server.host, server.port, token, stream_timeout))
                stream_threads.append(th)
                th.start()

    upload_threads = [threading.Thread(target=upload_then_listen, args=(u,), daemon=True)
                      for u in uploads]
    load_start = now()
    for th in upload_threads:
        th.start()
    for th in upload_threads:
        th.join()

    # Wait for every job to end (as the poll sees it), then for the streams.
    deadline = load_start + args.timeout
    ids = {u.job_id for u in uploads if u.job_id is not None}
    while now() < deadline:
        last_poll = poller.polls[-1][1] if poller.polls else {}
        if all(last_poll.get(i) in FINAL for i in ids):
            break
        time.sleep(0.2)
    grace = min(deadline, now()) + 30
    with lock:
        threads = list(stream_threads)
    for th in threads:
        th.join(max(0.0, grace - now()))
    hung = 0
    with lock:
        all_streams = [s for ss in streams.values() for s in ss]
    for s in all_streams:
        if s.closed is None:
            hung += 1
            s.hung = True
            try:
                if s.conn is not None and s.conn.sock is not None:
                    s.conn.sock.shutdown(2)
            except OSError:
                pass
    streams_done = now()
    time.sleep(1.0)  # the server closes its side and frees what the streams held
    poller.halt.set()
    poller.join()
    time.sleep(0.5)
    end_mark = now()

    # The jobs as the API has them at the end.
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    final_jobs = {}
    api_5xx = []
    for i in sorted(ids):
        conn.request("GET", f"/api/jobs/{i}", headers={"Authorization": f"Bearer {token}"})
        r = conn.getresponse()
        body = r.read()
        if r.status >= 500:
            api_5xx.append(f"GET /api/jobs/{i}: {r.status}")
        if r.status == 200:
            final_jobs[i] = json.loads(body)
    conn.close()
    time.sleep(0.3)
    sampler.halt.set()
    sampler.join()
    end_samples = [s for s in sampler.samples if s[0] >= end_mark - 0.2]
    end_rss = end_samples[-1][1] if end_samples else sampler.samples[-1][1]
    end_fds = min((s[2] for s in end_samples if s[2] is not None), default=None)
    exit_code, stop_seconds = server.stop()

    # ---- figures ------------------------------------------------------------------------------
    failures = []
    ok202 = [u for u in uploads if u.status == 202]
    lat = [u.answered - u.started for u in uploads if u.answered is not None]
    bad_uploads = [u for u in uploads if u.status != 202]
    upload_5xx = [u for u in uploads if u.status is not None and u.status >= 500]
    if bad_uploads:
        failures.append(f"{len(bad_uploads)} upload(s) not answered 202: "
                        + "; ".join(f"#{u.index}: {u.status or u.error} {u.text}"
                                    for u in bad_uploads[:5]))

    not_done = []
    for i in sorted(ids):
        j = final_jobs.get(i)
        if j is None or j["state"] != "done" or j["done"] != args.photos or j["failed"] != 0:
            not_done.append(i)
    if not_done:
        failures.append(f"{len(not_done)} job(s) not done with {args.photos} done and 0 failed: "
                        + ", ".join(f"{i}: {final_jobs.get(i, {}).get('state')} "
                                    f"{final_jobs.get(i, {}).get('done')}/"
                                    f"{final_jobs.get(i, {}).get('failed')}" for i in not_done))

    ended_done = sum(1 for s in all_streams if s.ended_done())
    expected_streams = len(ok202) * args.streams
    stream_status_bad = [s for s in all_streams if s.status != 200]
    stream_5xx = [s for s in all_streams if s.status is not None and s.status >= 500]
    resyncs = sum(1 for s in all_streams for _, n, _ in s.events if n == "resync")
    if ended_done != expected_streams:
        kinds = {}
        for s in all_streams:
            if not s.ended_done():
                key = ("hung (closed by this script)" if s.hung
                       else f"status {s.status}" if s.status != 200
                       else f"error {s.error}" if s.error
                       else f"ended on {s.final() or (s.events[-1][1] if s.events else 'nothing')}")
                kinds[key] = kinds.get(key, 0) + 1
        failures.append(f"{expected_streams - ended_done} of {expected_streams} event stream(s) "
                        f"did not end on a final done event: {kinds}")
    fivexx = len(upload_5xx) + len(stream_5xx) + len(api_5xx) + sum(
        1 for e in poller.errors if isinstance(e, int) and e >= 500)
    if fivexx:
        failures.append(f"{fivexx} answer(s) 5xx")

    # Timelines from the streams.
    by_job = {}
    for idx, ss in streams.items():
        by_job[ss[0].job_id] = job_timeline(ss)
    order = sorted(by_job, key=lambda i: (by_job[i]["running"] or by_job[i]["model"] or 1e18))
    startup, tail, handover, model_gaps, busy = [], [], [], [], []
    for i in order:
        tl = by_job[i]
        if tl["running"] and tl["model"]:
            startup.append(tl["model"] - tl["running"])
        if tl["last_item"] and tl["done"]:
            tail.append(tl["done"] - tl["last_item"])
        if tl["model"] and tl["last_item"]:
            busy.append(tl["last_item"] - tl["model"])
    uploaded_at = {u.job_id: u.answered for u in uploads if u.job_id is not None}
    for a, b in zip(order, order[1:]):
        ta, tb = by_job[a], by_job[b]
        # Work was queued in between only if b had been accepted before a's last photo.
        if uploaded_at.get(b) is None or ta["last_item"] is None or uploaded_at[b] > ta["last_item"]:
            continue
        if ta["done"] and tb["running"]:
            handover.append(tb["running"] - ta["done"])
        if ta["last_item"] and tb["model"]:
            model_gaps.append(tb["model"] - ta["last_item"])
    first_accept = min((u.answered for u in ok202), default=None)
    first_model = min((tl["model"] for tl in by_job.values() if tl["model"]), default=None)
    last_done = max((tl["done"] for tl in by_job.values() if tl["done"]), default=None)

    # The poll's view: some job queued and none running.
    # A poll that sees it stands for the time to the next poll: the figures are upper bounds
    # (the hand-over between two jobs takes milliseconds; the poll's resolution is 100 ms).
    idle_total, idle_gaps, idle_at, idle_polls, cur = 0.0, [], [], 0, None
    polls = poller.polls
    for (t, states), nxt in zip(polls, polls[1:] + [(None, None)]):
        queued = any(s == "queued" for s in states.values())
        running = any(s == "running" for s in states.values())
        if queued and not running:
            span = (nxt[0] - t) if nxt[0] is not None else poller.period
            idle_total += span
            idle_polls += 1
            if cur is None:
                idle_at.append(t - load_start)
            cur = (cur or 0.0) + span
        elif cur is not None:
            idle_gaps.append(cur)
            cur = None
    if cur is not None:
        idle_gaps.append(cur)
    poll_periods = [b[0] - a[0] for a, b in zip(polls, polls[1:])]

    # The children (one `ddcolor batch` per job): their lifetimes as the sampler saw them.
    kids = sorted(sampler.children.values())
    kid_gaps = [b[0] - a[1] for a, b in zip(kids, kids[1:])]
    kid_life = [k[1] - k[0] for k in kids]

    # The API's coarse timestamps (whole seconds).
    def secs(stamp):
        if not stamp:
            return None
        return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    api_order = sorted((j for j in final_jobs.values() if j.get("started")),
                       key=lambda j: secs(j["started"]))
    api_gaps = [secs(b["started"]) - secs(a["finished"]) for a, b in zip(api_order, api_order[1:])
                if a.get("finished")]

    base = sampler.between(0, baseline_end)
    load = sampler.between(load_start, streams_done)
    base_rss = statistics.median(s[1] for s in base) if base else None
    base_fds = statistics.median(s[2] for s in base if s[2] is not None) if base else None
    peak = max(load, key=lambda s: s[1]) if load else None
    peak_fds = max((s[2] for s in load if s[2] is not None), default=None)
    kid_peak = max((s[4] for s in load), default=0)
    sum_peak = max((s[1] + s[3] for s in load), default=None)
    fd_leak = (end_fds - base_fds) if end_fds is not None and base_fds is not None else None
    if fd_leak is not None and fd_leak > 4:
        failures.append(f"{fd_leak:.0f} file descriptors more at the end than before the load "
                        f"({base_fds:.0f} -> {end_fds})")
    if exit_code != 0:
        failures.append(f"the server's exit status on SIGTERM: {exit_code}")

    photos_done = sum(j["done"] for j in final_jobs.values())
    wall = (last_done - load_start) if last_done else None
    processing = (last_done - first_model) if last_done and first_model else None

    mb = lambda kb: None if kb is None else kb / 1024
    row = "  {:<58} {}"
    print()
    print("== figures (times from this script's clock; the machine is shared: noisy)")
    print("  uploads")
    print(row.format("answered 202", f"{len(ok202)} of {len(uploads)}"))
    print(row.format("latency median / max", f"{fmt(statistics.median(lat) if lat else None, ' s', 3)}"
                     f" / {fmt(max(lat) if lat else None, ' s', 3)}"))
    print("  jobs")
    print(row.format(f"done with {args.photos} done, 0 failed",
                     f"{len(ids) - len(not_done)} of {len(ids)}"))
    print(row.format("photos done", f"{photos_done} of {n_photos}"))
    print(row.format("throughput, first upload to last job done",
                     f"{fmt(photos_done / wall if wall else None, ' photos/s')} ({fmt(wall, ' s', 1)})"))
    print(row.format("throughput, first photo in the model to last job done",
                     f"{fmt(photos_done / processing if processing else None, ' photos/s')}"
                     f" ({fmt(processing, ' s', 1)})"))
    print("  event streams")
    print(row.format("opened / answered 200", f"{len(all_streams)} / "
                     f"{len(all_streams) - len(stream_status_bad)}"))
    print(row.format("ended by the server on a final job event, state done",
                     f"{ended_done} of {expected_streams}"))
    print(row.format("hung (closed by this script)", f"{hung}"))
    print(row.format("resync events (a stream fell behind)", f"{resyncs}"))
    print(row.format("events per stream median / max",
                     f"{statistics.median(len(s.events) for s in all_streams) if all_streams else 0:.0f}"
                     f" / {max((len(s.events) for s in all_streams), default=0)}"))
    print("  the model idle while work was queued (one job at a time, one `ddcolor batch` each)")
    print(row.format("first upload accepted -> first photo in the model",
                     fmt(first_model - first_accept if first_model and first_accept else None, " s")))
    print(row.format("per job: running -> first photo in the model (median / max)",
                     f"{fmt(statistics.median(startup) if startup else None, ' s', 3)} / "
                     f"{fmt(max(startup) if startup else None, ' s', 3)}  (child start, model load)"))
    print(row.format("per job: first photo -> last photo done (median / max)",
                     f"{fmt(statistics.median(busy) if busy else None, ' s', 3)} / "
                     f"{fmt(max(busy) if busy else None, ' s', 3)}"))
    print(row.format("per job: last photo done -> job done (median / max)",
                     f"{fmt(statistics.median(tail) if tail else None, ' s', 3)} / "
                     f"{fmt(max(tail) if tail else None, ' s', 3)}  (child exit, bookkeeping)"))
    print(row.format("between jobs: done -> next running (median / max)",
                     f"{fmt(statistics.median(handover) if handover else None, ' s', 3)} / "
                     f"{fmt(max(handover) if handover else None, ' s', 3)}"))
    print(row.format("between jobs: last photo -> next job's first photo",
                     f"{len(model_gaps)} gaps, total {fmt(sum(model_gaps) if model_gaps else None, ' s')}, "
                     f"median {fmt(statistics.median(model_gaps) if model_gaps else None, ' s', 3)}, "
                     f"max {fmt(max(model_gaps) if model_gaps else None, ' s', 3)}"))
    if processing and model_gaps:
        print(row.format("  share of the processing time the model stood idle",
                         f"{100 * sum(model_gaps) / processing:.0f} %"))
    print(row.format("GET /api/jobs polls that saw a job queued and none running",
                     f"{idle_polls} of {len(polls)} (period median "
                     f"{fmt(statistics.median(poll_periods) * 1000 if poll_periods else None, ' ms', 0)})"))
    print(row.format("  as gaps: count, total and longest (each an upper bound)",
                     f"{len(idle_gaps)}, {idle_total:.2f} s, "
                     f"{fmt(max(idle_gaps) if idle_gaps else 0.0, ' s')}"))
    if idle_at:
        print(row.format("  those gaps began at (s after the uploads started)",
                         ", ".join(f"{t:.2f}" for t in idle_at[:8])
                         + (" ..." if len(idle_at) > 8 else "")))
    print(row.format("children seen (100 ms sampling misses the shortest): lifetime",
                     f"{len(kids)}, median {fmt(statistics.median(kid_life) if kid_life else None, ' s')}, "
                     f"max {fmt(max(kid_life) if kid_life else None, ' s')}"))
    print(row.format("no child alive between two children: total / max",
                     f"{fmt(sum(kid_gaps) if kid_gaps else None, ' s')} / "
                     f"{fmt(max(kid_gaps) if kid_gaps else None, ' s')} (100 ms sampling)"))
    print(row.format("API started/finished (whole seconds): gaps total / max",
                     f"{fmt(sum(api_gaps) if api_gaps else None, ' s', 0)} / "
                     f"{fmt(max(api_gaps) if api_gaps else None, ' s', 0)}"))
    print("  the server's memory and descriptors (sampled every 100 ms)")
    print(row.format("server RSS baseline / peak / end",
                     f"{fmt(mb(base_rss), ' MB', 1)} / {fmt(mb(peak[1]) if peak else None, ' MB', 1)}"
                     f" / {fmt(mb(end_rss), ' MB', 1)}"))
    print(row.format("largest child RSS / server + children peak",
                     f"{fmt(mb(kid_peak), ' MB', 1)} / {fmt(mb(sum_peak), ' MB', 1)}"))
    print(row.format("server file descriptors baseline / peak / end",
                     f"{fmt(base_fds, '', 0)} / {peak_fds} / {end_fds}"))
    print(row.format("server stop on SIGTERM: exit status, seconds",
                     f"{exit_code}, {stop_seconds:.2f} s"))
    errors = [l for _, l in server.lines if l.startswith(("error", "warning")) or "panic" in l]
    print(row.format("server stderr lines / error, warning or panic lines",
                     f"{len(server.lines)} / {len(errors)}"))
    for l in errors[:10]:
        print(f"    {l}")
    if poller.errors:
        print(row.format("GET /api/jobs failures", f"{len(poller.errors)}: {poller.errors[:3]}"))

    print()
    print("== verdicts")
    verdict = lambda good, text: print(f"  {'ok  ' if good else 'FAIL'} {text}")
    verdict(not bad_uploads, f"uploads: {len(ok202)}/{len(uploads)} answered 202")
    verdict(not not_done, f"jobs: {len(ids) - len(not_done)}/{len(ids)} done with every photo, "
            f"{photos_done}/{n_photos} photos done"
            + (", nothing lost" if not not_done and photos_done == n_photos else ""))
    verdict(ended_done == expected_streams,
            f"event streams: {ended_done}/{expected_streams} ended by the server on a final "
            f"`job` event in state done")
    verdict(not fivexx, f"no 5xx answers ({fivexx})")
    verdict(fd_leak is not None and fd_leak <= 4,
            f"descriptors: {peak_fds} at the peak, {end_fds} after the streams ended "
            f"(baseline {fmt(base_fds, '', 0)})")
    verdict(exit_code == 0, f"server stopped on SIGTERM with status {exit_code}")
    print(f"  info memory: server RSS {fmt(mb(base_rss), ' MB', 1)} -> peak "
          f"{fmt(mb(peak[1]) if peak else None, ' MB', 1)} -> end {fmt(mb(end_rss), ' MB', 1)}")
    print(f"  info model idle between jobs while work was queued: "
          f"{fmt(sum(model_gaps) if model_gaps else None, ' s')} over {len(model_gaps)} gaps "
          f"(max {fmt(max(model_gaps) if model_gaps else None, ' s', 3)}); polls that saw a job "
          f"queued and none running: {idle_polls} of {len(polls)}")
    print(f"  info throughput: {fmt(photos_done / wall if wall else None, ' photos/s')}")

    if failures:
        print()
        print("== what went wrong")
        for f in failures:
            print(f"  - {f}")
        for i in not_done:
            log = os.path.join(server_data, "jobs", str(i), "command.log")
            if os.path.exists(log):
                with open(log, errors="replace") as f:
                    print(f"  job {i} command.log (end):")
                    for line in f.read().splitlines()[-8:]:
                        print(f"    {line}")
        print(f"  server stderr (last 20 lines):")
        for _, l in server.lines[-20:]:
            print(f"    {l}")
    if args.keep or failures:
        print(f"\nthe data folder is kept: {data}")
    else:
        shutil.rmtree(data, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
