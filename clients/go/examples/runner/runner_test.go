package main

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	conductorv1 "conductor/clients/go/gen/conductor/v1"
	"conductor/clients/go/internal/conductortest"
)

// testTimeout bounds each test, so a hung stream fails instead of blocking.
const testTimeout = time.Minute

// runningRunner is a Runner started by startRunner.
type runningRunner struct {
	stop context.CancelFunc
	done chan struct{} // closed when Run has returned err
	err  error
}

// wait returns what Run returned, once it has.
func (r *runningRunner) wait() error {
	<-r.done
	return r.err
}

// startRunner runs a Runner of kind with work until the test ends, and
// waits until the server lists it.
func startRunner(t *testing.T, conn *grpc.ClientConn, kind string, work Work) *runningRunner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	runner := &Runner{
		Conductor:   conductorv1.NewConductorServiceClient(conn),
		Runners:     conductorv1.NewRunnerServiceClient(conn),
		Kind:        kind,
		Name:        t.Name(),
		Concurrency: 2,
		Work:        work,
	}
	running := &runningRunner{stop: cancel, done: make(chan struct{})}
	go func() {
		running.err = runner.Run(ctx)
		close(running.done)
	}()
	t.Cleanup(func() {
		cancel()
		_ = running.wait()
	})
	conductortest.WaitForRunner(t, conn, kind)
	return running
}

func execJob(t *testing.T, ctx context.Context, client conductorv1.ConductorServiceClient, kind string, input map[string]any) uint64 {
	t.Helper()
	value, err := structpb.NewValue(input)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := client.Exec(ctx, &conductorv1.ExecRequest{
		Kind:  kind,
		Input: &conductorv1.Payload{Data: &conductorv1.Payload_Json{Json: value}},
	})
	if err != nil {
		t.Fatalf("Exec %s: %v", kind, err)
	}
	return reply.GetTicket()
}

// readAll subscribes to ticket and returns the JSON results and the
// status that ended the stream.
func readAll(t *testing.T, ctx context.Context, client conductorv1.ConductorServiceClient, ticket uint64) ([]map[string]any, error) {
	t.Helper()
	stream, err := client.Subscribe(ctx, &conductorv1.SubscribeRequest{Ticket: ticket})
	if err != nil {
		t.Fatal(err)
	}
	var results []map[string]any
	for {
		reply, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return results, nil
		}
		if err != nil {
			return results, err
		}
		for _, result := range reply.GetResults() {
			results = append(results, result.GetPayload().GetJson().GetStructValue().AsMap())
		}
	}
}

func TestRunnerCountsWords(t *testing.T) {
	server := conductortest.Start(t, conductortest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	startRunner(t, server.Conn, "wordcount", CountWords)
	client := conductorv1.NewConductorServiceClient(server.Conn)

	ticket := execJob(t, ctx, client, "wordcount", map[string]any{"text": "to be or not to be"})
	results, err := readAll(t, ctx, client, ticket)
	if err != nil {
		t.Fatalf("Subscribe ended with %v", err)
	}
	want := []map[string]any{
		{"word": "be", "count": 2.0},
		{"word": "not", "count": 1.0},
		{"word": "or", "count": 1.0},
		{"word": "to", "count": 2.0},
	}
	if len(results) != len(want) {
		t.Fatalf("results = %v, want %v", results, want)
	}
	for i := range want {
		if results[i]["word"] != want[i]["word"] || results[i]["count"] != want[i]["count"] {
			t.Errorf("result %d = %v, want %v", i+1, results[i], want[i])
		}
	}
}

func TestRunnerFailsJobWithWorkStatus(t *testing.T) {
	server := conductortest.Start(t, conductortest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	startRunner(t, server.Conn, "wordcount", CountWords)
	client := conductorv1.NewConductorServiceClient(server.Conn)

	ticket := execJob(t, ctx, client, "wordcount", map[string]any{"words": 3})
	_, err := readAll(t, ctx, client, ticket)
	if code := status.Code(err); code != codes.InvalidArgument {
		t.Fatalf("Subscribe ended with %v, want INVALID_ARGUMENT", err)
	}
	reply, err := client.GetStatus(ctx, &conductorv1.GetStatusRequest{Ticket: ticket})
	if err != nil {
		t.Fatal(err)
	}
	if state := reply.GetStatus().GetState(); state != conductorv1.JobState_JOB_STATE_FAILED {
		t.Errorf("state = %v, want FAILED", state)
	}
}

func TestRunnerStopsRevokedJob(t *testing.T) {
	server := conductortest.Start(t, conductortest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	started := make(chan struct{})
	stopped := make(chan error, 1)
	startRunner(t, server.Conn, "wait", func(jobCtx context.Context, _ *conductorv1.Payload, _ func(...*conductorv1.Payload) error) error {
		close(started)
		<-jobCtx.Done()
		stopped <- jobCtx.Err()
		return jobCtx.Err()
	})
	client := conductorv1.NewConductorServiceClient(server.Conn)

	ticket := execJob(t, ctx, client, "wait", map[string]any{})
	<-started
	if _, err := client.Cancel(ctx, &conductorv1.CancelRequest{Ticket: ticket}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("work context ended with %v, want context.Canceled", err)
		}
	case <-ctx.Done():
		t.Fatal("work was not stopped after Cancel")
	}
	if _, err := readAll(t, ctx, client, ticket); status.Code(err) != codes.Canceled {
		t.Errorf("Subscribe ended with %v, want CANCELLED", err)
	}
}

func TestRunnerDrainFinishesRunningJob(t *testing.T) {
	server := conductortest.Start(t, conductortest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	started := make(chan struct{})
	release := make(chan struct{})
	running := startRunner(t, server.Conn, "gated", func(_ context.Context, _ *conductorv1.Payload, push func(...*conductorv1.Payload) error) error {
		close(started)
		<-release
		return push(&conductorv1.Payload{Data: &conductorv1.Payload_Text{Text: "done"}})
	})
	client := conductorv1.NewConductorServiceClient(server.Conn)

	ticket := execJob(t, ctx, client, "gated", map[string]any{})
	<-started
	running.stop()
	conductortest.WaitForRunnerWhere(t, server.Conn, func(runner *conductorv1.RunnerInfo) bool {
		return runner.GetDraining()
	})
	select {
	case <-running.done:
		t.Fatalf("Run returned %v while a job was running", running.err)
	default:
	}
	close(release)
	if err := running.wait(); err != nil {
		t.Errorf("Run returned %v after draining", err)
	}
	stream, err := client.Subscribe(ctx, &conductorv1.SubscribeRequest{Ticket: ticket})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := stream.Recv()
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if text := reply.GetResults()[0].GetPayload().GetText(); text != "done" {
		t.Errorf("result = %q, want \"done\"", text)
	}
}

func TestServeReconnectsAfterBrokenStream(t *testing.T) {
	server := conductortest.Start(t, conductortest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	proxy := conductortest.StartProxy(t, server.Addr, 0)
	conn, err := grpc.NewClient(proxy.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	runner := &Runner{
		Conductor: conductorv1.NewConductorServiceClient(conn),
		Runners:   conductorv1.NewRunnerServiceClient(conn),
		Kind:      "wordcount",
		Work:      CountWords,
	}
	serveCtx, stopServe := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- runner.Serve(serveCtx) }()
	defer func() {
		stopServe()
		if err := <-served; err != nil {
			t.Errorf("Serve returned %v", err)
		}
	}()

	first := conductortest.WaitForRunner(t, server.Conn, "wordcount")
	proxy.Break()
	conductortest.WaitForRunnerWhere(t, server.Conn, func(info *conductorv1.RunnerInfo) bool {
		return info.GetRunnerId() != first.GetRunnerId()
	})
	client := conductorv1.NewConductorServiceClient(server.Conn)
	ticket := execJob(t, ctx, client, "wordcount", map[string]any{"text": "again"})
	results, err := readAll(t, ctx, client, ticket)
	if err != nil {
		t.Fatalf("Subscribe ended with %v", err)
	}
	if len(results) != 1 || results[0]["word"] != "again" {
		t.Errorf("results = %v, want one result for \"again\"", results)
	}
}
