/**
 * The hosts easel listens on (EASEL_WEB_HOST, and SLACK_HOST in Slack's HTTP mode): each must
 * resolve and be an address of this machine, or `easel start` fails when it listens. Checked by
 * binding a listener on port 0 (any free port) and closing it, so a running easel on the
 * configured port does not make the check fail.
 */
import { lookup } from "node:dns/promises";
import { createServer } from "node:net";
import { type CheckResult, fail, ok } from "./types.js";

function codeOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code ?? (error instanceof Error ? error.message : String(error));
}

/** Listens on `host`, any port, then closes; rejects with the listen error. */
function bindOnce(host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host, port: 0, exclusive: true }, () => server.close(() => resolve()));
  });
}

/** Whether `setting=host` resolves and can be listened on here; `port` is only shown. */
export async function checkListenHost(setting: string, host: string, port: number): Promise<CheckResult> {
  const name = setting === "EASEL_WEB_HOST" ? "web-host" : "slack-host";
  let addresses: string[];
  try {
    addresses = (await lookup(host, { all: true })).map((entry) => entry.address);
  } catch (error) {
    return fail(
      name,
      `${setting}=${host} does not resolve to an address (${codeOf(error)}); easel start could not listen on it. Use an address of this machine, e.g. 127.0.0.1 or 0.0.0.0`,
    );
  }
  try {
    await bindOnce(host);
  } catch (error) {
    return fail(
      name,
      `${setting}=${host} (${addresses.join(", ")}) cannot be listened on here (${codeOf(error)}): it is not an address of this machine`,
    );
  }
  const shown = addresses.length === 1 && addresses[0] === host ? host : `${host} (${addresses.join(", ")})`;
  return ok(name, `${setting}=${shown} can be listened on; easel uses port ${port}`);
}
