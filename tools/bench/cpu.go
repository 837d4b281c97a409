package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// CPU is where the machine's processor time went during one measurement,
// each in percent of one core (200 is both cores of a 2-core machine
// busy). On a shared machine it tells a limit of the code from a limit of
// the emulators or of the neighbours.
type CPU struct {
	// Process is the process measured: the worker or the API (0 when it
	// runs in the benchmark itself).
	Process float64 `json:"process,omitempty"`
	// Bench is this process: the load generator, and the runtime itself
	// in the drain benchmark.
	Bench float64 `json:"bench"`
	// SQS and DynamoDB are the emulators (fauxqs, dynalite).
	SQS      float64 `json:"sqs"`
	DynamoDB float64 `json:"dynamodb"`
	// Machine is every core's busy time, all processes included; Others
	// is what none of the above used: other work on the machine.
	Machine float64 `json:"machine"`
	Others  float64 `json:"others"`
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// cpuMeter measures CPU use between two points in time.
type cpuMeter struct {
	pids  map[string][]int // role → pids
	start cpuSample
}

type cpuSample struct {
	at      time.Time
	ticks   map[string]float64 // role → utime+stime
	busy    float64            // machine busy ticks, all cores
	present bool
}

// meter starts measuring the emulators (children of this process), this
// process and the processes measured.
func meter(procs ...int) *cpuMeter {
	m := &cpuMeter{pids: map[string][]int{"bench": {os.Getpid()}, "process": procs}}
	for role, arg := range map[string]string{"sqs": "--service\x00sqs", "dynamodb": "--service\x00dynamodb"} {
		m.pids[role] = childrenWith(arg)
	}
	m.start = m.sample()
	return m
}

func (m *cpuMeter) sample() cpuSample {
	s := cpuSample{at: time.Now(), ticks: map[string]float64{}}
	for role, pids := range m.pids {
		for _, pid := range pids {
			if t, ok := processTicks(pid); ok {
				s.ticks[role] += t
			}
		}
	}
	s.busy, s.present = machineBusy()
	return s
}

// stop returns the CPU use since meter was called.
func (m *cpuMeter) stop() CPU {
	end := m.sample()
	secs := end.at.Sub(m.start.at).Seconds()
	if secs <= 0 {
		return CPU{}
	}
	pct := func(role string) float64 {
		a, okA := m.start.ticks[role]
		b, okB := end.ticks[role]
		if !okA || !okB {
			return 0
		}
		return 100 * (b - a) / clockTicks / secs
	}
	c := CPU{Process: pct("process"), Bench: pct("bench"), SQS: pct("sqs"), DynamoDB: pct("dynamodb")}
	if m.start.present && end.present {
		c.Machine = 100 * (end.busy - m.start.busy) / clockTicks / secs
		c.Others = max(0, c.Machine-c.Process-c.Bench-c.SQS-c.DynamoDB)
	}
	return c
}

func (c CPU) String() string {
	var b strings.Builder
	if c.Process > 0 {
		fmt.Fprintf(&b, "linecookd %.0f %%, ", c.Process)
	}
	fmt.Fprintf(&b, "bench %.0f %%, fauxqs %.0f %%, dynalite %.0f %%, other work %.0f %% (machine %.0f %% of %d %%)",
		c.Bench, c.SQS, c.DynamoDB, c.Others, c.Machine, 100*runtime.NumCPU())
	return b.String()
}

// processTicks is a process's user plus system time, in clock ticks.
func processTicks(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state(3) ppid(4) … utime(14) stime(15).
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	return u + s, err1 == nil && err2 == nil
}

// machineBusy is the ticks all cores spent not idle, from /proc/stat.
func machineBusy() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, false
	}
	var busy float64
	for i, v := range f[1:] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, false
		}
		// idle and iowait are the 4th and 5th; guest time is already
		// counted in user.
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += n
	}
	return busy, true
}

// childrenWith finds the child processes of this one whose command line
// contains arg (NUL-separated words): the emulators and the linecookd
// processes the benchmark started.
func childrenWith(arg string) []int {
	me := os.Getpid()
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if parent(pid) != me {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err == nil && bytes.Contains(cmd, []byte(arg)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func parent(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}
