package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// digestFile is one result of the digest kind.
type digestFile struct {
	path   string
	size   int
	sha256 string
}

// writeFiles fills a new directory with count small files and returns it
// with the results the digest kind must produce for it, in order.
func writeFiles(t *testing.T, count int) (string, []digestFile) {
	t.Helper()
	root := t.TempDir()
	var want []digestFile
	for i := range count {
		name := fmt.Sprintf("f%03d.txt", i)
		content := []byte(strings.Repeat("x", i))
		if err := os.WriteFile(filepath.Join(root, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(content)
		want = append(want, digestFile{name, len(content), hex.EncodeToString(sum[:])})
	}
	return root, want
}

func execDigest(t *testing.T, ctx context.Context, client conductorv1.ConductorServiceClient) uint64 {
	t.Helper()
	input, err := structpb.NewValue(map[string]any{"path": "."})
	if err != nil {
		t.Fatal(err)
	}
	ticket, err := Exec(ctx, client, "digest", JSONPayload(input))
	if err != nil {
		t.Fatal(err)
	}
	return ticket
}

// collector gathers results and stops at the first one out of sequence.
type collector struct {
	t     *testing.T
	files []digestFile
}

func (c *collector) handle(result *conductorv1.Result) error {
	if want := uint64(len(c.files) + 1); result.GetSequence() != want {
		return fmt.Errorf("got sequence %d, want %d", result.GetSequence(), want)
	}
	fields := result.GetPayload().GetJson().GetStructValue().GetFields()
	c.files = append(c.files, digestFile{
		path:   fields["path"].GetStringValue(),
		size:   int(fields["size"].GetNumberValue()),
		sha256: fields["sha256"].GetStringValue(),
	})
	return nil
}

func (c *collector) check(want []digestFile) {
	c.t.Helper()
	if len(c.files) != len(want) {
		c.t.Fatalf("got %d results, want %d", len(c.files), len(want))
	}
	for i := range want {
		if c.files[i] != want[i] {
			c.t.Errorf("result %d = %+v, want %+v", i+1, c.files[i], want[i])
		}
	}
}

func TestFollowReceivesEveryResult(t *testing.T) {
	root, want := writeFiles(t, 20)
	server := conductortest.Start(t, conductortest.Options{DigestRoot: root})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	client := conductorv1.NewConductorServiceClient(server.Conn)

	ticket := execDigest(t, ctx, client)
	got := &collector{t: t}
	if err := Follow(ctx, client, ticket, got.handle); err != nil {
		t.Fatalf("Follow: %v", err)
	}
	got.check(want)
}

func TestFollowResumesAfterBrokenStream(t *testing.T) {
	// Subscribe packs at most 256 results, about 30 kB here, into one
	// message, so a connection that breaks after 40 kB has carried at least
	// one whole message, and 700 results need at least two connections.
	root, want := writeFiles(t, 700)
	server := conductortest.Start(t, conductortest.Options{DigestRoot: root})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ticket := execDigest(t, ctx, conductorv1.NewConductorServiceClient(server.Conn))
	proxy := conductortest.StartProxy(t, server.Addr, 40_000)
	conn, err := grpc.NewClient(proxy.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	got := &collector{t: t}
	if err := Follow(ctx, conductorv1.NewConductorServiceClient(conn), ticket, got.handle); err != nil {
		t.Fatalf("Follow: %v", err)
	}
	got.check(want)
	if accepted := proxy.Accepted(); accepted < 2 {
		t.Errorf("proxy accepted %d connections, want at least 2", accepted)
	}
}

func TestFollowReturnsNotFoundForUnknownTicket(t *testing.T) {
	server := conductortest.Start(t, conductortest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	client := conductorv1.NewConductorServiceClient(server.Conn)

	err := Follow(ctx, client, 12345, func(*conductorv1.Result) error { return nil })
	if code := status.Code(err); code != codes.NotFound {
		t.Fatalf("Follow error = %v, want NOT_FOUND", err)
	}
}

func TestFollowReturnsJobError(t *testing.T) {
	server := conductortest.Start(t, conductortest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	client := conductorv1.NewConductorServiceClient(server.Conn)

	input, _ := structpb.NewValue(map[string]any{"path": "missing"})
	ticket, err := Exec(ctx, client, "digest", JSONPayload(input))
	if err != nil {
		t.Fatal(err)
	}
	err = Follow(ctx, client, ticket, func(*conductorv1.Result) error { return nil })
	if code := status.Code(err); code != codes.NotFound {
		t.Fatalf("Follow error = %v, want the job's NOT_FOUND", err)
	}
}

func TestPullAllEndsAtOutOfRange(t *testing.T) {
	root, want := writeFiles(t, 12)
	server := conductortest.Start(t, conductortest.Options{DigestRoot: root, MaxData: 4})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	client := conductorv1.NewConductorServiceClient(server.Conn)

	ticket := execDigest(t, ctx, client)
	got := &collector{t: t}
	if err := PullAll(ctx, client, ticket, got.handle); err != nil {
		t.Fatalf("PullAll: %v", err)
	}
	got.check(want)
}

func TestCommandPrintsOneLinePerResult(t *testing.T) {
	root, want := writeFiles(t, 3)
	server := conductortest.Start(t, conductortest.Options{DigestRoot: root})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	var out bytes.Buffer
	cmd := command{addr: server.Addr, kind: "digest", input: `{"path": "."}`}
	if err := cmd.run(ctx, &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, line := range lines {
		if !strings.Contains(line, want[i].sha256) {
			t.Errorf("line %d = %s, want sha256 %s", i+1, line, want[i].sha256)
		}
	}
}

func TestCommandDetachPrintsTicketThatFollows(t *testing.T) {
	root, want := writeFiles(t, 2)
	server := conductortest.Start(t, conductortest.Options{DigestRoot: root})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	var out bytes.Buffer
	detached := command{addr: server.Addr, kind: "digest", input: "{}", detach: true}
	if err := detached.run(ctx, &out); err != nil {
		t.Fatalf("run -detach: %v", err)
	}
	ticket, err := strconv.ParseUint(strings.TrimSpace(out.String()), 10, 64)
	if err != nil {
		t.Fatalf("-detach printed %q, want a ticket", out.String())
	}
	out.Reset()
	if err := (command{addr: server.Addr, ticket: ticket}).run(ctx, &out); err != nil {
		t.Fatalf("run -ticket: %v", err)
	}
	if lines := strings.Count(out.String(), "\n"); lines != len(want) {
		t.Errorf("got %d lines, want %d", lines, len(want))
	}
}
