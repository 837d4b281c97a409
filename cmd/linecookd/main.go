// Command linecookd is the one program of the linecook image:
//
//	linecookd api             serve the order API
//	linecookd worker <name>   run a stage's worker
//
// Everything is configured by LINECOOK_* environment variables (see
// pipeline/env.go) and the AWS SDK's own (AWS_REGION, AWS_ENDPOINT_URL_*).
// Logs are JSON lines on stdout; LINECOOK_LOG_LEVEL=debug shows more.
//
// Each command lives in its own file and registers itself in init, so a
// command is added without touching this one. Nothing here may import
// Pulumi: the image stays small and builds fast.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	// The binary brings what it would otherwise read from a base image's
	// files, so an image can be the binary alone (tools/image builds one
	// on no base): the AWS APIs are reached over TLS, and with no CA
	// roots on the system every call would fail; a zone name would not
	// load without the zone database. Each is used only when the system
	// has none of its own (/etc/ssl/certs, /usr/share/zoneinfo), so on a
	// distroless or full base nothing changes.
	_ "golang.org/x/crypto/x509roots/fallback" // Mozilla's CA roots, for crypto/x509
	_ "time/tzdata"                            // the IANA zone database, for time.LoadLocation

	"github.com/linecook/linecook/workers/logkey"
)

// command is one subcommand of linecookd.
type command struct {
	// name is the first argument that selects it.
	name string
	// usage is its synopsis, name included: "worker <name>".
	usage string
	// summary is one line on what it does.
	summary string
	// run runs it until ctx ends (SIGTERM or SIGINT), with the rest of
	// the arguments.
	run func(ctx context.Context, log *slog.Logger, args []string) error
}

var commands = map[string]command{}

// register adds a command; main's files call it from init.
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("linecookd: command " + c.name + " registered twice")
	}
	commands[c.name] = c
}

func names() []string {
	var n []string
	for name := range commands {
		n = append(n, name)
	}
	slices.Sort(n)
	return n
}

func usage() string {
	var b strings.Builder
	b.WriteString("usage: linecookd <command> [arguments]\n\ncommands:\n")
	for _, name := range names() {
		fmt.Fprintf(&b, "  %-16s %s\n", commands[name].usage, commands[name].summary)
	}
	b.WriteString("\nConfigured by LINECOOK_* and AWS_* environment variables.\n")
	return b.String()
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run is main with an exit code: 0 done, 1 failed, 2 misused.
func run(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, usage())
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "linecookd: unknown command %q (commands: %s)\n\n%s", args[0], strings.Join(names(), ", "), usage())
		return 2
	}
	log, err := logger()
	if err != nil {
		fmt.Fprintln(os.Stderr, "linecookd:", err)
		return 2
	}
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.run(ctx, log, args[1:]); err != nil {
		log.Error("linecookd "+c.name+" failed", logkey.Error, err.Error())
		return 1
	}
	return 0
}

// logger is a JSON logger on stdout at LINECOOK_LOG_LEVEL (default info).
func logger() (*slog.Logger, error) {
	var level slog.Level
	if v := os.Getenv("LINECOOK_LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return nil, fmt.Errorf("LINECOOK_LOG_LEVEL=%q: must be debug, info, warn or error", v)
		}
	}
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level})), nil
}
