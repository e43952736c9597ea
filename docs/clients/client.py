#!/usr/bin/env python3
"""A finesse-sso agent client in plain Python (standard library only).

    python3 client.py [SOCKET] [--min-valid SECS] [--subscribe N]
    python3 client.py [SOCKET] --sign-in EXTENSION [--acqueon]

Prints the token on stdout (with --subscribe N: the next N pushed tokens, one per line).
With --sign-in: signs the Finesse agent in at EXTENSION with the agent's token and prints the
User as JSON (--acqueon: the same through Acqueon-style messages, printing the Login event).
SOCKET defaults to the agent of profile "default" (see docs/protocol.md, "Where the pipe is").
On Windows pass the pipe name (\\\\.\\pipe\\finesse-sso-...). It is opened with identification-
level impersonation only, and refused unless a process of our own user serves it: another user
could create the name first and pose as the agent (docs/security.md, "The agent's pipe").
"""
import json
import os
import socket
import sys


class AgentError(Exception):
    def __init__(self, kind, message):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


def default_socket(profile="default"):
    home = os.environ.get("FINESSE_SSO_HOME")
    if home:
        return os.path.join(home, "run", f"{profile}.sock")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "finesse-sso", f"{profile}.sock")
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(state, "finesse-sso", "run", f"{profile}.sock")


def open_windows_pipe(path):
    """Opens the agent's named pipe (Windows only, standard library only).

    Python's open() lets the server impersonate us (CreateFileW's default is
    SecurityImpersonation); SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION lets a server only
    identify us. Then, before a byte is sent, the process serving the pipe must run as our own
    user: a pipe another user created first (a squatter) is refused.
    """
    import ctypes
    import msvcrt
    from ctypes import wintypes as w

    k32 = ctypes.WinDLL("kernel32", use_last_error=True)
    adv = ctypes.WinDLL("advapi32", use_last_error=True)
    k32.CreateFileW.restype = w.HANDLE
    k32.CreateFileW.argtypes = [w.LPCWSTR, w.DWORD, w.DWORD, w.LPVOID, w.DWORD, w.DWORD, w.HANDLE]
    k32.GetCurrentProcess.restype = w.HANDLE
    k32.OpenProcess.restype = w.HANDLE
    k32.OpenProcess.argtypes = [w.DWORD, w.BOOL, w.DWORD]
    k32.GetNamedPipeServerProcessId.argtypes = [w.HANDLE, ctypes.POINTER(w.ULONG)]
    k32.CloseHandle.argtypes = [w.HANDLE]
    k32.LocalFree.argtypes = [w.HLOCAL]
    adv.OpenProcessToken.argtypes = [w.HANDLE, w.DWORD, ctypes.POINTER(w.HANDLE)]
    adv.GetTokenInformation.argtypes = [w.HANDLE, ctypes.c_int, w.LPVOID, w.DWORD, ctypes.POINTER(w.DWORD)]
    adv.ConvertSidToStringSidW.argtypes = [w.LPVOID, ctypes.POINTER(w.LPWSTR)]

    def fail(what):
        err = ctypes.get_last_error()
        raise OSError(err, f"{what}: {ctypes.FormatError(err)}")

    def user_of(process):
        """The user SID (S-1-5-21-...) a process runs as."""
        token = w.HANDLE()
        if not adv.OpenProcessToken(process, 0x0008, ctypes.byref(token)):  # TOKEN_QUERY
            fail("OpenProcessToken")
        try:
            size = w.DWORD()
            adv.GetTokenInformation(token, 1, None, 0, ctypes.byref(size))  # TokenUser
            buf = ctypes.create_string_buffer(size.value)
            if not adv.GetTokenInformation(token, 1, buf, size, ctypes.byref(size)):
                fail("GetTokenInformation")
            sid = ctypes.cast(buf, ctypes.POINTER(ctypes.c_void_p))[0]  # TOKEN_USER.User.Sid
            text = w.LPWSTR()
            if not adv.ConvertSidToStringSidW(sid, ctypes.byref(text)):
                fail("ConvertSidToStringSidW")
            try:
                return text.value
            finally:
                k32.LocalFree(text)
        finally:
            k32.CloseHandle(token)

    access = 0x80000000 | 0x40000000  # GENERIC_READ | GENERIC_WRITE
    flags = 0x00100000 | 0x00010000  # SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION
    pipe = k32.CreateFileW(path, access, 0, None, 3, flags, None)  # OPEN_EXISTING
    if pipe is None or pipe == w.HANDLE(-1).value:
        fail(path)
    try:
        pid = w.ULONG()
        if not k32.GetNamedPipeServerProcessId(pipe, ctypes.byref(pid)):
            fail("GetNamedPipeServerProcessId")
        server = k32.OpenProcess(0x1000, False, pid.value)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not server:
            fail(f"cannot check the process {pid.value} serving {path}; refusing it")
        try:
            theirs = user_of(server)
        finally:
            k32.CloseHandle(server)
        ours = user_of(k32.GetCurrentProcess())
        if theirs != ours:
            raise PermissionError(
                f"{path} is served by process {pid.value} running as {theirs}, not by us "
                f"({ours}): another user may be posing as the agent; nothing was sent")
        fd = msvcrt.open_osfhandle(pipe, os.O_RDWR | os.O_BINARY)
    except BaseException:
        k32.CloseHandle(pipe)
        raise
    return os.fdopen(fd, "r+b", buffering=0)


class Agent:
    def __init__(self, path, name="client.py"):
        if path.startswith("\\\\.\\pipe\\"):
            self.f = open_windows_pipe(path)
        else:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            self.f = s.makefile("rwb")
        self.next_id = 0
        self.hello = self.call({"op": "hello", "v": 1, "client": name})

    def _read(self):
        line = self.f.readline(64 * 1024)
        if not line:
            raise ConnectionError("the agent closed the connection")
        return json.loads(line)

    def call(self, request):
        self.next_id += 1
        request = dict(request, id=self.next_id)
        self.f.write((json.dumps(request) + "\n").encode())
        self.f.flush()
        while True:
            msg = self._read()
            if "event" in msg or msg.get("id") not in (self.next_id, None):
                continue  # a pushed token, or not ours
            if "error" in msg:
                raise AgentError(msg["error"]["kind"], msg["error"]["message"])
            return msg["result"]

    def token(self, min_valid=0, parent_window=None):
        """parent_window: your window's X11 id or HWND; a sign-in window opens in front of it
        (Wayland: your XDG_ACTIVATION_TOKEN is passed on; Windows: call
        AllowSetForegroundWindow(agent pid) first, see docs/administrators.md)."""
        request = {"op": "token", "min_valid": min_valid}
        if parent_window is not None:
            request["parent_window"] = str(parent_window)
        if os.environ.get("XDG_ACTIVATION_TOKEN"):
            request["activation_token"] = os.environ["XDG_ACTIVATION_TOKEN"]
        return self.call(request)

    def sign_in(self, extension):
        """Signs the Finesse agent in (desktop_sign_in); returns the User after the change."""
        return self.call({"op": "desktop_sign_in", "extension": extension})["user"]

    def acqueon_sign_in(self, extension):
        """The same in Acqueon Workspace's vocabulary; returns the Finesse/Agent/Login event."""
        self.next_id += 1
        msg = {"channel": "Cisco", "topic": "Agent", "subtopic": "SetUserInfo",
               "source": "client.py", "data": {"extension": extension}, "id": self.next_id}
        self.f.write((json.dumps(msg) + "\n").encode())
        self.f.flush()
        while True:
            m = self._read()
            if m.get("id") != self.next_id:
                continue
            if m.get("subtopic") == "Error":
                d = m["message"]["data"]
                raise AgentError(d["kind"], d["message"])
            if (m.get("channel"), m.get("subtopic")) == ("Finesse", "Login"):
                return m

    def events(self):
        while True:
            msg = self._read()
            if "event" in msg:
                yield msg


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    opts = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
    args = [a for a in args if a not in opts.values()]
    path = args[0] if args else default_socket()
    try:
        agent = Agent(path)
        if "--sign-in" in opts:
            if "--acqueon" in argv:
                print(json.dumps(agent.acqueon_sign_in(opts["--sign-in"])))
            else:
                print(json.dumps(agent.sign_in(opts["--sign-in"])))
            return 0
        if "--subscribe" in opts:
            agent.call({"op": "subscribe"})
            for n, ev in zip(range(int(opts["--subscribe"])), agent.events()):
                if ev["event"] == "token":
                    print(ev["result"]["token"], flush=True)
            return 0
        print(agent.token(int(opts.get("--min-valid", "0")))["token"])
        return 0
    except AgentError as e:
        print(f"client.py: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:
        print(f"client.py: {path}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
