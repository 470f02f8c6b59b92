package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	conductorv1 "conductor/clients/go/gen/conductor/v1"
)

const (
	// callTimeout is the deadline of Finish and of registration.
	callTimeout = 10 * time.Second
	// pushTimeout is the deadline of one Push. Push waits while the
	// ticket's buffer is full, so a consumer that reads nothing for this
	// long makes the job fail.
	pushTimeout = time.Minute
	// minReconnectDelay and maxReconnectDelay bound the wait before Serve
	// connects again.
	minReconnectDelay = 100 * time.Millisecond
	maxReconnectDelay = 10 * time.Second
)

// Work does one job: it reads input and stores results with push, in
// order. ctx ends when the job is revoked or the runner stops. A returned
// status error (status.Error) ends the job with that code and message,
// and any other error ends it with UNKNOWN.
type Work func(ctx context.Context, input *conductorv1.Payload, push func(...*conductorv1.Payload) error) error

// Runner connects to a conductor server and does the jobs of one kind.
type Runner struct {
	Conductor   conductorv1.ConductorServiceClient
	Runners     conductorv1.RunnerServiceClient
	Kind        string
	Name        string
	Concurrency uint32
	Work        Work
	Logger      *slog.Logger
}

// Serve runs the runner until ctx ends, and connects again with backoff
// whenever the stream breaks or cannot be opened. It returns nil after a
// drain, or the error of a registration the server rejected.
func (r *Runner) Serve(ctx context.Context) error {
	delay := minReconnectDelay
	for {
		registered, err := r.run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if code := status.Code(err); code == codes.InvalidArgument || code == codes.Unimplemented {
			return err
		}
		if registered {
			delay = minReconnectDelay
		}
		r.logger().Warn("runner stream broke; connecting again", "error", err, "delay", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, maxReconnectDelay)
	}
}

// Run registers the runner and does the jobs assigned to it. When ctx
// ends it sends Drain, lets the running jobs finish, closes the stream
// and returns nil. It returns an error when the stream breaks, and the
// server then fails or retries the jobs the runner held.
func (r *Runner) Run(ctx context.Context) error {
	_, err := r.run(ctx)
	return err
}

// run is Run that also reports whether the server registered the runner.
func (r *Runner) run(ctx context.Context) (bool, error) {
	// The stream outlives ctx so that running jobs can finish after a Drain.
	streamCtx, cancelStream := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStream()
	stream, err := r.Runners.Connect(streamCtx)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	s := &session{runner: r, stream: stream, ctx: streamCtx, jobs: map[uint64]*job{}}
	s.idle = sync.NewCond(&s.mu)
	registered, err := s.register()
	if err != nil {
		return false, err
	}
	r.logger().Info("runner registered", "runner_id", registered.GetRunnerId(), "kind", r.Kind)
	go s.heartbeat(registered.GetHeartbeatInterval().AsDuration())
	go func() {
		select {
		case <-ctx.Done():
			s.drain()
			// The server ends the stream once it sees the half-close.
			select {
			case <-time.After(callTimeout):
				cancelStream()
			case <-streamCtx.Done():
			}
		case <-streamCtx.Done():
		}
	}()
	err = s.receive()
	cancelStream()
	s.wait()
	if ctx.Err() != nil {
		return true, nil
	}
	if err == nil {
		err = errors.New("the server ended the stream")
	}
	return true, err
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// session is one Connect stream and the jobs assigned on it.
type session struct {
	runner *Runner
	stream conductorv1.RunnerService_ConnectClient
	ctx    context.Context

	sendMu sync.Mutex // gRPC allows one sender at a time per stream

	mu   sync.Mutex
	jobs map[uint64]*job
	idle *sync.Cond // signalled when jobs becomes empty
}

// job is an assigned job and the way to stop it.
type job struct {
	lease   string
	cancel  context.CancelFunc
	revoked bool
}

func (s *session) send(request *conductorv1.ConnectRequest) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.stream.Send(request)
}

func (s *session) register() (*conductorv1.Registered, error) {
	err := s.send(&conductorv1.ConnectRequest{Message: &conductorv1.ConnectRequest_Register{
		Register: &conductorv1.Register{
			Kinds:       []string{s.runner.Kind},
			Concurrency: max(s.runner.Concurrency, 1),
			Name:        s.runner.Name,
		},
	}})
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	reply, err := s.stream.Recv()
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	registered := reply.GetRegistered()
	if registered == nil {
		return nil, fmt.Errorf("register: expected Registered, got %T", reply.GetMessage())
	}
	return registered, nil
}

// heartbeat sends a Heartbeat every interval until the stream ends. The
// server drops a runner that stays silent for three intervals.
func (s *session) heartbeat(interval time.Duration) {
	if interval <= 0 {
		return
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-ticker.C:
			heartbeat := &conductorv1.ConnectRequest_Heartbeat{Heartbeat: &conductorv1.Heartbeat{}}
			if err := s.send(&conductorv1.ConnectRequest{Message: heartbeat}); err != nil {
				return
			}
		}
	}
}

// drain asks the server for no more jobs and waits for the running ones.
func (s *session) drain() {
	drain := &conductorv1.ConnectRequest_Drain{Drain: &conductorv1.Drain{}}
	if err := s.send(&conductorv1.ConnectRequest{Message: drain}); err != nil {
		return
	}
	s.wait()
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	_ = s.stream.CloseSend()
}

// receive handles assignments and revocations until the stream ends.
func (s *session) receive() error {
	for {
		reply, err := s.stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch message := reply.GetMessage().(type) {
		case *conductorv1.ConnectResponse_Assignment:
			s.start(message.Assignment)
		case *conductorv1.ConnectResponse_Revocation:
			s.revoke(message.Revocation)
		}
	}
}

func (s *session) start(assignment *conductorv1.Assignment) {
	ctx, cancel := context.WithCancel(s.ctx)
	s.mu.Lock()
	s.jobs[assignment.GetTicket()] = &job{lease: assignment.GetLease(), cancel: cancel}
	s.mu.Unlock()
	go func() {
		defer s.done(assignment.GetTicket(), cancel)
		s.run(ctx, assignment)
	}()
}

func (s *session) revoke(revocation *conductorv1.Revocation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if job := s.jobs[revocation.GetTicket()]; job != nil && job.lease == revocation.GetLease() {
		job.revoked = true
		job.cancel()
	}
}

func (s *session) done(ticket uint64, cancel context.CancelFunc) {
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.jobs, ticket)
	if len(s.jobs) == 0 {
		s.idle.Broadcast()
	}
}

// wait returns once no job is running.
func (s *session) wait() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.jobs) > 0 {
		s.idle.Wait()
	}
}

// run does one job and finishes it. A revoked job is finished too, once
// its work stopped: the server rejects that Finish, as the job is closed,
// but it frees the job's slot there.
func (s *session) run(ctx context.Context, assignment *conductorv1.Assignment) {
	ticket, lease := assignment.GetTicket(), assignment.GetLease()
	push := func(results ...*conductorv1.Payload) error {
		pushCtx, cancel := context.WithTimeout(ctx, pushTimeout)
		defer cancel()
		_, err := s.runner.Conductor.Push(pushCtx, &conductorv1.PushRequest{Ticket: ticket, Lease: lease, Results: results})
		return err
	}
	workErr := s.runner.Work(ctx, assignment.GetInput(), push)

	s.mu.Lock()
	revoked := s.jobs[ticket].revoked
	s.mu.Unlock()
	request := &conductorv1.FinishRequest{Ticket: ticket, Lease: lease, Error: jobError(workErr)}
	if revoked {
		s.runner.logger().Info("job revoked", "ticket", ticket)
		request.Error = nil
	}
	finishCtx, cancel := context.WithTimeout(s.ctx, callTimeout)
	defer cancel()
	if _, err := s.runner.Runners.Finish(finishCtx, request); err != nil {
		// A revoked job, or one cancelled before its Revocation arrived, is
		// closed already: its Finish is rejected but frees its slot.
		if revoked || status.Code(err) == codes.FailedPrecondition {
			s.runner.logger().Info("job closed before it finished", "ticket", ticket, "error", err)
		} else {
			s.runner.logger().Error("finish failed", "ticket", ticket, "error", err)
		}
	}
}

// jobError turns the error of a Work into the JobError sent with Finish.
func jobError(err error) *conductorv1.JobError {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		return &conductorv1.JobError{Code: int32(st.Code()), Message: st.Message()}
	}
	return &conductorv1.JobError{Code: int32(codes.Unknown), Message: err.Error()}
}
