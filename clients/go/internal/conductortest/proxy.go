package conductortest

import (
	"io"
	"math"
	"net"
	"sync"
	"testing"
)

// Proxy forwards loopback TCP connections to a target address and breaks
// them as a network failure would: each one after it has passed a set
// number of bytes from the server, or all at once on Break. It keeps
// accepting new connections.
type Proxy struct {
	// Addr is the address clients dial instead of the target.
	Addr string

	target          string
	breakAfterBytes int64
	listener        net.Listener
	mu              sync.Mutex
	open            map[net.Conn]struct{}
	accepted        int
}

// StartProxy starts a proxy to target that breaks each connection after
// breakAfterBytes bytes from the server (never when 0). The proxy stops
// when the test ends.
func StartProxy(t testing.TB, target string, breakAfterBytes int64) *Proxy {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("start proxy: %v", err)
	}
	proxy := &Proxy{
		Addr:            listener.Addr().String(),
		target:          target,
		breakAfterBytes: breakAfterBytes,
		listener:        listener,
		open:            map[net.Conn]struct{}{},
	}
	if breakAfterBytes == 0 {
		proxy.breakAfterBytes = math.MaxInt64
	}
	go proxy.serve()
	t.Cleanup(func() {
		listener.Close()
		proxy.Break()
	})
	return proxy
}

// Break closes every open connection in both directions.
func (p *Proxy) Break() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for conn := range p.open {
		conn.Close()
	}
	clear(p.open)
}

// Accepted returns how many client connections the proxy has accepted.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

func (p *Proxy) serve() {
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.accepted++
		p.open[client] = struct{}{}
		p.open[server] = struct{}{}
		p.mu.Unlock()
		go p.pipe(server, client, math.MaxInt64)
		go p.pipe(client, server, p.breakAfterBytes)
	}
}

// pipe copies at most limit bytes from src to dst, then closes both.
func (p *Proxy) pipe(dst, src net.Conn, limit int64) {
	_, _ = io.Copy(dst, io.LimitReader(src, limit))
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, conn := range []net.Conn{dst, src} {
		conn.Close()
		delete(p.open, conn)
	}
}
