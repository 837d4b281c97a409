// Starts the local AWS emulators linecook runs against: fauxqs (SQS, SNS)
// and dynalite (DynamoDB), both bound to 127.0.0.1.
//
// Usage: node start.mjs [--sqs-port N] [--dynamodb-port N] [--data-dir DIR]
//
// Port 0 (the default) picks a free port. --data-dir turns on fauxqs's SQLite
// persistence so queues and messages survive a restart (the reliability tests
// stop and start SQS mid-run). When both servers listen, one JSON line goes to
// stdout: {"sqs":"http://127.0.0.1:P","dynamodb":"http://127.0.0.1:Q"}.
//
// The process exits on SIGTERM/SIGINT and when its stdin closes, so a parent
// that dies (even by SIGKILL) never leaves an emulator behind.
import http from "node:http";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    "sqs-port": { type: "string", default: "0" },
    "dynamodb-port": { type: "string", default: "0" },
    "data-dir": { type: "string" },
  },
});

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
const require = createRequire(import.meta.url);
const dynalite = require("dynalite");

const sqs = await startFauxqs({
  port: Number(values["sqs-port"]),
  logger: false,
  dataDir: values["data-dir"],
});

const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
await new Promise((resolve, reject) => {
  dynamo.once("error", reject);
  dynamo.listen({ port: Number(values["dynamodb-port"]), host: "127.0.0.1" }, resolve);
});

process.stdout.write(
  JSON.stringify({
    sqs: `http://127.0.0.1:${sqs.port}`,
    dynamodb: `http://127.0.0.1:${dynamo.address().port}`,
  }) + "\n",
);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await Promise.allSettled([sqs.stop(), new Promise((r) => dynamo.close(r))]);
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
