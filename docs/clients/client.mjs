#!/usr/bin/env node
// A finesse-sso agent client in plain Node.js (no dependencies).
//
//     node client.mjs [SOCKET] [--min-valid SECS]
//     node client.mjs [SOCKET] --sign-in EXTENSION
//
// Prints the token on stdout; with --sign-in, signs the Finesse agent in at EXTENSION with the
// agent's token and prints the User as JSON. SOCKET defaults to the agent of profile "default"; on Windows
// pass the pipe name (\\.\pipe\finesse-sso-...): net.createConnection accepts it as a path.
import net from "node:net";
import os from "node:os";
import path from "node:path";

function defaultSocket(profile = "default") {
  const env = process.env;
  if (env.FINESSE_SSO_HOME) return path.join(env.FINESSE_SSO_HOME, "run", `${profile}.sock`);
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, "finesse-sso", `${profile}.sock`);
  const state = env.XDG_STATE_HOME || path.join(os.homedir(), ".local", "state");
  return path.join(state, "finesse-sso", "run", `${profile}.sock`);
}

export class Agent {
  static connect(socketPath, name = "client.mjs") {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection({ path: socketPath });
      sock.once("error", reject);
      sock.once("connect", async () => {
        const agent = new Agent(sock);
        try {
          agent.hello = await agent.call({ op: "hello", v: 1, client: name });
          resolve(agent);
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  constructor(sock) {
    this.sock = sock;
    this.nextId = 0;
    this.pending = new Map();
    this.onEvent = () => {};
    let buf = "";
    sock.setEncoding("utf8");
    sock.on("data", (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if ("event" in msg) {
          this.onEvent(msg);
        } else if (this.pending.has(msg.id)) {
          const { resolve, reject } = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) reject(Object.assign(new Error(`${msg.error.kind}: ${msg.error.message}`), { kind: msg.error.kind }));
          else resolve(msg.result);
        }
      }
    });
    sock.on("close", () => {
      for (const { reject } of this.pending.values()) reject(new Error("the agent closed the connection"));
      this.pending.clear();
    });
  }

  call(request) {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.sock.write(JSON.stringify({ ...request, id }) + "\n");
    });
  }

  // parentWindow: your window's X11 id or HWND (a string: 64-bit handles do not fit a JS
  // number); a sign-in window opens in front of it. Wayland: XDG_ACTIVATION_TOKEN is passed on.
  token(minValid = 0, parentWindow = null) {
    const request = { op: "token", min_valid: minValid };
    if (parentWindow !== null) request.parent_window = String(parentWindow);
    if (process.env.XDG_ACTIVATION_TOKEN) {
      request.activation_token = process.env.XDG_ACTIVATION_TOKEN;
    }
    return this.call(request);
  }

  // Signs the Finesse agent in (desktop_sign_in); resolves to the User after the change.
  async signIn(extension) {
    return (await this.call({ op: "desktop_sign_in", extension })).user;
  }

  close() {
    this.sock.end();
  }
}

async function main(argv) {
  const i = argv.indexOf("--min-valid");
  const minValid = i >= 0 ? Number(argv[i + 1]) : 0;
  const s = argv.indexOf("--sign-in");
  const extension = s >= 0 ? argv[s + 1] : null;
  const drop = new Set([i, s].filter((k) => k >= 0).flatMap((k) => [k, k + 1]));
  const rest = argv.filter((_, j) => !drop.has(j));
  const socketPath = rest[0] || defaultSocket();
  try {
    const agent = await Agent.connect(socketPath);
    if (extension !== null) {
      process.stdout.write(JSON.stringify(await agent.signIn(extension)) + "\n");
    } else {
      const t = await agent.token(minValid);
      process.stdout.write(t.token + "\n");
    }
    agent.close();
    return 0;
  } catch (e) {
    process.stderr.write(`client.mjs: ${socketPath}: ${e.message}\n`);
    return e.kind ? 2 : 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
