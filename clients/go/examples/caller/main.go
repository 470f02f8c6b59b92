// Command caller starts a conductor job and prints its results as they
// arrive, one JSON line per result:
//
//	go run ./examples/caller -addr 127.0.0.1:50051 -kind digest -input '{"path": "."}'
//
// With -detach it prints the new ticket and exits. With -ticket it follows
// a job that was started elsewhere.
//
// It follows the job with Subscribe and subscribes again after the last
// sequence it received when the stream breaks, so a network failure loses
// or repeats no result.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	conductorv1 "conductor/clients/go/gen/conductor/v1"
)

// callTimeout is the deadline of each unary call.
const callTimeout = 10 * time.Second

// maxRetries is how many times in a row Follow subscribes again without
// receiving a result before it gives up.
const maxRetries = 5

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "address of the conductor server")
	kind := flag.String("kind", "digest", "job kind to run")
	input := flag.String("input", "{}", "job input as JSON")
	ticket := flag.Uint64("ticket", 0, "follow this existing ticket instead of starting a job")
	detach := flag.Bool("detach", false, "print the new ticket and exit without following")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cmd := command{addr: *addr, kind: *kind, input: *input, ticket: *ticket, detach: *detach}
	if err := cmd.run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "caller:", err)
		os.Exit(1)
	}
}

// command is the parsed command line.
type command struct {
	addr, kind, input string
	ticket            uint64
	detach            bool
}

func (c command) run(ctx context.Context, out io.Writer) error {
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := conductorv1.NewConductorServiceClient(conn)

	ticket := c.ticket
	if ticket == 0 {
		value := &structpb.Value{}
		if err := protojson.Unmarshal([]byte(c.input), value); err != nil {
			return fmt.Errorf("invalid -input %q: %w", c.input, err)
		}
		if ticket, err = Exec(ctx, client, c.kind, JSONPayload(value)); err != nil {
			return err
		}
		if c.detach {
			_, err := fmt.Fprintln(out, ticket)
			return err
		}
		fmt.Fprintf(os.Stderr, "ticket %d\n", ticket)
	}
	return Follow(ctx, client, ticket, func(result *conductorv1.Result) error {
		line, err := protojson.Marshal(result)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", line)
		return err
	})
}

// JSONPayload wraps a JSON value as a job input or result.
func JSONPayload(value *structpb.Value) *conductorv1.Payload {
	return &conductorv1.Payload{Data: &conductorv1.Payload_Json{Json: value}}
}

// Exec starts a job of kind and returns its ticket.
func Exec(ctx context.Context, client conductorv1.ConductorServiceClient, kind string, input *conductorv1.Payload) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	reply, err := client.Exec(ctx, &conductorv1.ExecRequest{Kind: kind, Input: input})
	if err != nil {
		return 0, fmt.Errorf("exec %s: %w", kind, err)
	}
	return reply.GetTicket(), nil
}

// Follow passes the results of ticket to handle in sequence order until
// the job ends. When the stream breaks with UNAVAILABLE it subscribes
// again after the last sequence received, up to maxRetries times in a row
// without a new result.
//
// It returns nil when the job succeeded and every result was handled.
// Otherwise it returns the error of handle or the status that ended the
// stream: NOT_FOUND for an unknown or expired ticket, DATA_LOSS when the
// results to resume from are no longer retained, CANCELLED for a cancelled
// job, or the job's own error code and message.
//
// Subscribe has no deadline because a job may run for any length of time,
// so cancel ctx to stop following.
func Follow(ctx context.Context, client conductorv1.ConductorServiceClient, ticket uint64, handle func(*conductorv1.Result) error) error {
	request := &conductorv1.SubscribeRequest{Ticket: ticket}
	var last uint64
	failures := 0
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		received, err := subscribe(ctx, client, request, func(result *conductorv1.Result) error {
			// A result at or below the last one was handled before the break.
			if result.GetSequence() <= last {
				return nil
			}
			last = result.GetSequence()
			return handle(result)
		})
		if status.Code(err) != codes.Unavailable || ctx.Err() != nil {
			return err
		}
		if received {
			failures, delay = 0, 50*time.Millisecond
		}
		if failures++; failures > maxRetries {
			return fmt.Errorf("follow ticket %d: gave up after %d retries: %w", ticket, maxRetries, err)
		}
		// From now on every Subscribe resumes, even after sequence 0: results
		// sent on the broken stream were delivered and are only replayed.
		request = &conductorv1.SubscribeRequest{Ticket: ticket, AfterSequence: proto.Uint64(last)}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// subscribe runs one Subscribe call and reports whether it received any
// result. It returns nil when the stream ended with OK.
func subscribe(ctx context.Context, client conductorv1.ConductorServiceClient, request *conductorv1.SubscribeRequest, handle func(*conductorv1.Result) error) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.Subscribe(ctx, request)
	if err != nil {
		return false, err
	}
	received := false
	for {
		reply, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return received, nil
		}
		if err != nil {
			return received, err
		}
		for _, result := range reply.GetResults() {
			received = true
			if err := handle(result); err != nil {
				return received, err
			}
		}
	}
}

// pullWait is how long one Pull waits for a result while the job runs.
const pullWait = 5 * time.Second

// PullAll takes the results of ticket with Pull, up to 100 at a time, and
// passes them to handle until the job ends. Pull is the polling
// alternative to Follow: each call has its own deadline, and a lost
// response loses the results it carried. OUT_OF_RANGE means the job
// succeeded and every result was taken, so PullAll returns nil. Any other
// error, such as NOT_FOUND, CANCELLED or the job's own, is returned.
func PullAll(ctx context.Context, client conductorv1.ConductorServiceClient, ticket uint64, handle func(*conductorv1.Result) error) error {
	request := &conductorv1.PullRequest{Ticket: ticket, MaxResults: 100, Wait: durationpb.New(pullWait)}
	for {
		callCtx, cancel := context.WithTimeout(ctx, pullWait+callTimeout)
		reply, err := client.Pull(callCtx, request)
		cancel()
		if status.Code(err) == codes.OutOfRange {
			return nil
		}
		if err != nil {
			return err
		}
		for _, result := range reply.GetResults() {
			if err := handle(result); err != nil {
				return err
			}
		}
	}
}
