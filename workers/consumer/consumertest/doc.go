// Package consumertest tests the SQS worker runtime (workers/consumer)
// against any SQS, the way go-cloud's drivertest tests a driver:
//
//   - Fake, an in-memory SQS with the semantics the runtime relies on, that
//     can be told to fail calls or single batch entries;
//   - Recorder, which wraps any SQS client and records the calls the
//     runtime makes through it;
//   - RunConformance, the suite of what the runtime promises on any SQS,
//     run over a Harness: the consumer's tests run it on the Fake and on
//     the local emulator (fauxqs), so the Fake cannot drift from the real
//     protocol unnoticed, and each behaviour is written once.
//
// The suite checks, one subtest each: a handler's output is forwarded to
// the next queue with the incoming and the handler's attributes and the
// trace id, and only then is the message deleted (Drop and a body of the
// handler's own included, batches of at most ten, every message in the
// metrics and the logs); the last stage only deletes; a failing message
// is retried with backoff doubling per receive, which SQS really holds
// it for, until SQS moves it to the DLQ after maxReceiveCount receives; a
// permanent failure goes to the DLQ at once, saying why, or, with no DLQ,
// is retried; a panicking handler is a failure, not a crash; the
// heartbeat keeps a slow message from every other receiver and stops
// once the message is deleted; an SQS outage makes receives back off, is
// logged once and its end once, and messages flow again after it.
//
// What only one side can show stays in that side's tests: failures of
// single entries and messages deleted behind the runtime's back (only the
// Fake makes them), and receives cut off by a shutdown under load (only
// the real protocol has them).
//
// Start, StageConfig, Send, Collect, ReceiveAll and CallIndex are the
// suite's tools, exported for those tests.
package consumertest
