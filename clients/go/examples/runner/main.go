// Command runner serves the "wordcount" job kind to a conductor server:
//
//	go run ./examples/runner -addr 127.0.0.1:50051
//
// A wordcount job takes JSON input {"text": "a b a"} and pushes one JSON
// result {"word": "a", "count": 2} per distinct word, sorted by word.
// Words are separated by white space and compared exactly.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	conductorv1 "conductor/clients/go/gen/conductor/v1"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "address of the conductor server")
	kind := flag.String("kind", "wordcount", "job kind to serve")
	name := flag.String("name", hostname(), "runner name shown in ListRunners")
	concurrency := flag.Uint("concurrency", 4, "jobs run at once")
	flag.Parse()

	// SIGINT or SIGTERM drains the runner: running jobs finish first.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(1)
	}
	defer conn.Close()
	runner := &Runner{
		Conductor:   conductorv1.NewConductorServiceClient(conn),
		Runners:     conductorv1.NewRunnerServiceClient(conn),
		Kind:        *kind,
		Name:        *name,
		Concurrency: uint32(*concurrency),
		Work:        CountWords,
	}
	if err := runner.Serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(1)
	}
}

// CountWords is the Work of the wordcount kind.
func CountWords(ctx context.Context, input *conductorv1.Payload, push func(...*conductorv1.Payload) error) error {
	text, ok := input.GetJson().GetStructValue().GetFields()["text"].GetKind().(*structpb.Value_StringValue)
	if !ok {
		return status.Error(codes.InvalidArgument, `input must be JSON such as {"text": "a b a"}`)
	}
	counts := map[string]int{}
	for _, word := range strings.Fields(text.StringValue) {
		counts[word]++
	}
	words := make([]string, 0, len(counts))
	for word := range counts {
		words = append(words, word)
	}
	slices.Sort(words)
	for _, word := range words {
		if err := ctx.Err(); err != nil {
			return err
		}
		result, err := structpb.NewValue(map[string]any{"word": word, "count": counts[word]})
		if err != nil {
			return err
		}
		if err := push(&conductorv1.Payload{Data: &conductorv1.Payload_Json{Json: result}}); err != nil {
			return err
		}
	}
	return nil
}

func hostname() string {
	name, err := os.Hostname()
	if err != nil {
		return "runner"
	}
	return name
}
