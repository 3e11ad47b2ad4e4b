package harness

import (
	"net"
	"strconv"
	"sync"
	"time"
)

// Proxy is a fault-injecting TCP proxy on 127.0.0.1 in front of one server.
// drc is pointed at the proxy instead of the server, and the test then
// cuts its connections, or slows the server-to-client direction so that a
// stream pauses in the middle of what it sends (inside a binlog
// transaction, for instance). Without faults it forwards bytes unchanged.
type Proxy struct {
	Host string
	Port int

	target string
	ln     net.Listener

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	delay time.Duration // before forwarding each server-to-client read
	wg    sync.WaitGroup
}

// StartProxy starts a proxy to target (host:port). The test's cleanup stops
// it and closes every connection through it.
func StartProxy(t TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("harness: proxy to %s: %v", target, err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	p := &Proxy{Host: "127.0.0.1", Port: addr.Port, target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// SetDelay makes the proxy wait d before forwarding each chunk the server
// sends (0: no delay). Each chunk is what one read returned, so a large
// response pauses several times in its middle.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Cut closes every open connection through the proxy, as a network fault
// would; new connections are accepted as before. It returns how many it cut.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
		n++
	}
	return n / 2
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			client.Close() // the server is down: so is the proxy's answer
			continue
		}
		p.mu.Lock()
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(server, client, false)
		go p.pipe(client, server, true)
	}
}

// pipe copies src to dst until either side closes, then closes both.
func (p *Proxy) pipe(dst, src net.Conn, fromServer bool) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, src)
		delete(p.conns, dst)
		p.mu.Unlock()
		src.Close()
		dst.Close()
	}()
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if fromServer {
				p.mu.Lock()
				d := p.delay
				p.mu.Unlock()
				if d > 0 {
					time.Sleep(d)
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF, or the connection was cut
		}
	}
}
