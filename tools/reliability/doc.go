// Package reliability proves linecook's delivery promise under faults, at
// the level of OS processes: every order the API accepted (answered 2xx)
// completes exactly once in the order table, or sits in a DLQ, and nothing
// is lost however the parts fail.
//
// The package holds no code, only tests. Each test runs the whole burger
// pipeline with linecook local (the fauxqs and dynalite emulators, the
// order API and every stage's workers as separate linecookd processes with
// their ECS environment), sends orders through the API, injects one kind
// of fault, and then audits the ground truth: the order table, the DLQs
// and the workers' own logs.
//
//	TestKillDashNine        kill -9 a worker of every stage while 600 orders are in flight
//	TestKillDashNineAPI     kill -9 the API tasks, and crash them between an order's write and its send, under load
//	TestSIGTERMUnderLoad    SIGTERM (ECS scale-in) a busy worker: it drains before SIGKILL would come
//	TestSQSOutage           stop the SQS emulator mid-run and start it again
//	TestPoisonMessages      invalid, unknown, panicking and always-failing messages beside good ones
//	TestBadAPIInput         malformed requests against the real API process
//
// "Exactly once" is checked twice over. The table must show every order
// completed with every stage ended, and its completion time equal to its
// last stage's end (one write sets both). The workers' debug logs must show,
// for every stage and every order, at most one delivery that did the work
// to the end: every other delivery of the same order (an SQS redelivery
// after a crash, or a duplicate forwarded by a stage that crashed between
// forwarding and deleting) must have found the stage already ended, or lost
// the conditional write that ends it. Those are the redeliveries absorbed;
// each test logs how many.
//
// The tests take minutes, not seconds: go test -short skips them.
// RELIABILITY.md at the repository root states the promise and its limits
// and quotes the figures of a run.
package reliability
