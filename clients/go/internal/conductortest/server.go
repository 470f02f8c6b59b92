// Package conductortest starts a real conductor server for tests.
//
// The server is the file named by CONDUCTOR_SERVER_MAIN or else the
// repository's own build, dist/cli/main.js, which Start refreshes once per
// test binary with `npm run build`.
package conductortest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	conductorv1 "conductor/clients/go/gen/conductor/v1"
)

// startTimeout bounds the build, the start and the stop of a server.
const startTimeout = 3 * time.Minute

// Options are the serve flags of a test server.
type Options struct {
	// DigestRoot is the directory the digest kind reads, or a temporary
	// directory when empty.
	DigestRoot string
	// MaxData is the number of undelivered results held per ticket, or
	// the server's default when 0.
	MaxData int
	// TimeoutMS is the life of a finished ticket in milliseconds, or the
	// server's default when 0.
	TimeoutMS int
}

// Server is a running conductor server.
type Server struct {
	// Addr is the loopback host:port the server listens on.
	Addr string
	// Conn is a client connection to Addr, closed with the server.
	Conn *grpc.ClientConn
}

// Start starts a conductor server on a free loopback port and waits until
// its health check reports SERVING. The server and Conn are closed when
// the test ends, whether it passed or not.
func Start(t testing.TB, options Options) *Server {
	t.Helper()
	main := serverMain(t)
	if options.DigestRoot == "" {
		options.DigestRoot = t.TempDir()
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	args := []string{main, "serve", "--listen", addr, "--digest-root", options.DigestRoot}
	if options.MaxData > 0 {
		args = append(args, "--max-data", strconv.Itoa(options.MaxData))
	}
	if options.TimeoutMS > 0 {
		args = append(args, "--timeout-ms", strconv.Itoa(options.TimeoutMS))
	}

	cmd := exec.Command("node", args...)
	// The kernel kills the server if the test binary dies first, as it does
	// when go test's -timeout panics before any cleanup runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	output := &logBuffer{}
	cmd.Stdout = output
	cmd.Stderr = output
	if err := cmd.Start(); err != nil {
		t.Fatalf("start conductor server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stop(t, cmd, exited)
		if t.Failed() {
			t.Logf("conductor server output:\n%s", output)
		}
	})

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := waitServing(conn, exited); err != nil {
		t.Fatalf("conductor server on %s did not start: %v\n%s", addr, err, output.String())
	}
	return &Server{Addr: addr, Conn: conn}
}

// logBuffer collects the output of a server process. The process writes
// it from other goroutines, so every access takes the lock.
type logBuffer struct {
	mu     sync.Mutex
	buffer bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buffer.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buffer.String()
}

// waitServing polls the health service until it reports SERVING, the
// process exits or startTimeout passes.
func waitServing(conn *grpc.ClientConn, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	health := healthpb.NewHealthClient(conn)
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		callCtx, callCancel := context.WithTimeout(ctx, 5*time.Second)
		reply, err := health.Check(callCtx, &healthpb.HealthCheckRequest{})
		callCancel()
		if err == nil && reply.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("server exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// stop sends SIGTERM and kills the server if it has not exited in time.
func stop(t testing.TB, cmd *exec.Cmd, exited <-chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Logf("conductor server did not stop on SIGTERM; killing it")
		_ = cmd.Process.Kill()
		<-exited
	}
}

// freePort returns a loopback port that was free a moment ago. Another
// process may take it before the server binds it, which shows up as a
// start failure, not as a wrong server.
func freePort(t testing.TB) int {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port
}

var (
	buildOnce sync.Once
	buildErr  error
)

// serverMain returns the server's entry file, building it when needed.
func serverMain(t testing.TB) string {
	t.Helper()
	if main := os.Getenv("CONDUCTOR_SERVER_MAIN"); main != "" {
		return main
	}
	root := RepoRoot()
	main := filepath.Join(root, "dist", "cli", "main.js")
	buildOnce.Do(func() { buildErr = buildServer(root) })
	if buildErr != nil {
		t.Fatalf("build conductor server: %v", buildErr)
	}
	return main
}

// buildServer runs `npm run build`. A file lock keeps the test binaries of
// several packages from building at once.
func buildServer(root string) error {
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "conductor-build.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "run", "build")
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm run build: %v\n%s", err, output)
	}
	return nil
}

// RepoRoot returns the conductor repository that contains this module.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// WaitForRunner waits until a runner of kind is connected and returns
// its description.
func WaitForRunner(t testing.TB, conn *grpc.ClientConn, kind string) *conductorv1.RunnerInfo {
	t.Helper()
	return WaitForRunnerWhere(t, conn, func(runner *conductorv1.RunnerInfo) bool {
		return slices.Contains(runner.GetKinds(), kind)
	})
}

// WaitForRunnerWhere waits until ListRunners shows a runner for which
// match returns true, and returns it.
func WaitForRunnerWhere(t testing.TB, conn *grpc.ClientConn, match func(*conductorv1.RunnerInfo) bool) *conductorv1.RunnerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	runners := conductorv1.NewRunnerServiceClient(conn)
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, 500*time.Millisecond) {
		reply, err := runners.ListRunners(ctx, &conductorv1.ListRunnersRequest{})
		if err != nil {
			t.Fatalf("ListRunners: %v", err)
		}
		for _, runner := range reply.GetRunners() {
			if match(runner) {
				return runner
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no matching runner in %v: %v", reply.GetRunners(), ctx.Err())
		case <-time.After(delay):
		}
	}
}
