package local

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Task is one OS process `linecook local` runs, the local stand-in for an
// ECS task: the API, or one worker of a stage.
type Task struct {
	// Name is unique within a run: "api", "payment-1", "payment-2", …
	Name  string
	Stage string

	cmd      *exec.Cmd
	started  time.Time
	done     chan struct{}
	exitErr  error
	stopping bool
}

// Done is closed when the process has exited.
func (t *Task) Done() <-chan struct{} { return t.done }

// Err is the process's exit error, once Done is closed.
func (t *Task) Err() error { return t.exitErr }

// Pid is the process id.
func (t *Task) Pid() int { return t.cmd.Process.Pid }

// Supervisor starts and stops tasks. Each task's stdout and stderr go to a
// log file in LogDir; lines that are CloudWatch Embedded Metric Format
// records also go to Metrics, exactly as the awslogs driver would hand them
// to CloudWatch.
type Supervisor struct {
	// Command is the program and leading arguments that start a task, e.g.
	// the linecook executable and "task"; a task's own arguments follow.
	Command []string
	// Env is the environment every task gets (emulator endpoints, region).
	Env []string
	// LogDir receives one <task>.log per task.
	LogDir string
	// Metrics receives every EMF line a task prints; may be nil.
	Metrics func(stage string, line []byte)
	// OnExit, if set, is called when a task exits; stopped tells whether
	// Stop or Kill asked it to. The runner replaces crashed workers, as
	// an ECS service replaces failed tasks.
	OnExit func(t *Task, stopped bool)

	mu    sync.Mutex
	tasks map[string]*Task
	wg    sync.WaitGroup
}

// Start starts a task with extra environment on top of Env.
func (s *Supervisor) Start(name, stage string, args []string, env map[string]string) (*Task, error) {
	if len(s.Command) == 0 {
		return nil, errors.New("local: supervisor has no command to start tasks with")
	}
	logFile, err := os.Create(filepath.Join(s.LogDir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("local: log for %s: %w", name, err)
	}
	cmd := exec.Command(s.Command[0], append(append([]string(nil), s.Command[1:]...), args...)...)
	cmd.Env = append(append(os.Environ(), s.Env...), envList(env)...)
	cmd.Stderr = logFile
	// Own process group, so a terminal's Ctrl-C reaches only linecook,
	// which then stops tasks in order; Pdeathsig so that no task outlives
	// linecook if linecook itself is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("local: start %s: %w", name, err)
	}
	t := &Task{Name: name, Stage: stage, cmd: cmd, started: time.Now(), done: make(chan struct{})}
	s.mu.Lock()
	if s.tasks == nil {
		s.tasks = map[string]*Task{}
	}
	s.tasks[name] = t
	s.mu.Unlock()

	copied := make(chan struct{})
	go func() {
		defer close(copied)
		s.pump(stage, stdout, logFile)
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-copied // Wait closes stdout; read it all first
		t.exitErr = cmd.Wait()
		logFile.Close()
		s.mu.Lock()
		delete(s.tasks, name)
		stopped := t.stopping
		s.mu.Unlock()
		close(t.done)
		if s.OnExit != nil {
			s.OnExit(t, stopped)
		}
	}()
	return t, nil
}

// pump copies a task's stdout to its log, handing EMF lines to Metrics.
func (s *Supervisor) pump(stage string, r io.Reader, log io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		if s.Metrics != nil && isEMF(line) {
			s.Metrics(stage, line)
		}
		_, _ = log.Write(line)
		_, _ = log.Write([]byte{'\n'})
	}
}

// Stop sends SIGTERM, as ECS does on scale-in or deployment, and SIGKILL
// if the task has not exited after grace (ECS's stopTimeout). It returns
// once the task has exited.
func (s *Supervisor) Stop(t *Task, grace time.Duration) {
	s.Terminate(t, grace)
	<-t.done
}

// Terminate is Stop without the wait: the task leaves Tasks at once and
// gets its SIGTERM now, and its SIGKILL later if it needs one.
func (s *Supervisor) Terminate(t *Task, grace time.Duration) {
	s.mu.Lock()
	t.stopping = true
	s.mu.Unlock()
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	go func() {
		select {
		case <-t.done:
		case <-time.After(grace):
			_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
		}
	}()
}

// Kill sends SIGKILL at once: a crash, not a scale-in.
func (s *Supervisor) Kill(t *Task) {
	s.mu.Lock()
	t.stopping = true
	s.mu.Unlock()
	_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
	<-t.done
}

// StopAll stops every task in parallel and waits for all of them.
func (s *Supervisor) StopAll(grace time.Duration) {
	s.mu.Lock()
	tasks := make([]*Task, 0, len(s.tasks))
	for _, t := range s.tasks {
		tasks = append(tasks, t)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Stop(t, grace)
		}()
	}
	wg.Wait()
	s.wg.Wait()
}

// Tasks returns the running tasks of a stage ("" for all), oldest first.
func (s *Supervisor) Tasks(stage string) []*Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Task
	for _, t := range s.tasks {
		if (stage == "" || t.Stage == stage) && !t.stopping {
			out = append(out, t)
		}
	}
	sortTasks(out)
	return out
}

func sortTasks(ts []*Task) {
	slices.SortFunc(ts, func(a, b *Task) int { return a.started.Compare(b.started) })
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// isEMF reports whether a log line is a CloudWatch Embedded Metric Format
// record: a JSON object with an "_aws" metadata member.
func isEMF(line []byte) bool {
	return len(line) > 0 && line[0] == '{' && bytes.Contains(line, []byte(`"_aws"`))
}
