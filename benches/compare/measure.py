#!/usr/bin/env python3
"""Runs one command and measures its whole process tree, as one JSON object.

    measure.py --out METRICS.json [--stdout F] [--stderr F] -- COMMAND...

GNU time reports the peak of the largest single process, which undercounts an
engine made of several processes (PySpark's Python driver and JVM; a Ballista
scheduler, two executors and the client). This tool:

- becomes a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so every
  descendant, including daemons that a start script leaves behind, is reaped
  here and its CPU time (wait4's rusage) is counted exactly once;
- samples the resident memory of every live descendant every --interval
  seconds and keeps the peak of their sum: proportional set sizes, so that
  pages shared between processes count once, and a child that still shares
  its parent's address space (the JVM's posix_spawn helpers) not at all;
- measures the wall time from the start to the command's own exit, then waits
  (up to --linger seconds) for descendants still running, so their CPU time
  is counted too, and kills what is left after that.

The JSON has: wall_s, cpu_s, peak_rss_kib (that sampled peak),
max_process_rss_kib (wait4's ru_maxrss: the largest single process, what GNU
time prints), processes and process_names (how many were seen, by name),
exit_code, start_epoch, killed (descendants killed after --linger).
Standard library only; Linux only.
"""

import argparse
import collections
import ctypes
import json
import os
import platform
import select
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="where to write the JSON metrics")
    p.add_argument("--stdout", default=os.devnull, help="file for the command's stdout")
    p.add_argument("--stderr", default=os.devnull, help="file for the command's stderr")
    p.add_argument("--interval", type=float, default=0.1, help="memory sampling period, s [0.1]")
    p.add_argument("--linger", type=float, default=60.0,
                   help="how long to wait for descendants after the command exits, s [60]")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        p.error("no command given")
    return args


def process_table():
    """pid -> (ppid, rss_kib, command name) for every process visible in /proc."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # exited meanwhile
        # The command name is in parentheses and may hold spaces: split after it.
        fields = stat[stat.rfind(b")") + 2:].split()
        comm = stat[stat.find(b"(") + 1:stat.rfind(b")")].decode(errors="replace")
        # fields[0] is the state (field 3 of stat), so field N is fields[N - 3].
        table[int(name)] = (int(fields[1]), int(fields[21]) * PAGE_KIB, comm)
    return table


HAS_SMAPS_ROLLUP = os.path.exists("/proc/self/smaps_rollup")


def pss_kib(pid, rss_kib):
    """The process's proportional set size: its resident pages, each shared
    page divided among the processes sharing it. Summed over processes, it
    counts a page once, where RSS would count a forked child's copy-on-write
    view of its parent as a second parent."""
    if not HAS_SMAPS_ROLLUP:
        return rss_kib  # an old kernel: RSS, an upper bound
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    # Gone since it was listed (a short-lived helper): nothing resident.
    # Its RSS from the listing would be its parent's, had it not exec'd yet.
    return 0


# kcmp(2) tells whether two processes share one address space; its number
# is per architecture.
KCMP_SYSCALL = {"x86_64": 312, "aarch64": 272}.get(platform.machine())
KCMP_VM = 1


def shares_parent_memory(pid, table, libc):
    """Whether `pid` shares its parent's address space: a child between
    clone(CLONE_VM) and exec, as the JVM makes to start a helper process
    (posix_spawn). Its memory is its parent's, already counted; PSS would
    count it twice, since both processes map the same pages once each."""
    parent = table[pid][0]
    if KCMP_SYSCALL is not None:
        same = libc.syscall(KCMP_SYSCALL, pid, parent, KCMP_VM, 0, 0)
        if same in (0, 1, 2):
            return same == 0
    # No kcmp: the same mm shows the same seven counters in statm.
    try:
        with open(f"/proc/{pid}/statm", "rb") as a, open(f"/proc/{parent}/statm", "rb") as b:
            return a.read() == b.read()
    except OSError:
        return False


def descendants(root, table):
    children = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def main(argv):
    args = parse_args(argv)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"measure.py: prctl(PR_SET_CHILD_SUBREAPER) failed: errno {ctypes.get_errno()}")
    me = os.getpid()
    start_epoch = time.time()
    start = time.monotonic()
    with open(args.stdout, "wb") as out, open(args.stderr, "wb") as err:
        child = subprocess.Popen(args.command, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    root = child.pid
    # Wakes the sampling loop the moment the command exits, for an exact wall time.
    exited = select.poll()
    exited.register(os.pidfd_open(root), select.POLLIN)
    cpu = 0.0
    max_rss = 0
    peak = 0
    seen = {}  # pid -> command name
    exit_code = None
    wall = None
    killed = 0
    deadline = None
    while True:
        # Reap whatever finished: the command, its children, adopted orphans.
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                pid = -1
                break
            if pid == 0:
                break
            cpu += usage.ru_utime + usage.ru_stime
            max_rss = max(max_rss, usage.ru_maxrss)
            if pid == root:
                wall = time.monotonic() - start
                exit_code = os.waitstatus_to_exitcode(status)
                deadline = time.monotonic() + args.linger
        table = process_table()
        alive = descendants(me, table)
        for p in alive:
            seen.setdefault(p, table[p][2])
        peak = max(peak, sum(pss_kib(p, table[p][1]) for p in alive if not shares_parent_memory(p, table, libc)))
        if wall is not None:
            if not alive:
                break
            if time.monotonic() > deadline:
                for p in alive:
                    try:
                        os.kill(p, signal.SIGKILL)
                        killed += 1
                    except ProcessLookupError:
                        pass
                deadline = float("inf")
        if wall is None:
            exited.poll(args.interval * 1000)
        else:
            time.sleep(args.interval)
    metrics = {
        "command": args.command,
        "exit_code": exit_code,
        "start_epoch": start_epoch,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "peak_rss_kib": peak,
        "max_process_rss_kib": max_rss,
        "processes": len(seen),
        "process_names": dict(collections.Counter(seen.values()).most_common()),
        "killed": killed,
    }
    with open(args.out, "w") as f:
        json.dump(metrics, f, indent=1)
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
