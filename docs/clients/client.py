#!/usr/bin/env python3
"""A finesse-sso agent client in plain Python (standard library only).

    python3 client.py [SOCKET] [--min-valid SECS] [--subscribe N]
    python3 client.py [SOCKET] --sign-in EXTENSION [--acqueon]

Prints the token on stdout (with --subscribe N: the next N pushed tokens, one per line).
With --sign-in: signs the Finesse agent in at EXTENSION with the agent's token and prints the
User as JSON (--acqueon: the same through Acqueon-style messages, printing the Login event).
SOCKET defaults to the agent of profile "default" (see docs/protocol.md, "Where the pipe is").
On Windows pass the pipe name (\\\\.\\pipe\\finesse-sso-...): open() works on named pipes.
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


class Agent:
    def __init__(self, path, name="client.py"):
        if path.startswith("\\\\.\\pipe\\"):
            self.f = open(path, "r+b", buffering=0)
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

    def token(self, min_valid=0):
        return self.call({"op": "token", "min_valid": min_valid})

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
