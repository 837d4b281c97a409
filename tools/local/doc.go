// Package local runs a whole linecook pipeline on one machine: the local
// emulators, each stage's queue and DLQ with the cloud settings, the order
// API and every stage's workers as separate OS processes with the
// environment their ECS task definitions set, local autoscaling driven by
// the same policy plans the stack deploys, and a live dashboard.
package local
