// Starts one of the local AWS emulators linecook runs against, bound to
// 127.0.0.1: fauxqs (SQS, SNS) or dynalite (DynamoDB).
//
// Usage: node start.mjs --service sqs|dynamodb [--port N] [--data-dir DIR]
//
// Each service runs in a process of its own: Node serves one request at a
// time per process, so the two emulators get a core each, and SQS can be
// stopped and started again (the reliability tests do) while DynamoDB,
// which keeps its data in memory, runs on. Port 0 (the default) picks a
// free port. --data-dir turns on fauxqs's SQLite persistence so queues and
// messages survive a restart. Once listening it writes one JSON line to
// stdout: {"sqs":"http://127.0.0.1:P"} or {"dynamodb":"http://127.0.0.1:P"}.
//
// The process exits on SIGTERM/SIGINT and when its stdin closes, so a parent
// that dies (even by SIGKILL) never leaves an emulator behind.
import http from "node:http";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    service: { type: "string" },
    port: { type: "string", default: "0" },
    "data-dir": { type: "string" },
  },
});
if (values.service !== "sqs" && values.service !== "dynamodb") {
  process.stderr.write(`start.mjs: --service must be sqs or dynamodb, not ${values.service}\n`);
  process.exit(2);
}

// fauxqs's startFauxqs listens on 0.0.0.0 whatever it is told. Its library
// entry is still the right one (persistence, no logger), so pin every server
// this process opens to loopback instead of exposing queues to the network.
const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (...args) {
  if (args[0] && typeof args[0] === "object" && !Array.isArray(args[0])) {
    args[0] = { ...args[0], host: "127.0.0.1" };
  }
  return listen.apply(this, args);
};

let stopServer;
if (values.service === "sqs") {
  const { startFauxqs } = await import("fauxqs");

  // fauxqs 2.4.1 with --data-dir loses a message made visible again with
  // ChangeMessageVisibility 0: its persistence writes NULL into the NOT NULL
  // receive count, and the throw comes after the message has left the
  // in-flight set and before it rejoins the queue. Keep the receive count
  // (SQS does) and clear only the in-flight columns. The module is not in
  // fauxqs's exports, so reach it next to the entry point: the same URL, so
  // the same module instance fauxqs itself uses.
  const { PersistenceManager } = await import(new URL("./persistence.js", import.meta.resolve("fauxqs")));
  PersistenceManager.prototype.updateMessageReady = function (messageId) {
    this.linecookReady ??= this.db.prepare(
      "UPDATE sqs_messages SET receipt_handle = NULL, visibility_deadline = NULL WHERE message_id = ?",
    );
    this.linecookReady.run(messageId);
  };

  const sqs = await startFauxqs({ port: Number(values.port), logger: false, dataDir: values["data-dir"] });
  stopServer = () => sqs.stop();
  process.stdout.write(JSON.stringify({ sqs: `http://127.0.0.1:${sqs.port}` }) + "\n");
} else {
  const require = createRequire(import.meta.url);
  // dynalite 4.0.0's request handler rethrows its request's errors
  // (`req.on('error', err => { throw err })`), so a client that hangs up
  // before its body has arrived (an SDK call hitting its deadline while
  // dynalite is busy) killed the whole emulator, and every later call was
  // refused. Nothing was stored for such a request: its body never
  // arrived. Survive exactly that error; any other still ends the process.
  process.on("uncaughtException", (err) => {
    if (err && err.code === "ECONNRESET" && err.message === "aborted") {
      return;
    }
    process.stderr.write(`dynalite: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  });
  const dynalite = require("dynalite");
  const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise((resolve, reject) => {
    dynamo.once("error", reject);
    dynamo.listen({ port: Number(values.port), host: "127.0.0.1" }, resolve);
  });
  stopServer = () => new Promise((r) => dynamo.close(r));
  process.stdout.write(JSON.stringify({ dynamodb: `http://127.0.0.1:${dynamo.address().port}` }) + "\n");
}

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await Promise.allSettled([stopServer()]);
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
