"""Runs a command on a fresh pseudo-terminal (its controlling terminal) and answers prompts.

argv[1] is JSON: {"argv": [...], "steps": [{"expect": regex, "send": text}], "timeout": seconds}.
Each step waits until `expect` matches output seen since the previous answer, then sends `send`.
Prints JSON {"exit": code, "output": everything the command wrote to the terminal, "steps": n done}.
"""
import json, os, pty, re, select, signal, sys, time

spec = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(spec["argv"][0], spec["argv"])

buf = b""
mark = 0
done = 0
steps = spec.get("steps", [])
deadline = time.time() + spec.get("timeout", 30)
timed_out = False
status = None
while status is None:
    if time.time() > deadline:
        timed_out = True
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        break
    ready, _, _ = select.select([fd], [], [], 0.05)
    data = b""
    if ready:
        try:
            data = os.read(fd, 4096)
        except OSError:
            # EIO: no process has the terminal open right now. That happens between a shell's
            # redirections and the program opening /dev/tty, so it is not the end by itself.
            data = b""
    if data:
        buf += data
    else:
        wpid, wstatus = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            status = wstatus
        elif ready:
            time.sleep(0.05)
    while done < len(steps) and re.search(steps[done]["expect"].encode(), buf[mark:]):
        time.sleep(0.1)  # let the program switch echo off before the answer arrives
        os.write(fd, steps[done]["send"].encode())
        mark = len(buf)
        done += 1
# whatever the program wrote last
while True:
    try:
        ready, _, _ = select.select([fd], [], [], 0)
        if not ready:
            break
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    buf += data
print(json.dumps({
    "exit": os.waitstatus_to_exitcode(status),
    "output": buf.decode("utf-8", "replace"),
    "steps": done,
    "timedOut": timed_out,
}))
