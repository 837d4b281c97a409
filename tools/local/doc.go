// Package local runs a whole linecook pipeline on one machine: the local
// emulators, each stage's queue and DLQ with the cloud settings, the order
// API and every stage's workers as separate OS processes with the
// environment their ECS task definitions set, local autoscaling driven by
// the same policy plans the stack deploys, and a live dashboard.
//
// Each worker gets ECS_AGENT_URI pointing at its own path on a local
// stand-in for the ECS agent's task scale-in protection endpoint, and the
// autoscaler's scale-in stops only workers that have not protected their
// task, waiting for the others, as ECS does.
package local
